"""The fast engine: networks it supports compiled into plans that own their buffers.

Everything in here computes exactly what the reference engine (:mod:`chainrule.nn`) computes,
and tests prove it. Read the reference layers to learn the math; read this package to learn how
the same math is made fast.
"""
