"""The exercises: name, title, the function the learner writes, and its statement.

Each exercise asks for ONE backward pass in the engine's notation (examples on the last axis).
The learner writes a Python file defining a function named like the exercise, with the
parameters listed here, returning the outputs listed here in that order (one output: the array
itself). ``chainrule exercise check NAME FILE`` grades it (see
:mod:`chainrule.learn.exercises.checker`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Exercise", "EXERCISES", "get_exercise", "exercise_names"]


@dataclass(frozen=True)
class Exercise:
    """One exercise. ``shapes`` gives every parameter's and output's shape in the notation."""

    name: str
    title: str
    params: tuple[str, ...]
    returns: tuple[str, ...]
    shapes: dict[str, str]
    statement: str
    see: str

    @property
    def signature(self) -> str:
        """The line the learner's file must contain, e.g. ``def dense_backward(A_prev, ...):``."""
        return f"def {self.name}({', '.join(self.params)}):"


EXERCISES: dict[str, Exercise] = {}


def _add(exercise: Exercise) -> None:
    EXERCISES[exercise.name] = exercise


_add(
    Exercise(
        name="dense_backward",
        title="the three gradients of a Dense layer: dC_dW, dC_db, dC_dA_prev",
        params=("A_prev", "W", "b", "dC_dZ"),
        returns=("dC_dW", "dC_db", "dC_dA_prev"),
        shapes={
            "A_prev": "(n[l-1], m)",
            "W": "(n[l], n[l-1])",
            "b": "(n[l], 1)",
            "dC_dZ": "(n[l], m)",
            "dC_dW": "(n[l], n[l-1])",
            "dC_db": "(n[l], 1)",
            "dC_dA_prev": "(n[l-1], m)",
        },
        statement="Forward: Z = W @ A_prev + b. Given dC_dZ (it already contains the cost's 1/m),\n"
        "return dC_dW, dC_db and dC_dA_prev.",
        see="docs/math.md section 8; chainrule.nn.dense.Dense.backward",
    )
)
_add(
    Exercise(
        name="sigmoid_backward",
        title="back through a sigmoid: dC_dZ from Z and dC_dA",
        params=("Z", "dC_dA"),
        returns=("dC_dZ",),
        shapes={"Z": "(n[l], m)", "dC_dA": "(n[l], m)", "dC_dZ": "(n[l], m)"},
        statement="Forward: A = sigmoid(Z) = 1 / (1 + exp(-Z)), element by element. Given the\n"
        "pre-activation Z and dC_dA, return dC_dZ.",
        see="docs/math.md section 6.1; chainrule.nn.activation.Sigmoid.backward",
    )
)
_add(
    Exercise(
        name="softmax_ce_gradient",
        title="the fused output gradient (A - Y)/m of softmax + cross-entropy",
        params=("Z", "Y"),
        returns=("dC_dZ",),
        shapes={"Z": "(K, m)", "Y": "(K, m)", "dC_dZ": "(K, m)"},
        statement="Forward: A = softmax(Z) column by column (each column is one example's K class\n"
        "scores), C = -(1/m) sum Y * log(A) with Y one-hot. Return dC_dZ (the 1/m lives here).",
        see="docs/math.md section 7; chainrule.nn.losses.Loss.fused_gradient",
    )
)
_add(
    Exercise(
        name="conv2d_backward",
        title="the three gradients of a Conv2D layer (stride, padding)",
        params=("A_prev", "W", "b", "stride", "padding", "dC_dZ"),
        returns=("dC_dW", "dC_db", "dC_dA_prev"),
        shapes={
            "A_prev": "(C_in, H, W, m)",
            "W": "(C_out, C_in, kh, kw)",
            "b": "(C_out, 1)",
            "stride": "int",
            "padding": "int",
            "dC_dZ": "(C_out, out_h, out_w, m)",
            "dC_dW": "(C_out, C_in, kh, kw)",
            "dC_db": "(C_out, 1)",
            "dC_dA_prev": "(C_in, H, W, m)",
        },
        statement="Forward (cross-correlation, zero padding p on both sides of H and W, stride s):\n"
        "  Z[o, y, x, j] = sum_{c,u,v} W[o, c, u, v] * A_pad[c, y*s + u, x*s + v, j] + b[o]\n"
        "with out_h = (H + 2p - kh) // s + 1 (likewise out_w). Return dC_dW, dC_db, dC_dA_prev.",
        see="docs/conv.md; chainrule.nn.conv.Conv2D.backward",
    )
)
_add(
    Exercise(
        name="batchnorm_backward",
        title="back through batch normalization in training mode",
        params=("x", "gamma", "beta", "eps", "dC_dA"),
        returns=("dC_dgamma", "dC_dbeta", "dC_dx"),
        shapes={
            "x": "(n, m)",
            "gamma": "(n, 1)",
            "beta": "(n, 1)",
            "eps": "float",
            "dC_dA": "(n, m)",
            "dC_dgamma": "(n, 1)",
            "dC_dbeta": "(n, 1)",
            "dC_dx": "(n, m)",
        },
        statement="Forward, per row (feature) over its m examples: mu = mean(x), var = mean((x-mu)**2)\n"
        "(biased), x_hat = (x - mu) / sqrt(var + eps), A = gamma * x_hat + beta. mu and var are\n"
        "the batch's, so they depend on x. Return dC_dgamma, dC_dbeta, dC_dx.",
        see="docs/conv.md; chainrule.nn.batchnorm.BatchNorm.backward",
    )
)
_add(
    Exercise(
        name="gru_step_backward",
        title="one GRU time step back: torch's equations, gates r, z, n",
        params=("x", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh", "dC_dh"),
        returns=("dC_dx", "dC_dh_prev", "dC_dW_ih", "dC_dW_hh", "dC_db_ih", "dC_db_hh"),
        shapes={
            "x": "(n_in, m)",
            "h_prev": "(H, m)",
            "W_ih": "(3H, n_in)",
            "W_hh": "(3H, H)",
            "b_ih": "(3H, 1)",
            "b_hh": "(3H, 1)",
            "dC_dh": "(H, m)",
            "dC_dx": "(n_in, m)",
            "dC_dh_prev": "(H, m)",
            "dC_dW_ih": "(3H, n_in)",
            "dC_dW_hh": "(3H, H)",
            "dC_db_ih": "(3H, 1)",
            "dC_db_hh": "(3H, 1)",
        },
        statement="Forward (rows of W_ih, W_hh, b_ih, b_hh stacked in the gate order r, z, n):\n"
        "  Z_i = W_ih @ x + b_ih,  Z_h = W_hh @ h_prev + b_hh           (3H, m)\n"
        "  r = sigmoid(Z_i[r] + Z_h[r]),  z = sigmoid(Z_i[z] + Z_h[z])\n"
        "  n = tanh(Z_i[n] + r * Z_h[n]),  h = (1 - z) * n + z * h_prev   (H, m)\n"
        "Given dC_dh = dC/dh, return the gradients of the step's inputs and parameters.",
        see="docs/sequences.md; chainrule.nn.gru.GRU.backward",
    )
)
_add(
    Exercise(
        name="attention_backward",
        title="the core of causal self-attention back: dC_dq, dC_dk, dC_dv",
        params=("q", "k", "v", "dC_dy"),
        returns=("dC_dq", "dC_dk", "dC_dv"),
        shapes={
            "q": "(nh, hs, T, m)",
            "k": "(nh, hs, T, m)",
            "v": "(nh, hs, T, m)",
            "dC_dy": "(nh, hs, T, m)",
            "dC_dq": "(nh, hs, T, m)",
            "dC_dk": "(nh, hs, T, m)",
            "dC_dv": "(nh, hs, T, m)",
        },
        statement="Forward, for every head h and example j (t, s are positions):\n"
        "  S[t, s] = sum_d q[d, t] k[d, s] / sqrt(hs)\n"
        "  P[t, :] = softmax over s <= t of S[t, :], P[t, s] = 0 for s > t (causal)\n"
        "  y[d, t] = sum_s P[t, s] v[d, s]\n"
        "Given dC_dy, return dC_dq, dC_dk, dC_dv.",
        see="docs/sequences.md; chainrule.nn.attention.CausalSelfAttention.backward",
    )
)


def exercise_names() -> list[str]:
    """The exercises' names, in the order they are listed (easiest first)."""
    return list(EXERCISES)


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name``; a ValueError listing the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"an exercise name must be a string, got {type(name).__name__}")
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; known: {', '.join(EXERCISES)}")
    return EXERCISES[name]
