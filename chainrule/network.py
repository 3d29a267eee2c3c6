"""Sequential networks: a list of layers, a cost, and the boundary between the user and the engine.

At the boundary, X is (m, features) (or (m, C, H, W) for images) like in scikit-learn and PyTorch.
It is transposed ONCE into the engine's layout A[0] of shape (n[0], m) (or (C, H, W, m)), where
examples lie on the last axis, exactly as in the notebook.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.layers.activation import Activation, ReLU
from chainrule.layers.base import Layer
from chainrule.layers.dense import Dense
from chainrule.losses import DEFAULT_LOSS_FOR_OUTPUT, Loss, make_loss
from chainrule.optimizers import ParamGrad
from chainrule.standardize import Standardizer
from chainrule.targets import encode_targets
from chainrule.validation import check_X

__all__ = ["Sequential", "to_engine", "from_engine"]


def to_engine(X: np.ndarray) -> np.ndarray:
    """(m, *shape) -> (*shape, m): examples move to the last axis (A0 = X.T for 2-D X)."""
    return X.T if X.ndim == 2 else np.moveaxis(X, 0, -1)


def from_engine(A: np.ndarray) -> np.ndarray:
    """(*shape, m) -> (m, *shape)."""
    return A.T if A.ndim == 2 else np.moveaxis(A, -1, 0)


class Sequential:
    """Layers applied in order, trained against one cost.

    >>> import chainrule as cr
    >>> net = cr.Sequential([cr.Dense(2, 3), cr.Sigmoid(), cr.Dense(3, 1), cr.Sigmoid()])
    >>> net.loss.name   # chosen from the sigmoid output
    'bce'
    """

    def __init__(
        self,
        layers: Iterable[Layer],
        loss: str | Loss | None = None,
        input_shape: tuple[int, ...] | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        self.layers: list[Layer] = list(layers)
        if not self.layers:
            raise ValueError("a network needs at least one layer, got an empty list")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} must be a chainrule Layer, got {type(layer).__name__}")
        if input_shape is None:
            first = next((la for la in self.layers if not isinstance(la, Activation)), None)
            if not isinstance(first, Dense) and not hasattr(first, "input_shape"):
                raise ValueError("input_shape is required when the first layer is not Dense")
            input_shape = (first.n_in,) if isinstance(first, Dense) else first.input_shape
        self.input_shape: tuple[int, ...] = tuple(int(s) for s in input_shape)
        self.output_shape = self._infer_shapes()
        if loss is None:
            last = self.layers[-1]
            name = last.name if isinstance(last, Activation) else "identity"
            if name not in DEFAULT_LOSS_FOR_OUTPUT:
                raise ValueError(
                    f"no default cost for a {name!r} output; pass loss='bce', 'ce' or 'mse'"
                )
            loss = DEFAULT_LOSS_FOR_OUTPUT[name]
        self.loss: Loss = make_loss(loss)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"dtype must be a float type (float32 or float64), got {self.dtype}")
        for layer in self.layers:
            layer.astype(self.dtype)
        self.standardizer: Standardizer | None = None
        self.is_fitted = False
        self.seed: int | None = None
        self.history: dict[str, list[Any]] = {}

    # --- structure ----------------------------------------------------------------------------
    def _infer_shapes(self) -> tuple[int, ...]:
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as exc:
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}) does not chain: {exc}"
                ) from None
        return shape

    @property
    def n_outputs(self) -> int:
        return int(np.prod(self.output_shape))

    @property
    def n_features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def fused(self) -> bool:
        """True when the output activation matches the cost, so dC/dZ[L] = (A[L] - Y) / m."""
        last = self.layers[-1]
        return isinstance(last, Activation) and last.name == self.loss.matched_activation

    def parameters(self) -> list[ParamGrad]:
        """(key, P, dC_dP, decay?) for every trainable array; weights decay, biases don't."""
        out = []
        for i, layer in enumerate(self.layers):
            for name, P, G in layer.parameters():
                out.append((f"{i}.{name}", P, G, name == "W"))
        return out

    def named_parameters(self) -> Iterator[tuple[str, Layer, str]]:
        """Yield ("W[1]", layer, "W"), ("b[1]", layer, "b"), ... numbering layers with parameters."""
        l = 0
        for layer in self.layers:
            if not layer.param_names:
                continue
            l += 1
            for name in layer.param_names:
                yield f"{name}[{l}]", layer, name

    @property
    def n_params(self) -> int:
        return sum(layer.n_params for layer in self.layers)

    def train(self) -> Sequential:
        for layer in self.layers:
            layer.training = True
        return self

    def eval(self) -> Sequential:
        for layer in self.layers:
            layer.training = False
        return self

    @contextmanager
    def fast_mode(self, enabled: bool = True) -> Iterator[Sequential]:
        """Within this block every layer reuses its own output/gradient buffers (no allocation
        per batch; see ``Layer.reuse_buffers``). ``fit`` and ``predict`` use it; the previous
        setting is restored on exit. Arrays returned inside the block are overwritten by the
        next batch: copy what you keep.
        """
        saved = [(layer.reuse_buffers, getattr(layer, "in_place", None)) for layer in self.layers]
        layers = self.layers
        for i, layer in enumerate(layers):
            layer.reuse_buffers = enabled
            if isinstance(layer, ReLU):  # between two Dense layers both its buffers are scratch
                between = 0 < i < len(layers) - 1
                layer.in_place = (
                    enabled
                    and between
                    and isinstance(layers[i - 1], Dense)
                    and isinstance(layers[i + 1], Dense)
                )
        try:
            yield self
        finally:
            for layer, (reuse, in_place) in zip(self.layers, saved):
                layer.reuse_buffers = reuse
                if in_place is not None:
                    layer.in_place = in_place

    def astype(self, dtype: np.dtype | type) -> Sequential:
        """A deep copy in ``dtype`` (float64 for gradient checks)."""
        net = copy.deepcopy(self)
        net.dtype = np.dtype(dtype)
        for layer in net.layers:
            layer.astype(net.dtype)
        return net

    def copy(self) -> Sequential:
        return copy.deepcopy(self)

    # --- the engine (examples on the last axis) -----------------------------------------------
    def forward(self, A0: np.ndarray) -> np.ndarray:
        """A[L] from A[0] : (n[0], m) -> (n[L], m)."""
        A = A0
        for layer in self.layers:
            A = layer.forward(A)
        return A

    def backward(self, dC_dA: np.ndarray, start: int | None = None) -> np.ndarray | None:
        """Propagate dC/dA[L] back through layers[start::-1], filling every parameter gradient."""
        last = len(self.layers) - 1 if start is None else start
        for layer in self.layers[last::-1]:
            dC_dA = layer.backward(dC_dA)
            if dC_dA is None:
                break
        return dC_dA

    def forward_backward(
        self,
        A0: np.ndarray,
        Y: np.ndarray | None = None,
        *,
        labels: np.ndarray | None = None,
        grad_scale: float = 1.0,
    ) -> tuple[float, np.ndarray]:
        """One forward pass, the cost and one backward pass. Returns (cost, A[L]).

        With a matched output/cost pair the last activation's own backward is skipped: its
        Jacobian and the cost's gradient collapse to dC/dZ[L] = (A[L] - Y) / m. In fast mode the
        cost comes from what the forward pass already computed and dC/dZ[L] is written into a
        buffer of the output layer (``Loss.fused_cost_and_gradient``).

        ``labels`` (m,) may replace Y for softmax + cross-entropy: the class index of each
        example instead of a one-hot (K, m) matrix (``CrossEntropy.fused_cost_and_gradient_labels``).
        ``grad_scale`` multiplies the backward's seed, so every stored gradient becomes
        grad_scale * dC/dP (backward is linear in its seed); the cost is unchanged.
        """
        fused = self.fused
        if labels is not None:
            if not (fused and self.loss.name == "ce"):
                raise ValueError("labels= needs a softmax output with the cross-entropy cost")
        elif Y is None:
            raise ValueError("forward_backward needs the targets Y (or labels=)")
        if fused:
            Z = A0
            for layer in self.layers[:-1]:
                Z = layer.forward(Z)
            last = self.layers[-1]
            A = last.forward(Z)
            out = last.workspace("dC_dZ_fused", A.shape, A.dtype) if last.reuse_buffers else None
            if labels is not None:
                cost, dC_dZ = self.loss.fused_cost_and_gradient_labels(
                    Z, A, labels, out=out, scale=grad_scale
                )
            elif out is not None:
                cost, dC_dZ = self.loss.fused_cost_and_gradient(Z, A, Y, out=out, scale=grad_scale)
            else:  # the textbook pair: cost from the logits, then (A - Y) / m
                cost = self.loss.cost_from_logits(Z, Y)
                dC_dZ = self.loss.fused_gradient(A, Y)
                if grad_scale != 1.0:
                    dC_dZ *= dC_dZ.dtype.type(grad_scale)
            self.backward(dC_dZ, start=len(self.layers) - 2)
        else:
            A = self.forward(A0)
            cost = self.loss.cost(A, Y)
            dC_dA = self.loss.gradient(A, Y)
            if grad_scale != 1.0:
                dC_dA *= dC_dA.dtype.type(grad_scale)
            self.backward(dC_dA)
        return cost, A

    # --- the user-facing boundary (examples on the first axis) --------------------------------
    def _prepare_X(self, X: Any) -> np.ndarray:
        X = check_X(X, self.input_shape, dtype=self.dtype)
        if self.standardizer is not None:
            X = self.standardizer.transform(X).astype(self.dtype, copy=False)
        return X

    def _prepare_Y(self, y: Any, m: int) -> np.ndarray:
        return encode_targets(self.loss.name, y, m, self.n_outputs, self.dtype)

    def loss_and_gradients(self, X: Any, y: Any) -> float:
        """Forward, cost and backward on one batch (X as (m, features)); fills every dC_dW, dC_db."""
        X = self._prepare_X(X)
        Y = self._prepare_Y(y, X.shape[0])
        self.train()
        for layer in self.layers:
            if isinstance(layer, Dense):
                layer.propagate = True
        cost, _ = self.forward_backward(to_engine(X), Y)
        return cost

    def cost(self, X: Any, y: Any) -> float:
        """The cost on (X, y) in prediction mode, without touching the gradients."""
        X = self._prepare_X(X)
        Y = self._prepare_Y(y, X.shape[0])
        return self._cost_engine(to_engine(X), Y)

    def _cost_engine(self, A0: np.ndarray, Y: np.ndarray, batch_size: int = 4096) -> float:
        self.eval()
        with self.fast_mode():
            return self._cost_batches(A0, Y, batch_size)

    def _cost_batches(self, A0: np.ndarray, Y: np.ndarray, batch_size: int) -> float:
        m = A0.shape[-1]
        total = 0.0
        for start in range(0, m, batch_size):
            A = A0[..., start : start + batch_size]
            Yb = Y[:, start : start + batch_size]
            if self.fused:
                Z = A
                for layer in self.layers[:-1]:
                    Z = layer.forward(Z)
                total += self.loss.cost_from_logits(Z, Yb) * Yb.shape[-1]
            else:
                total += self.loss.cost(self.forward(A), Yb) * Yb.shape[-1]
        return total / m

    def _forward_batched(self, A0: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """A[L] for all m columns, ``batch_size`` at a time, in fast mode; a fresh array."""
        self.eval()
        m = A0.shape[-1]
        with self.fast_mode():
            if m <= batch_size:
                return self.forward(A0).copy()  # the buffer is reused by the next call
            out: np.ndarray | None = None
            for s in range(0, m, batch_size):
                A = self.forward(A0[..., s : s + batch_size])
                if out is None:
                    out = np.empty(A.shape[:-1] + (m,), dtype=A.dtype)
                out[..., s : s + A.shape[-1]] = A
            assert out is not None
            return out

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError("this network has not been trained yet: call fit(X, y) before predict")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Output activations A[L].T : (m, n[L]) (class probabilities for sigmoid/softmax)."""
        self._check_fitted()
        A = self._forward_batched(to_engine(self._prepare_X(X)))
        return from_engine(A)

    def decision_output(self, X: Any) -> np.ndarray:
        """Like predict_proba but without the fitted check (used by gradcheck and plots)."""
        return from_engine(self._forward_batched(to_engine(self._prepare_X(X))))

    def predict(self, X: Any) -> np.ndarray:
        """Labels (m,) for classification (threshold 0.5 / argmax), values for regression."""
        P = self.predict_proba(X)
        return self.output_to_labels(P)

    def output_to_labels(self, P: np.ndarray) -> np.ndarray:
        if self.loss.name == "ce":
            return np.argmax(P, axis=1)
        if self.loss.name == "bce":
            labels = (P >= 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return P[:, 0] if P.shape[1] == 1 else P

    def score(self, X: Any, y: Any) -> float:
        """Accuracy for classification, R^2 for regression."""
        pred = self.predict(X)
        y = np.asarray(y)
        if self.loss.name == "mse":
            y = y.reshape(pred.shape).astype(np.float64)
            ss_res = float(np.sum((y - pred) ** 2))
            ss_tot = float(np.sum((y - y.mean(axis=0)) ** 2))
            return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
        return float(np.mean(pred == y.reshape(pred.shape)))

    # --- training and files -------------------------------------------------------------------
    def fit(self, X: Any, y: Any, **kwargs: Any) -> dict[str, list[Any]]:
        """Train with mini-batch gradient descent; see :func:`chainrule.training.fit`."""
        from chainrule.training import fit

        return fit(self, X, y, **kwargs)

    def save(self, path: str | Path) -> None:
        """Write the architecture (JSON) and arrays to an .npz file, atomically."""
        from chainrule.serialization import save

        save(self, path)

    def to_onnx(self, path: str | Path | None = None) -> Any:
        """Export to ONNX (Dense/activation networks); see :mod:`chainrule.onnx_export`."""
        from chainrule.onnx_export import to_onnx

        return to_onnx(self, path)

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        width = max(len(repr(la)) for la in self.layers) + 7
        rows = [f"{'layer':<{width}}{'output (per example)':<22}{'params':>8}"]
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            rows.append(f"{i:>2}   {layer!r:<{width - 5}}{str(shape):<22}{layer.n_params:>8,}")
        rows.append(f"total trainable parameters: {self.n_params:,}; cost: {self.loss.name}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        inner = ", ".join(repr(la) for la in self.layers)
        return f"Sequential([{inner}], loss={self.loss.name!r})"
