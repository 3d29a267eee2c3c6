"""The layer contract every chainrule layer follows.

    A = layer.forward(A_prev)            # caches what backward needs
    dC_dA_prev = layer.backward(dC_dA)   # fills the parameter gradients, returns the propagator

Examples lie on the LAST axis (A_prev is (n[l-1], m) for dense layers, (C, H, W, m) for images).
Parameter gradients (``dC_dW``, ``dC_db``, ...) are stored next to the parameters and OVERWRITTEN
by every backward call, never accumulated. The 1/m of the mean cost lives in exactly one place: the
cost's gradient dC/dA[L] (or the fused dC/dZ[L]); layers never divide by m.

One documented exception, inside ``fit`` only: with plain SGD (no weight decay) the training loop
seeds backward with lr * dC/dZ[L], so between a backward and its update the stored gradients hold
lr * dC/dP (backward is linear in its seed) and the update is the single pass P -= G. ``fit``
divides them back to dC/dP at the end of every epoch, before callbacks run.
When every trained layer is Dense, ``fit`` goes one step further (``Dense.fused_update``): the
backward adds -G into W inside the dC_dW matrix product and does not store dC_dW, on every batch
but the last of each epoch, which stores its gradients as usual (docs/math.md section 7.3).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

__all__ = ["Layer", "LAYER_REGISTRY", "register_layer"]

#: name -> class, used to rebuild a network from the JSON architecture stored in a model file.
LAYER_REGISTRY: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` loadable from a model file under ``cls.__name__``."""
    LAYER_REGISTRY[cls.__name__] = cls
    return cls


class Layer:
    """Base class: a differentiable function of its input (and, optionally, its parameters).

    Subclasses list their trainable arrays in ``param_names`` (e.g. ``("W", "b")``); the gradient
    of parameter ``P`` is the attribute ``dC_dP``. Layers whose behaviour differs between training
    and prediction (Dropout, BatchNorm) read ``self.training``, switched by the network.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    #: arrays that are saved with the model but are not trained by gradient descent
    buffer_names: ClassVar[tuple[str, ...]] = ()

    #: Fast mode, switched on by ``Sequential.fast_mode()`` (inside ``fit`` and ``predict``): a
    #: layer may then write its outputs and gradients into arrays it owns and reuses on the next
    #: call (see :meth:`workspace`). An array returned in fast mode is valid only until the same
    #: layer's next forward (for outputs) or backward (for gradients) call. Off by default, so a
    #: layer called directly always returns fresh arrays.
    reuse_buffers: bool = False

    def __init__(self) -> None:
        self.training = True

    def workspace(self, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A preallocated array for ``key``, reused while shape and dtype stay the same.

        A new batch size (the last, partial batch) or dtype allocates a new array, so a stale
        buffer of another shape is never returned. The contents are uninitialised.
        """
        store = self.__dict__.setdefault("_workspace", {})
        buf = store.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            store[key] = buf
        return buf

    # --- the contract -------------------------------------------------------------------------
    def forward(self, A_prev: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- parameters ---------------------------------------------------------------------------
    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
        """Yield (name, parameter, gradient or None before the first backward)."""
        for name in self.param_names:
            yield name, getattr(self, name), getattr(self, "dC_d" + name, None)

    def buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for name in self.buffer_names:
            yield name, getattr(self, name)

    @property
    def n_params(self) -> int:
        return int(sum(p.size for _, p, _ in self.parameters()))

    def astype(self, dtype: np.dtype | type) -> None:
        """Cast parameters and buffers in place to ``dtype`` (float32 to train, float64 to check)."""
        for name in self.param_names + self.buffer_names:
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
            if hasattr(self, "dC_d" + name):
                setattr(self, "dC_d" + name, None)

    # --- shapes and serialization -------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example output shape (without m) for a per-example input shape. Default: unchanged."""
        return input_shape

    def config(self) -> dict[str, Any]:
        """JSON-serializable constructor arguments (no arrays)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
