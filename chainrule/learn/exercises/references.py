"""The checker's references: each exercise's random inputs, and its answer from the library's layers.

A reference never re-derives a gradient: it builds the library's own layer (``Dense``,
``Sigmoid``, ``Conv2D``, ``BatchNorm``, ``CausalSelfAttention``, ...), sets its parameters to the
exercise's inputs, runs ``forward`` then ``backward``, and reads the gradients the layer stored.
What the exercise asks for is sometimes a piece of a layer, so the layer is set up to expose it:

* attention_backward: the input x is the identity matrix (C = T*m columns), so W_qkv @ x = W_qkv
  IS the stacked [q; k; v], and W_o = I, b_o = 0 makes dC_dout the gradient of the heads' output
  y. The layer's dC_dW_qkv = dC_dqkv @ x.T is then exactly [dC_dq; dC_dk; dC_dv].
* gru_step_backward: chainrule.nn.gru.GRU always starts from h_0 = 0, so one step from any h_prev
  is chained from the GRU's own pieces, two ``Dense`` maps and the ``Sigmoid``/``Tanh`` layers;
  tests/test_exercises.py proves that chaining it over T steps reproduces ``GRU.backward``.

Every case has distinct sizes in every dimension (and m > 1), so a transposed product or a sum
over the wrong axis cannot hide (docs/math.md section 10.2). Everything is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.nn.activation import Sigmoid, Softmax, Tanh
from chainrule.nn.attention import CausalSelfAttention
from chainrule.nn.batchnorm import BatchNorm
from chainrule.nn.conv import Conv2D
from chainrule.nn.dense import Dense
from chainrule.nn.im2col import conv_output_size
from chainrule.nn.losses import CrossEntropy

__all__ = ["Case", "Arrays", "CASE_MAKERS", "REFERENCES"]

Arrays = dict[str, np.ndarray]


@dataclass
class Case:
    """One random instance: the inputs (in signature order), the number of examples m and the
    positions per example that a shared weight is summed over (out_h*out_w for a convolution)."""

    inputs: dict[str, object]
    m: int
    positions: int = 1


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


# --- dense_backward ---------------------------------------------------------------------------
DENSE_SIZES = [(4, 3, 5), (2, 5, 7), (6, 4, 9), (3, 7, 2), (5, 2, 8)]  # (n[l-1], n[l], m)


def dense_case(rng: np.random.Generator, i: int) -> Case:
    n_prev, n, m = DENSE_SIZES[i % len(DENSE_SIZES)]
    inputs = {
        "A_prev": _normal(rng, n_prev, m),
        "W": _normal(rng, n, n_prev),
        "b": _normal(rng, n, 1),
        "dC_dZ": _normal(rng, n, m),
    }
    return Case(inputs, m)


def dense_reference(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, dC_dZ: np.ndarray) -> Arrays:
    layer = Dense(W.shape[1], W.shape[0])
    layer.W, layer.b = W.copy(), b.copy()
    layer.forward(A_prev)
    dC_dA_prev = layer.backward(dC_dZ)
    return {"dC_dW": layer.dC_dW, "dC_db": layer.dC_db, "dC_dA_prev": dC_dA_prev}


# --- sigmoid_backward -------------------------------------------------------------------------
ACTIVATION_SIZES = [(3, 5), (4, 2), (6, 7), (2, 9), (5, 3)]  # (n[l], m)


def sigmoid_case(rng: np.random.Generator, i: int) -> Case:
    n, m = ACTIVATION_SIZES[i % len(ACTIVATION_SIZES)]
    return Case({"Z": _normal(rng, n, m, scale=1.5), "dC_dA": _normal(rng, n, m)}, m)


def sigmoid_reference(Z: np.ndarray, dC_dA: np.ndarray) -> Arrays:
    layer = Sigmoid()
    layer.forward(Z)
    return {"dC_dZ": layer.backward(dC_dA)}


# --- softmax_ce_gradient ----------------------------------------------------------------------
def softmax_ce_case(rng: np.random.Generator, i: int) -> Case:
    K, m = ACTIVATION_SIZES[i % len(ACTIVATION_SIZES)]
    Y = np.zeros((K, m))
    Y[rng.integers(0, K, size=m), np.arange(m)] = 1.0  # one-hot columns
    return Case({"Z": _normal(rng, K, m, scale=2.0), "Y": Y}, m)


def softmax_ce_reference(Z: np.ndarray, Y: np.ndarray) -> Arrays:
    A = Softmax().forward(Z)  # (K, m)
    return {"dC_dZ": CrossEntropy().fused_gradient(A, Y)}  # (A - Y) / m


# --- conv2d_backward --------------------------------------------------------------------------
#: (C_in, H, W, m, C_out, kh, kw, stride, padding)
CONV_SIZES = [
    (2, 5, 6, 3, 3, 3, 3, 1, 0),
    (3, 7, 6, 2, 4, 3, 3, 2, 1),
    (1, 6, 8, 4, 2, 2, 3, 1, 1),
    (2, 8, 7, 2, 3, 3, 2, 2, 0),
    (4, 6, 5, 3, 2, 2, 2, 2, 2),
]


def conv2d_case(rng: np.random.Generator, i: int) -> Case:
    C_in, H, Wd, m, C_out, kh, kw, stride, padding = CONV_SIZES[i % len(CONV_SIZES)]
    out_h = conv_output_size(H, kh, stride, padding)
    out_w = conv_output_size(Wd, kw, stride, padding)
    inputs = {
        "A_prev": _normal(rng, C_in, H, Wd, m),
        "W": _normal(rng, C_out, C_in, kh, kw),
        "b": _normal(rng, C_out, 1),
        "stride": stride,
        "padding": padding,
        "dC_dZ": _normal(rng, C_out, out_h, out_w, m),
    }
    return Case(inputs, m, positions=out_h * out_w)


def conv2d_reference(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, padding: int, dC_dZ: np.ndarray
) -> Arrays:
    C_out, C_in, kh, kw = W.shape
    layer = Conv2D(C_in, C_out, (kh, kw), stride=stride, padding=padding)
    layer.W, layer.b = W.copy(), b.copy()
    layer.forward(A_prev)
    dC_dA_prev = layer.backward(dC_dZ)
    return {"dC_dW": layer.dC_dW, "dC_db": layer.dC_db, "dC_dA_prev": dC_dA_prev}


# --- batchnorm_backward -----------------------------------------------------------------------
BATCHNORM_SIZES = [(3, 5), (4, 7), (2, 9), (6, 4), (5, 8)]  # (n, m)


def batchnorm_case(rng: np.random.Generator, i: int) -> Case:
    n, m = BATCHNORM_SIZES[i % len(BATCHNORM_SIZES)]
    x = _normal(rng, n, m) * rng.uniform(0.5, 3.0, size=(n, 1)) + _normal(rng, n, 1, scale=2.0)
    inputs = {
        "x": x,
        "gamma": rng.uniform(0.5, 2.0, size=(n, 1)),
        "beta": _normal(rng, n, 1),
        "eps": 1e-5,
        "dC_dA": _normal(rng, n, m),
    }
    return Case(inputs, m)


def batchnorm_reference(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, dC_dA: np.ndarray
) -> Arrays:
    layer = BatchNorm(x.shape[0], eps=eps)
    layer.gamma, layer.beta = gamma.copy(), beta.copy()
    layer.train()  # batch statistics: mu and var depend on every x of the row
    layer.forward(x)
    dC_dx = layer.backward(dC_dA)
    return {"dC_dgamma": layer.dC_dgamma, "dC_dbeta": layer.dC_dbeta, "dC_dx": dC_dx}


# --- gru_step_backward ------------------------------------------------------------------------
GRU_SIZES = [(3, 2, 4), (2, 4, 5), (5, 3, 2), (4, 5, 3), (6, 2, 7)]  # (n_in, H, m)


def gru_case(rng: np.random.Generator, i: int) -> Case:
    n_in, H, m = GRU_SIZES[i % len(GRU_SIZES)]
    inputs = {
        "x": _normal(rng, n_in, m),
        "h_prev": rng.uniform(-0.9, 0.9, size=(H, m)),
        "W_ih": _normal(rng, 3 * H, n_in, scale=0.8),
        "W_hh": _normal(rng, 3 * H, H, scale=0.8),
        "b_ih": _normal(rng, 3 * H, 1, scale=0.5),
        "b_hh": _normal(rng, 3 * H, 1, scale=0.5),
        "dC_dh": _normal(rng, H, m),
    }
    return Case(inputs, m)


def gru_step_reference(
    x: np.ndarray,
    h_prev: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray,
    b_hh: np.ndarray,
    dC_dh: np.ndarray,
) -> Arrays:
    """One step of chainrule.nn.gru.GRU (torch's equations), from the library's own layers.

    Extras for the hints: the gates r, z, n and dC_dZi, dC_dZh (keys starting with "_")."""
    H = h_prev.shape[0]
    input_map, hidden_map = Dense(x.shape[0], 3 * H), Dense(H, 3 * H)
    input_map.W, input_map.b = W_ih.copy(), b_ih.copy()
    hidden_map.W, hidden_map.b = W_hh.copy(), b_hh.copy()
    reset, update, candidate = Sigmoid(), Sigmoid(), Tanh()
    Z_i, Z_h = input_map.forward(x), hidden_map.forward(h_prev)  # (3H, m) each, rows r, z, n
    r = reset.forward(Z_i[:H] + Z_h[:H])
    z = update.forward(Z_i[H : 2 * H] + Z_h[H : 2 * H])
    n = candidate.forward(Z_i[2 * H :] + r * Z_h[2 * H :])
    # backward through h = (1 - z) * n + z * h_prev
    dC_dS_n = candidate.backward(dC_dh * (1 - z))
    dC_dS_r = reset.backward(dC_dS_n * Z_h[2 * H :])
    dC_dS_z = update.backward(dC_dh * (h_prev - n))
    dC_dZ_i = np.concatenate([dC_dS_r, dC_dS_z, dC_dS_n])  # (3H, m)
    dC_dZ_h = np.concatenate([dC_dS_r, dC_dS_z, dC_dS_n * r])  # (3H, m)
    dC_dx = input_map.backward(dC_dZ_i)
    dC_dh_prev = hidden_map.backward(dC_dZ_h) + dC_dh * z  # two paths into h_prev add
    return {
        "dC_dx": dC_dx,
        "dC_dh_prev": dC_dh_prev,
        "dC_dW_ih": input_map.dC_dW,
        "dC_dW_hh": hidden_map.dC_dW,
        "dC_db_ih": input_map.dC_db,
        "dC_db_hh": hidden_map.dC_db,
        "_z": z,
        "_dC_dZ_i": dC_dZ_i,
    }


# --- attention_backward -----------------------------------------------------------------------
#: (n_head, hs, T, m), always with T * m = n_head * hs (see the module docstring)
ATTENTION_SIZES = [(2, 3, 3, 2), (1, 4, 2, 2), (3, 2, 2, 3), (2, 4, 4, 2), (1, 6, 3, 2)]


def attention_case(rng: np.random.Generator, i: int) -> Case:
    nh, hs, T, m = ATTENTION_SIZES[i % len(ATTENTION_SIZES)]
    q, k, v, dC_dy = (_normal(rng, nh, hs, T, m) for _ in range(4))
    return Case({"q": q * 1.5, "k": k * 1.5, "v": v, "dC_dy": dC_dy}, m, positions=T)


def attention_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, dC_dy: np.ndarray) -> Arrays:
    nh, hs, T, m = q.shape
    C = nh * hs
    if T * m != C:
        raise ValueError(f"the attention reference needs T*m == n_head*hs, got {q.shape}")
    layer = CausalSelfAttention(C, nh)
    layer.W_qkv = np.concatenate([a.reshape(C, T * m) for a in (q, k, v)])  # (3C, C) = [q; k; v]
    layer.b_qkv = np.zeros((3 * C, 1))
    layer.W_o, layer.b_o = np.eye(C), np.zeros((C, 1))  # out = y
    x = np.eye(C).reshape(C, T, m)  # W_qkv @ x = W_qkv
    layer.forward(x)
    layer.backward(dC_dy.reshape(C, T, m))
    dC_dqkv = layer.dC_dW_qkv  # dC_dqkv @ x.T with x = I
    q_, k_, v_ = (dC_dqkv[i * C : (i + 1) * C].reshape(nh, hs, T, m) for i in range(3))
    assert layer.cache is not None
    return {"dC_dq": q_, "dC_dk": k_, "dC_dv": v_, "_P": layer.cache["P"]}


CASE_MAKERS = {
    "dense_backward": dense_case,
    "sigmoid_backward": sigmoid_case,
    "softmax_ce_gradient": softmax_ce_case,
    "conv2d_backward": conv2d_case,
    "batchnorm_backward": batchnorm_case,
    "gru_step_backward": gru_case,
    "attention_backward": attention_case,
}

REFERENCES = {
    "dense_backward": dense_reference,
    "sigmoid_backward": sigmoid_reference,
    "softmax_ce_gradient": softmax_ce_reference,
    "conv2d_backward": conv2d_reference,
    "batchnorm_backward": batchnorm_reference,
    "gru_step_backward": gru_step_reference,
    "attention_backward": attention_reference,
}
