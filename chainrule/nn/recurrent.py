"""What RNN, GRU and LSTM share: parameters as torch names them, directions, shapes, checks.

A recurrent layer reads a sequence A_prev of shape (n_in, T, m) (n_in features at each of T time
steps, m examples) one step at a time, carrying a hidden state h_t of shape (H, m) from step to
step with the SAME weights at every step:

    h_t = cell(x_t, h_{t-1})          x_t = A_prev[:, t-1] : (n_in, m),  h_0 = 0 : (H, m)

and outputs every step's hidden state, A[:, t-1] = h_t, so A is (H, T, m). The cell has
``n_gates`` gates; their pre-activations are stacked in the rows of two affine maps,

    W_ih x_t + b_ih   and   W_hh h_{t-1} + b_hh        W_ih: (gates*H, n_in), W_hh: (gates*H, H),
                                                      b_ih, b_hh: (gates*H, 1)

exactly torch's ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0`` (torch's biases
are 1-D; here they are columns, as in Dense). Every parameter starts U(-1/sqrt(H), 1/sqrt(H)),
torch's initialisation.

Bidirectional layers run a second cell, with its own ``*_reverse`` parameters, over the sequence
read backwards (x_T first) and output [forward states; reverse states], (2H, T, m): at step t
the reverse direction's state has seen x_t, ..., x_T. Its gradient is the forward direction's
computation on the flipped sequence, flipped back; the input gradient adds both directions'.

The cells themselves (``_forward_sequence`` and ``_backward_sequence``, back-propagation through
time) live in :mod:`chainrule.nn.rnn`, :mod:`chainrule.nn.gru` and :mod:`chainrule.nn.lstm`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer
from chainrule.validation import check_positive_int

__all__ = ["Recurrent", "DIRECTIONS", "result_zeros"]

#: the parameter-name suffix of each direction, as in torch (``weight_ih_l0_reverse``)
DIRECTIONS = ("", "_reverse")

#: one direction's parameters, in torch's order (the order they are initialised in)
_BASE_NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")


class Recurrent(Layer):
    """Base class of RNN, GRU and LSTM: A_prev (n_in, T, m) -> A (H or 2H, T, m).

    Subclasses set ``n_gates`` and implement one direction's pass over a sequence:

    * ``_forward_sequence(X, W_ih, W_hh, b_ih, b_hh) -> (H_out, cache)``,
      X (n_in, T, m) -> H_out (H, T, m), every step's hidden state;
    * ``_backward_sequence(dC_dH, cache, W_ih, W_hh) -> (dC_dX, (dC_dW_ih, dC_dW_hh, dC_db_ih,
      dC_db_hh))``, dC_dH (H, T, m) -> dC_dX (n_in, T, m).
    """

    n_gates: ClassVar[int] = 1
    #: layer name used in error messages
    kind: ClassVar[str] = "Recurrent"

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        bidirectional: bool = False,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(
                f"bidirectional must be True or False, got {type(bidirectional).__name__} "
                f"{bidirectional!r}"
            )
        self.bidirectional = bool(bidirectional)
        self.directions = DIRECTIONS if self.bidirectional else DIRECTIONS[:1]
        # per instance: a bidirectional layer has twice as many arrays
        self.param_names = tuple(p + d for d in self.directions for p in _BASE_NAMES)
        self.decay_names = tuple(p for p in self.param_names if p.startswith("W_"))
        rng = as_rng(seed)
        H, GH = self.n_hidden, self.n_gates * self.n_hidden
        shapes = {"W_ih": (GH, self.n_in), "W_hh": (GH, H), "b_ih": (GH, 1), "b_hh": (GH, 1)}
        bound = 1.0 / np.sqrt(H)  # torch: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))
        for d in self.directions:
            for p in _BASE_NAMES:
                setattr(self, p + d, rng.uniform(-bound, bound, size=shapes[p]))
                setattr(self, "dC_d" + p + d, None)
        self._caches: list[Any] | None = None
        self._input_shape: tuple[int, ...] | None = None

    # --- one direction's parameters -----------------------------------------------------------
    def _params(self, d: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(W_ih, W_hh, b_ih, b_hh) of direction ``d`` ("" or "_reverse")."""
        W_ih, W_hh, b_ih, b_hh = (getattr(self, p + d) for p in _BASE_NAMES)
        return W_ih, W_hh, b_ih, b_hh

    @property
    def n_out(self) -> int:
        """Features per step of the output: H, or 2H when bidirectional."""
        return len(self.directions) * self.n_hidden

    # --- forward and backward over both directions --------------------------------------------
    def _check_input(self, A_prev: np.ndarray) -> None:
        if not isinstance(A_prev, np.ndarray):
            raise TypeError(f"{self.kind} expects a NumPy array, got {type(A_prev).__name__}")
        if A_prev.ndim != 3 or A_prev.shape[0] != self.n_in:
            hint = (
                " (one sequence (n_in, T) needs an examples axis: A_prev[..., None])"
                if A_prev.ndim == 2
                else ""
            )
            raise ValueError(
                f"{self.kind}({self.n_in}, {self.n_hidden}) expects a sequence of shape "
                f"(n_in={self.n_in}, T, m), got {A_prev.shape}{hint}"
            )
        if A_prev.shape[1] < 1:
            raise ValueError(f"{self.kind} needs at least one time step, got shape {A_prev.shape}")

    def _forward_directions(self, A_prev: np.ndarray) -> np.ndarray:
        """Run every direction; A = [H_forward; H_reverse] : (len(directions)*H, T, m)."""
        self._check_input(A_prev)
        outputs, caches = [], []
        for d in self.directions:
            X = A_prev if d == "" else A_prev[:, ::-1]  # the reverse cell reads x_T first
            H_out, cache = self._forward_sequence(X, *self._params(d))  # (H, T, m)
            outputs.append(H_out if d == "" else H_out[:, ::-1])  # back to the time order of x
            caches.append(cache)
        self._caches = caches
        self._input_shape = A_prev.shape
        return np.ascontiguousarray(np.concatenate(outputs, axis=0))  # (n_out, T, m), fresh

    def _backward_directions(self, dC_dA: np.ndarray) -> np.ndarray:
        """Split dC_dA into each direction's rows, run its BPTT, store the gradients (overwriting
        any earlier ones) and return dC_dA_prev = the sum of the directions' input gradients."""
        if self._caches is None or self._input_shape is None:
            raise RuntimeError(f"{self.kind}.backward called before forward")
        _, T, m = self._input_shape
        expected = (self.n_out, T, m)
        if not isinstance(dC_dA, np.ndarray) or dC_dA.shape != expected:
            got = dC_dA.shape if isinstance(dC_dA, np.ndarray) else type(dC_dA).__name__
            raise ValueError(
                f"{self.kind}.backward expects dC_dA of the output's shape {expected}, got {got}"
            )
        H = self.n_hidden
        dC_dA_prev: np.ndarray | None = None
        for k, d in enumerate(self.directions):
            dC_dH = dC_dA[k * H : (k + 1) * H]  # (H, T, m): this direction's output rows
            if d:
                dC_dH = dC_dH[:, ::-1]  # into the order the reverse cell ran in
            W_ih, W_hh, _, _ = self._params(d)
            dC_dX, grads = self._backward_sequence(dC_dH, self._caches[k], W_ih, W_hh)
            for p, G in zip(_BASE_NAMES, grads):
                setattr(self, "dC_d" + p + d, G)
            if d:
                dC_dX = dC_dX[:, ::-1]  # x_t's gradient back at step t
            dC_dA_prev = dC_dX if dC_dA_prev is None else dC_dA_prev + dC_dX  # (n_in, T, m)
        assert dC_dA_prev is not None
        return np.ascontiguousarray(dC_dA_prev)

    def _forward_sequence(
        self, X: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray
    ) -> tuple[np.ndarray, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward_sequence(
        self, dC_dH: np.ndarray, cache: Any, W_ih: np.ndarray, W_hh: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- shapes and serialization -------------------------------------------------------------
    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(n_in, T) -> (H, T), or (2H, T) when bidirectional."""
        if len(input_shape) != 2 or input_shape[0] != self.n_in:
            raise ValueError(
                f"{self.kind}({self.n_in}, {self.n_hidden}) expects per-example input "
                f"(n_in={self.n_in}, T), got {tuple(input_shape)}"
            )
        return (self.n_out, int(input_shape[1]))

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_hidden": self.n_hidden, "bidirectional": self.bidirectional}


def result_zeros(shape: tuple[int, ...], *arrays: np.ndarray) -> np.ndarray:
    """Zeros of ``shape`` in the dtype the computation on ``arrays`` runs in (float32 stays
    float32, float64 stays float64)."""
    return np.zeros(shape, dtype=np.result_type(*arrays))
