"""Loop twins of the engine: the same mathematics written without vectorization, to learn from.

Every function here computes exactly what a vectorized layer or cost of chainrule computes, in
one of two slower styles:

* ``*_loops``: pure Python, nested ``for`` loops over examples, neurons and inputs, on lists of
  floats. Every multiply-add is one trip through the Python interpreter (tens of nanoseconds).
* ``*_per_example``: NumPy vectors, but one example (one column of A) at a time. Each example's
  work runs in compiled code, yet the Python loop over the m examples remains, and every weight
  matrix is streamed from memory once per example instead of once per batch.

``chainrule.learn.lab`` (and ``chainrule bench``) times them against the batched matrix products
and checks that all three agree. docs/vectorization.md walks through what each step removes.

Submodules are imported on demand (``from chainrule.learn.loops import dense``); this package imports
none of them eagerly, so it costs nothing unless used.
"""
