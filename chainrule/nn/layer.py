"""The layer contract every chainrule layer follows, and the tree walk built on it.

    A = layer.forward(A_prev)            # caches what backward needs
    dC_dA_prev = layer.backward(dC_dA)   # fills the parameter gradients, returns the propagator

Examples lie on the LAST axis (A_prev is (n[l-1], m) for dense layers, (C, H, W, m) for images).
Parameter gradients (``dC_dW``, ``dC_db``, ...) are stored next to the parameters and OVERWRITTEN
by every backward call, never accumulated. The 1/m of the mean cost lives in exactly one place: the
cost's gradient dC/dA[L] (or the fused dC/dZ[L]); layers never divide by m.

A layer may hold child layers (:meth:`Layer.named_children`): ``Sequential`` holds a list,
``Residual`` holds one block. Everything that walks a network (parameters, buffers, train/eval,
astype, save/load, checkpoints, gradcheck, summary) walks this tree through ONE method,
:meth:`Layer.named_layers`, and names each array by its dotted path: ``"1.block.0.W"`` is the W
of child "0" of the block of child "1".

Every reference layer returns fresh arrays and never writes into an array it received or
returned earlier, so no layer can overwrite what another still holds. Speed tricks (buffers
reused from batch to batch, fused updates) live in :mod:`chainrule.fast`, never here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import numpy as np

__all__ = [
    "Layer",
    "LAYER_REGISTRY",
    "ParamGrad",
    "register_layer",
    "registered_name",
    "check_no_shared_layers",
]

#: name -> class, used to rebuild a network from the JSON architecture stored in a model file.
LAYER_REGISTRY: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer], name: str | None = None) -> type[Layer]:
    """Class decorator: make ``cls`` loadable from a model file under ``name`` (its class name
    by default). A subclass that is not registered itself is NOT saved as its parent."""
    cls.registered_name = name or cls.__name__
    LAYER_REGISTRY[cls.registered_name] = cls
    return cls


def registered_name(layer: Layer) -> str:
    """The type name a model file stores for ``layer`` (its class's own registered name)."""
    return type(layer).__dict__.get("registered_name", type(layer).__name__)


class ParamGrad(NamedTuple):
    """One trainable array as the optimizers see it: (key, P, dC_dP, decay?).

    ``key`` is the dotted path (``"0.W"``, ``"1.block.0.b"``), ``G`` the stored gradient (None
    before the first backward), ``decay`` whether L2 weight decay applies (weights yes, biases
    and normalization scales no).
    """

    key: str
    P: np.ndarray
    G: np.ndarray | None
    decay: bool


class Layer:
    """Base class: a differentiable function of its input (and, optionally, its parameters).

    Subclasses list their trainable arrays in ``param_names`` (e.g. ``("W", "b")``); the gradient
    of parameter ``P`` is the attribute ``dC_dP``. Layers whose behaviour differs between training
    and prediction (Dropout, BatchNorm) read ``self.training``, switched by ``train()``/``eval()``.
    Composite layers override :meth:`named_children`.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    #: arrays that are saved with the model but are not trained by gradient descent
    buffer_names: ClassVar[tuple[str, ...]] = ()
    #: the parameters L2 weight decay applies to (weights; never biases or BatchNorm's gamma/beta)
    decay_names: ClassVar[tuple[str, ...]] = ("W",)

    def __init__(self) -> None:
        self.training = True

    # --- the contract -------------------------------------------------------------------------
    def forward(self, A_prev: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dC_dA: np.ndarray) -> np.ndarray | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, A_prev: np.ndarray) -> np.ndarray:
        return self.forward(A_prev)

    # --- the tree -----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Layer]]:
        """(name, child) for each direct child layer; none for a leaf layer."""
        return iter(())

    def children(self) -> Iterator[Layer]:
        for _, child in self.named_children():
            yield child

    def named_layers(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """(dotted prefix, layer) for this layer and every descendant, parents first.

        The prefix ends with a dot (``"1.block."``) so that ``prefix + "W"`` names an array;
        the root's prefix is ``""``. This is the one walk everything else uses.
        """
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_layers(f"{prefix}{name}.")

    @property
    def is_leaf(self) -> bool:
        return next(self.named_children(), None) is None

    # --- parameters and buffers, over the whole tree ------------------------------------------
    def parameters(self) -> list[ParamGrad]:
        """(key, P, dC_dP, decay?) for every trainable array in the tree, in a fixed order."""
        out = []
        for prefix, layer in self.named_layers():
            for name in layer.param_names:
                G = getattr(layer, "dC_d" + name, None)
                out.append(
                    ParamGrad(prefix + name, getattr(layer, name), G, name in layer.decay_names)
                )
        return out

    def named_arrays(self) -> Iterator[tuple[str, Layer, str]]:
        """(dotted key, owning layer, attribute) for every parameter and buffer in the tree."""
        for prefix, layer in self.named_layers():
            for name in layer.param_names + layer.buffer_names:
                yield prefix + name, layer, name

    def buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """(dotted key, array) for every buffer in the tree (BatchNorm's running statistics)."""
        for prefix, layer in self.named_layers():
            for name in layer.buffer_names:
                yield prefix + name, getattr(layer, name)

    def zero_grad(self) -> None:
        """Forget every stored gradient in the tree (they become None)."""
        for _, layer in self.named_layers():
            for name in layer.param_names:
                setattr(layer, "dC_d" + name, None)

    @property
    def n_params(self) -> int:
        return int(sum(p.P.size for p in self.parameters()))

    def train(self) -> Layer:
        """Training mode for the whole tree (Dropout drops, BatchNorm uses batch statistics)."""
        for _, layer in self.named_layers():
            layer.training = True
        return self

    def eval(self) -> Layer:
        """Prediction mode for the whole tree."""
        for _, layer in self.named_layers():
            layer.training = False
        return self

    def cast_(self, dtype: np.dtype | type) -> None:
        """Cast this layer's OWN parameters and buffers in place (children: see ``astype``)."""
        for name in self.param_names + self.buffer_names:
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
            if hasattr(self, "dC_d" + name):
                setattr(self, "dC_d" + name, None)

    def astype(self, dtype: np.dtype | type) -> Any:
        """Cast every parameter and buffer of the tree in place (float32 to train, float64 to
        check gradients); stored gradients are dropped. Returns the layer."""
        for _, layer in self.named_layers():
            layer.cast_(dtype)
        return self

    # --- shapes and serialization -------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example output shape (without m) for a per-example input shape. Default: unchanged."""
        return input_shape

    def config(self) -> dict[str, Any]:
        """JSON-serializable constructor arguments (no arrays, no child layers)."""
        return {}

    @classmethod
    def child_names(cls, count: int) -> list[str]:
        """The names ``count`` children rebuilt from a file will have ("0", "1", ... here)."""
        return [str(i) for i in range(count)]

    @classmethod
    def from_config(cls, config: dict[str, Any], children: list[Layer] | None = None) -> Layer:
        """Rebuild from ``config()`` (and, for a composite layer, its rebuilt children)."""
        if children:
            raise ValueError(f"{cls.__name__} holds no child layers, got {len(children)}")
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def check_no_shared_layers(root: Layer) -> None:
    """Refuse a tree in which one layer object (or one parameter array) appears twice.

    A layer caches ONE forward pass for its backward, and stores ONE gradient per parameter, so
    a layer placed twice would have its first cache overwritten by its second use, and its first
    gradient by its second. A weight meant to be shared (a tied weight) belongs to one layer
    built to share it, whose backward adds the gradients of both uses on one visible line
    (docs/architecture.md, "Tied weights").
    """
    seen: dict[int, str] = {}
    arrays: list[tuple[np.ndarray, str]] = []
    for prefix, layer in root.named_layers():
        where = prefix.rstrip(".") or "the root"
        if id(layer) in seen:
            raise ValueError(
                f"the same {type(layer).__name__} layer object appears twice in the network, at "
                f"{seen[id(layer)]!r} and {where!r}: its forward cache and its gradients would be "
                "overwritten by the second use. Use two separate layers, or a layer built to share "
                "a weight (see docs/architecture.md, 'Tied weights')"
            )
        seen[id(layer)] = where
        for name in layer.param_names:
            P = getattr(layer, name)
            key = prefix + name
            for other, other_key in arrays:  # the same array, or views of one memory
                if np.may_share_memory(P, other):
                    raise ValueError(
                        f"parameter {key!r} shares its memory with {other_key!r}: two layers "
                        "would each overwrite the other's gradient. Share a weight through one "
                        "layer built to share it (docs/architecture.md, 'Tied weights')"
                    )
            arrays.append((P, key))
