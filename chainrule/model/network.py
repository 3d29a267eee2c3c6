"""A network you train: layers in order, a cost, and the boundary between the user and the engine.

At the boundary, X is (m, features) (or (m, C, H, W) for images) like in scikit-learn and PyTorch.
It is transposed ONCE into the engine's layout A[0] of shape (n[0], m) (or (C, H, W, m)), where
examples lie on the last axis, exactly as in the notebook (:mod:`chainrule.data.layout`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import validation
from chainrule.data.layout import from_engine, to_engine
from chainrule.data.standardize import Standardizer
from chainrule.data.targets import encode_sequence_targets, encode_targets
from chainrule.fast import inference
from chainrule.model.generate import generate
from chainrule.model.shapes import OutputShape, infer_input_shape, summary_rows
from chainrule.nn import Sequential as Chain
from chainrule.nn.activation import Activation
from chainrule.nn.layer import Layer, register_layer
from chainrule.nn.losses import DEFAULT_LOSS_FOR_OUTPUT, Loss, make_loss
from chainrule.train.fit import fit as _fit
from chainrule.train.lm import fit_lm as _fit_lm
from chainrule.validation import check_ids, check_X

__all__ = ["Sequential", "to_engine", "from_engine"]


class Sequential(Chain):
    """Layers applied in order, trained against one cost: ``chainrule.Sequential``.

    It is a :class:`chainrule.nn.Sequential` (so it nests inside other layers, and they inside
    it) plus the cost and everything a user calls: fit, predict, score, save.

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
        super().__init__(layers)
        if input_shape is None:
            input_shape = infer_input_shape(self)
        self.input_shape: tuple[int, ...] = tuple(int(s) for s in input_shape)
        self._output_shape = Chain.output_shape(self, self.input_shape)  # checks the chain
        first: Layer = self  # the walk's first leaf: follow the first child down
        while (child := next(first.children(), None)) is not None:
            first = child
        size = getattr(first, "vocab_size", None)
        self._vocab_size = int(size) if isinstance(size, (int, np.integer)) else None
        self._loss: Loss | None = None if loss is None else make_loss(loss)
        if self._loss is None:  # chosen from the last layer the data passes, nested or not
            last = [layer for _, layer in self.named_layers() if layer.is_leaf][-1]
            name = last.name if isinstance(last, Activation) else "identity"
            if name in DEFAULT_LOSS_FOR_OUTPUT:
                self._loss = make_loss(DEFAULT_LOSS_FOR_OUTPUT[name])
            self._no_default_cost = name  # reported if this network is ever trained as it is
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"dtype must be a float type (float32 or float64), got {self.dtype}")
        for _, layer in self.named_layers():
            layer.cast_(self.dtype)
        self.standardizer: Standardizer | None = None
        #: a language model's Vocabulary (chainrule.data.text): saved with it, used by generate
        self.vocabulary: Any = None
        self.is_fitted = False
        self.seed: int | None = None
        self.history: dict[str, list[Any]] = {}

    # --- structure ----------------------------------------------------------------------------
    @property
    def loss(self) -> Loss:
        """The cost this network is trained against (chosen from the output layer by default)."""
        if self._loss is None:
            raise ValueError(
                f"no default cost for a {self._no_default_cost!r} output; pass loss='bce', 'ce' "
                "or 'mse'"
            )
        return self._loss

    @property
    def output_shape(self) -> OutputShape:  # type: ignore[override]
        """The per-example output shape, e.g. (10,); call it like any layer's output_shape."""
        return OutputShape(self._output_shape, self)

    @property
    def n_outputs(self) -> int:
        return int(np.prod(self._output_shape))

    @property
    def n_features(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def fused(self) -> bool:
        """True when the output activation matches the cost, so dC/dZ[L] = (A[L] - Y) / m."""
        last = self.layers[-1]
        return isinstance(last, Activation) and last.name == self.loss.matched_activation

    @property
    def vocab_size(self) -> int | None:
        """The vocabulary of a network that reads token ids (its first layer is an Embedding).

        Found once, when the network is built, like its input and output shapes: every
        prediction asks, and walking the tree each time cost ~16 us of a 1,024-example MLP
        prediction (the walk's code is cold after the previous call's products)."""
        return self._vocab_size

    @property
    def is_flat(self) -> bool:
        """True when every layer is a leaf (a plain MLP or CNN, no nested blocks)."""
        return all(layer.is_leaf for layer in self.layers)

    def named_parameters(self) -> Iterator[tuple[str, Layer, str]]:
        """(label, layer, attribute) for every parameter: the notebook's labels W[1], b[1], ...
        (layers with parameters numbered 1..L) for a flat network, dotted paths otherwise."""
        if not self.is_flat:
            for prefix, layer in self.named_layers():
                for name in layer.param_names:
                    yield prefix + name, layer, name
            return
        l = 0
        for layer in self.layers:
            if not layer.param_names:
                continue
            l += 1
            for name in layer.param_names:
                yield f"{name}[{l}]", layer, name

    def astype(self, dtype: np.dtype | type) -> Sequential:
        """A deep copy in ``dtype`` (float64 for gradient checks); ``self`` is unchanged."""
        net = copy.deepcopy(self)
        net.dtype = np.dtype(dtype)
        for _, layer in net.named_layers():
            layer.cast_(net.dtype)
        return net

    def copy(self) -> Sequential:
        return copy.deepcopy(self)

    # --- the reference engine (examples on the last axis) -------------------------------------
    def forward_backward(self, A0: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
        """One forward pass, the cost and one backward pass. Returns (cost, A[L]).

        General path: A[L] = forward(A[0]); C = cost(A[L], Y); backward(dC/dA[L]).
        Matched output and cost (sigmoid + BCE, softmax + CE, identity + MSE): the output
        activation's Jacobian and the cost's gradient collapse to dC/dZ[L] = (A[L] - Y) / m,
        and the cost is computed from the logits Z[L], where log(0) cannot happen
        (docs/math.md section 7). Backward then starts at the layer before the output.
        """
        if not self.fused:
            A = self.forward(A0)  # (n[L], m)
            cost = self.loss.cost(A, Y)
            self.backward(self.loss.gradient(A, Y))  # dC/dA[L] : (n[L], m), carries the 1/m
            return cost, A
        *body, output = self.layers
        Z = A0
        for layer in body:
            Z = layer.forward(Z)  # ends with the logits Z[L] : (n[L], m)
        A = output.forward(Z)  # A[L] = g(Z[L])
        cost = self.loss.cost_from_logits(Z, Y)
        dC_dA = self.loss.fused_gradient(A, Y)  # dC/dZ[L] = (A[L] - Y) / m : (n[L], m)
        for layer in reversed(body):
            dC_dA = layer.backward(dC_dA)
        return cost, A

    def forward_in_batches(
        self, A0: np.ndarray, batch_size: int = 4096, check_finite: bool = False
    ) -> np.ndarray:
        """A[L] for all m columns in prediction mode, ``batch_size`` at a time; a fresh array.

        Networks the fast engine supports run through its inference plan (the same numbers,
        tested equal); every other network through the reference layers. ``check_finite``:
        A0 has not been checked for NaN/inf yet; a ValueError names the first one before any
        result is returned (the MLP plan checks inside its first product, the others first).
        """
        A = inference.forward(self, A0, batch_size, check_finite=check_finite)  # sets eval mode
        if A is not None:
            return A
        self.eval()
        if check_finite:
            validation.check_finite(from_engine(A0))
        m = A0.shape[-1]
        parts = [self.forward(A0[..., s : s + batch_size]) for s in range(0, m, batch_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    def cost_in_batches(self, A0: np.ndarray, Y: np.ndarray, batch_size: int = 4096) -> float:
        """The mean cost over all m columns in prediction mode, without touching gradients."""
        self.eval()
        m = A0.shape[-1]
        total = 0.0
        for s in range(0, m, batch_size):
            A, Yb = A0[..., s : s + batch_size], Y[..., s : s + batch_size]
            if self.fused:
                for layer in self.layers[:-1]:
                    A = layer.forward(A)  # the logits Z[L]
                total += self.loss.cost_from_logits(A, Yb) * Yb.shape[-1]
            else:
                total += self.loss.cost(self.forward(A), Yb) * Yb.shape[-1]
        return total / m

    # --- the user-facing boundary (examples on the first axis) --------------------------------
    def prepare_X(self, X: Any, finite: bool = True) -> np.ndarray:
        """X checked (shape, dtype, finite), standardized if the network has a Standardizer,
        in the network's dtype: (m, *input_shape), examples first. A network that reads token
        ids takes X (m, T) integers in [0, vocab_size), kept as int64. ``finite=False`` leaves
        the NaN/inf check to the caller (``forward_in_batches(..., check_finite=True)``)."""
        V = self.vocab_size
        if V is not None:
            return check_ids(X, self.input_shape[0] if self.input_shape else None, V)
        X = check_X(X, self.input_shape, dtype=self.dtype, finite=finite)
        if self.standardizer is not None:
            X = self.standardizer.transform(X).astype(self.dtype, copy=False)
        return X

    def prepare_Y(self, y: Any, m: int) -> np.ndarray:
        """Labels y (m,) checked against the cost and encoded as the engine's Y (n[L], m).

        A network with an output at every position, (V, T) per example, takes next-token
        targets y (m, T) ids and gets the one-hot Y (V, T, m)."""
        if len(self._output_shape) == 2 and self.loss.name == "ce":
            V, T = self._output_shape
            return encode_sequence_targets(y, m, T, V, self.dtype)
        return encode_targets(self.loss.name, y, m, self.n_outputs, self.dtype)

    _prepare_X = prepare_X  # the names of earlier versions
    _prepare_Y = prepare_Y

    def loss_and_gradients(self, X: Any, y: Any) -> float:
        """Forward, cost and backward on one batch (X as (m, features)); fills every dC_dP."""
        X = self.prepare_X(X)
        Y = self.prepare_Y(y, X.shape[0])
        self.train()
        cost, _ = self.forward_backward(to_engine(X), Y)
        return cost

    def cost(self, X: Any, y: Any) -> float:
        """The cost on (X, y) in prediction mode, without touching the gradients."""
        X = self.prepare_X(X)
        return self.cost_in_batches(to_engine(X), self.prepare_Y(y, X.shape[0]))

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """{"cost": ..., "accuracy": ...} on (X, y) in prediction mode (``"r2"`` for regression).

        Safe to call from a callback during ``fit``: it reads the weights as they are.
        """
        Xp = self.prepare_X(X)
        out = {"cost": self.cost_in_batches(to_engine(Xp), self.prepare_Y(y, Xp.shape[0]))}
        out["r2" if self.loss.name == "mse" else "accuracy"] = self._score_prepared(Xp, y)
        return out

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError("this network has not been trained yet: call fit(X, y) before predict")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Output activations A[L].T : (m, n[L]) (class probabilities for sigmoid/softmax)."""
        self._check_fitted()
        return self.decision_output(X)

    def decision_output(self, X: Any) -> np.ndarray:
        """Like predict_proba but without the fitted check (used by gradcheck and plots)."""
        # the NaN/inf check rides in the prediction's first product (fast.inference)
        A0 = to_engine(self.prepare_X(X, finite=False))
        return from_engine(self.forward_in_batches(A0, check_finite=True))

    def predict(self, X: Any) -> np.ndarray:
        """Labels (m,) for classification (threshold 0.5 / argmax), values for regression."""
        return self.output_to_labels(self.predict_proba(X))

    def output_to_labels(self, P: np.ndarray) -> np.ndarray:
        if self.loss.name == "ce":
            return np.argmax(P, axis=1)
        if self.loss.name == "bce":
            labels = (P >= 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return P[:, 0] if P.shape[1] == 1 else P

    def score(self, X: Any, y: Any) -> float:
        """Accuracy for classification, R^2 for regression."""
        self._check_fitted()
        return self._score_prepared(self.prepare_X(X), y)

    def _score_prepared(self, Xp: np.ndarray, y: Any) -> float:
        pred = self.output_to_labels(from_engine(self.forward_in_batches(to_engine(Xp))))
        y = np.asarray(y)
        if self.loss.name == "mse":
            y = y.reshape(pred.shape).astype(np.float64)
            ss_res = float(np.sum((y - pred) ** 2))
            ss_tot = float(np.sum((y - y.mean(axis=0)) ** 2))
            return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
        return float(np.mean(pred == y.reshape(pred.shape)))

    # --- training and files -------------------------------------------------------------------
    fit = _fit  # net.fit(X, y, ...) is chainrule.train.fit.fit(net, X, y, ...): same signature
    fit_lm = _fit_lm  # a language model on a token stream: chainrule.train.lm.fit_lm

    def generate(
        self,
        prompt_ids: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop_token: int | None = None,
        pad_token: int = 0,
    ) -> np.ndarray:
        """Sample ``max_new_tokens`` after ``prompt_ids`` (see :func:`chainrule.model.generate.generate`)."""
        return generate(
            self, prompt_ids, max_new_tokens, temperature, top_k, seed, stop_token, pad_token
        )

    def save(
        self,
        path: str | Path,
        extra_meta: dict[str, Any] | None = None,
        extra_arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Write the architecture (JSON) and arrays to an .npz file, atomically."""
        from chainrule.model.files import save

        save(self, path, extra_meta=extra_meta, extra_arrays=extra_arrays)

    def to_onnx(self, path: str | Path | None = None) -> Any:
        """Export to ONNX (Dense/activation networks); see :mod:`chainrule.io.onnx`."""
        from chainrule.io.onnx import to_onnx

        return to_onnx(self, path)

    def summary(self) -> str:
        """A table of every layer of the tree, its output shape and parameter count."""
        rows = summary_rows(self, self.input_shape)
        width = max(len(name) + len(text) for name, text, _, _ in rows) + 4
        lines = [f"{'layer':<{width}}{'output (per example)':<22}{'params':>8}"]
        for name, text, shape, n in rows:
            lines.append(f"{name + '  ' + text:<{width}}{shape:<22}{n:>8,}")
        loss = self._loss.name if self._loss is not None else "none"
        lines.append(f"total trainable parameters: {self.n_params:,}; cost: {loss}")
        return "\n".join(lines)

    # --- as a layer inside another network ------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Stored when this network is nested in another one (type "Network" in a model file)."""
        return {
            "loss": self._loss.name if self._loss is not None else None,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], children: list[Layer] | None = None) -> Layer:
        if not children:
            raise ValueError("a Sequential needs its child layers")
        shape = config.get("input_shape")
        return cls(
            children,
            loss=config.get("loss"),
            input_shape=tuple(shape) if isinstance(shape, list) else None,
            dtype=config.get("dtype", "float32"),
        )

    def __repr__(self) -> str:
        inner = ", ".join(repr(la) for la in self.layers)
        loss = f", loss={self._loss.name!r}" if self._loss is not None else ""
        return f"Sequential([{inner}]{loss})"


register_layer(Sequential, "Network")  # a nested chainrule.Sequential, with its own cost
