"""Diagnosing common mistakes: a learner's wrong output is compared with MUTATED references.

Each mutation is what a known mistake produces, computed from the reference's own correct
answer (or from the library's functions): the sign flipped, an extra 1/m, a transposed product,
the bias summed from dC_dW (the notebook's bug, docs/math.md section 10.1), a sum over the wrong
axis, the activation's derivative taken at Z instead of A, ... When a wrong output equals one of
them, the checker names that mistake. A mutation is a triple ``(output, candidate, hint)``.

Shapes are diagnosed first, by pattern (``(n,)`` for ``(n, 1)``, ``(n, n)`` from broadcasting,
a reversed shape, m columns left where they should have been summed), when no mutation of that
shape explains them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule.learn.exercises.references import Arrays, Case
from chainrule.nn import functional as F
from chainrule.nn.attention import matmul_heads, softmax_backward
from chainrule.nn.conv import Conv2D
from chainrule.nn.im2col import pad_images

__all__ = ["Mistake", "mistakes_for", "shape_hint", "region", "HINT"]

Mistake = tuple[str, np.ndarray, str]

HINT = {
    "sign": "wrong sign: your result is exactly minus the right one (check a subtraction such "
    "as A - Y vs Y - A, or (h_prev - n) vs (n - h_prev))",
    "extra_m": "an extra 1/m: your result is m times too small. dC_dZ already carries the "
    "cost's 1/m (docs/math.md section 5); no layer divides by m again (np.mean instead of "
    "np.sum does it too)",
    "missing_m": "missing the 1/m: your result is m times too large. The cost averages over the "
    "m examples, so its gradient (A - Y)/m carries the 1/m (docs/math.md section 5)",
    "transposed": "transposed: your result is the transpose of the right one; swap the factors "
    "of the product and transpose them (dC_dZ @ A_prev.T, not A_prev @ dC_dZ.T)",
    "keepdims": "shape (n,) where (n, 1) belongs: np.sum(..., axis=1) drops the axis; use "
    "keepdims=True so that the bias gradient stays a column like b",
    "broadcast": "broadcasting: an (n,) array met an (n, 1) array and NumPy silently made an "
    "(n, n) matrix; keep column vectors (n, 1) (keepdims=True) on every line",
    "sum_m": "missing the sum over the m examples: every example uses the same parameter, so "
    "its gradient sums the examples' contributions (np.sum(..., axis=1, keepdims=True))",
    "wrong_axis": "summed over the wrong axis: axis=0 adds up the neurons; the examples are on "
    "the LAST axis (axis=1 for (n, m))",
    "notebook_db": "your bias gradient sums dC_dW; it must sum dC_dZ over the m examples "
    "(dZ/db = 1 for every example). This is the notebook's bug, docs/math.md section 10.1",
    "reversed_shape": "the shape is reversed: a transposed product (or a missing .T) somewhere",
    "z_for_a": "you used Z where A = sigmoid(Z) belongs: sigmoid'(Z) = A * (1 - A), with A the "
    "activation, not the pre-activation Z",
    "sigmoid_twice": "you applied the sigmoid twice: A * (1 - A) needs A = sigmoid(Z) once",
    "no_upstream": "you forgot the upstream gradient: the chain rule multiplies the local "
    "derivative A * (1 - A) by dC_dA",
    "half_derivative": "missing the factor (1 - A): sigmoid'(Z) = A * (1 - A)",
    "logits_for_a": "you used the logits Z where the probabilities A = softmax(Z) belong: "
    "dC_dZ = (softmax(Z) - Y) / m",
    "softmax_axis": "softmax over the wrong axis: each COLUMN (one example) is a distribution, "
    "so normalize over axis=0 (the classes), not axis=1",
    "divided_by_k": "divided by the number of classes K instead of the number of examples m",
    "mean_all": "divided by K*m (np.mean over the whole array): the cost averages over the m "
    "examples only, so divide by m = Z.shape[1]",
    "sum_positions": "missing the sum over positions: one bias per output channel is shared by "
    "every (row, column) position of every example, so sum over axes (1, 2, 3)",
    "sum_m_conv": "summed over the positions but not over the m examples: sum over axes "
    "(1, 2, 3), keeping the result (C_out, 1)",
    "notebook_db_conv": "your bias gradient sums dC_dW; it must sum dC_dZ over every position "
    "and example (the notebook's bug, docs/math.md section 10.1, in two dimensions)",
    "flipped": "the kernel is flipped: the layer computes cross-correlation (as every "
    "deep-learning library does), so no [::-1, ::-1] anywhere",
    "padding_kept": "you returned the gradient of the PADDED input: drop the padding's border, "
    "dC_dA_pad[:, p:p+H, p:p+W, :]",
    "bn_constants": "you treated mu and var as constants: in training they are computed from "
    "the batch, so every x of a row also reaches the cost through them (docs/conv.md)",
    "bn_x_for_xhat": "dC_dgamma multiplies dC_dA by x_hat (the normalized input), not by x",
    "bn_no_gamma": "missing gamma: dC_dx_hat = dC_dA * gamma comes before the normalization's "
    "backward",
    "gru_direct": "missing the direct path: h = (1 - z) * n + z * h_prev also uses h_prev "
    "itself, so dC_dh_prev needs + dC_dh * z",
    "gru_gates": "missing the path through the gates: dC_dh_prev = W_hh.T @ dC_dZ_h + dC_dh * z",
    "gru_r": "the n rows of dC_dZ_h carry an extra factor r: n = tanh(Z_in + r * Z_hn), so "
    "dC_dZ_hn = dC_dS_n * r while dC_dZ_in = dC_dS_n",
    "att_scale": "missing the scale 1/sqrt(hs): S = q^T k / sqrt(hs), so dC_dq and dC_dk carry it",
    "att_scale_twice": "divided by sqrt(hs) twice",
    "att_swapped": "dC_dq and dC_dk are swapped: dC_dq sums dC_dS[t, s] k_s over s, dC_dk sums "
    "dC_dS[t, s] q_t over t",
    "att_p_transposed": "P is used untransposed: y_t = sum_s P[t, s] v_s, so dC_dv_s = sum_t "
    "P[t, s] dC_dy_t (P^T, a sum over t)",
    "att_softmax_diag": "the softmax's Jacobian is not diagonal: dC_dS = P * (dC_dP - "
    "sum_s dC_dP * P), not P * (1 - P) * dC_dP",
    "att_no_mask": "the causal mask is missing: position t may only attend to s <= t",
}


def generic_mistakes(name: str, e: np.ndarray, case: Case) -> list[Mistake]:
    """Mutations of any output: sign, an extra 1/m, a transpose, (n,) for (n, 1)."""
    found = [(name, -e, HINT["sign"]), (name, e / case.m, HINT["extra_m"])]
    if e.ndim == 2 and e.shape[0] != e.shape[1]:
        found.append((name, e.T, HINT["transposed"]))
    if e.ndim == 2 and e.shape[1] == 1:
        found.append((name, e[:, 0], HINT["keepdims"]))
    return found


def shape_hint(expected: tuple[int, ...], received: tuple[int, ...], case: Case) -> str | None:
    """A hint from the shapes alone, or None."""
    if len(expected) == 2 and expected[1] == 1:
        n = expected[0]
        if received == (n,):
            return HINT["keepdims"]
        if received == (n, n):
            return HINT["broadcast"]
        if received == (n, case.m):
            return HINT["sum_m"]
        if received == (1, case.m):
            return HINT["wrong_axis"]
    if received == tuple(reversed(expected)) and received != expected:
        return HINT["reversed_shape"]
    return None


def dense_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    A_prev, W, dC_dZ = (case.inputs[k] for k in ("A_prev", "W", "dC_dZ"))
    assert isinstance(A_prev, np.ndarray) and isinstance(W, np.ndarray)
    assert isinstance(dC_dZ, np.ndarray)
    return [
        ("dC_db", np.sum(ref["dC_dW"], axis=1, keepdims=True), HINT["notebook_db"]),
        ("dC_db", dC_dZ, HINT["sum_m"]),
        ("dC_db", np.sum(dC_dZ, axis=0, keepdims=True), HINT["wrong_axis"]),
        ("dC_dW", A_prev @ dC_dZ.T, HINT["transposed"]),
        ("dC_dA_prev", dC_dZ.T @ W, HINT["transposed"]),
    ]


def sigmoid_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    Z, dC_dA = case.inputs["Z"], case.inputs["dC_dA"]
    assert isinstance(Z, np.ndarray) and isinstance(dC_dA, np.ndarray)
    A = F.sigmoid(Z)
    AA = F.sigmoid(A)
    return [
        ("dC_dZ", dC_dA * Z * (1 - Z), HINT["z_for_a"]),
        ("dC_dZ", dC_dA * AA * (1 - AA), HINT["sigmoid_twice"]),
        ("dC_dZ", A * (1 - A), HINT["no_upstream"]),
        ("dC_dZ", dC_dA * A, HINT["half_derivative"]),
    ]


def softmax_ce_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    Z, Y = case.inputs["Z"], case.inputs["Y"]
    assert isinstance(Z, np.ndarray) and isinstance(Y, np.ndarray)
    K, m = Z.shape
    A = F.softmax(Z, axis=0)
    return [
        ("dC_dZ", A - Y, HINT["missing_m"]),
        ("dC_dZ", (Z - Y) / m, HINT["logits_for_a"]),
        ("dC_dZ", (F.softmax(Z, axis=1) - Y) / m, HINT["softmax_axis"]),
        ("dC_dZ", (A - Y) / K, HINT["divided_by_k"]),
        ("dC_dZ", (A - Y) / (K * m), HINT["mean_all"]),
    ]


def conv2d_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    A_prev, W, dC_dZ = (case.inputs[k] for k in ("A_prev", "W", "dC_dZ"))
    assert isinstance(A_prev, np.ndarray) and isinstance(W, np.ndarray)
    assert isinstance(dC_dZ, np.ndarray)
    s, p = case.inputs["stride"], case.inputs["padding"]
    assert isinstance(s, int) and isinstance(p, int)
    C_out, C_in, kh, kw = W.shape
    found = [
        ("dC_db", dC_dZ.sum(axis=3), HINT["sum_positions"]),
        ("dC_db", dC_dZ.sum(axis=3, keepdims=True), HINT["sum_positions"]),
        ("dC_db", dC_dZ.sum(axis=(1, 2)), HINT["sum_m_conv"]),
        ("dC_db", ref["dC_dW"].sum(axis=(1, 2, 3)).reshape(C_out, 1), HINT["notebook_db_conv"]),
        ("dC_dW", ref["dC_dW"][:, :, ::-1, ::-1], HINT["flipped"]),
    ]
    flipped = Conv2D(C_in, C_out, (kh, kw), stride=s, padding=p)
    flipped.W = W[:, :, ::-1, ::-1].copy()
    flipped.forward(A_prev)
    found.append(("dC_dA_prev", flipped.backward(dC_dZ), HINT["flipped"]))
    if p > 0:  # the same layer without padding, run on the padded input
        unpadded = Conv2D(C_in, C_out, (kh, kw), stride=s, padding=0)
        unpadded.W = W.copy()
        unpadded.forward(pad_images(A_prev, p, p))
        found.append(("dC_dA_prev", unpadded.backward(dC_dZ), HINT["padding_kept"]))
    return found


def batchnorm_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    x, gamma, eps, dC_dA = (case.inputs[k] for k in ("x", "gamma", "eps", "dC_dA"))
    assert isinstance(x, np.ndarray) and isinstance(gamma, np.ndarray)
    assert isinstance(dC_dA, np.ndarray) and isinstance(eps, float)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    return [
        ("dC_dx", gamma * inv_std * dC_dA, HINT["bn_constants"]),
        ("dC_dx", ref["dC_dx"] / gamma, HINT["bn_no_gamma"]),
        ("dC_dgamma", np.sum(dC_dA * x, axis=1, keepdims=True), HINT["bn_x_for_xhat"]),
    ]


def gru_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    dC_dh, h_prev = case.inputs["dC_dh"], case.inputs["h_prev"]
    assert isinstance(dC_dh, np.ndarray) and isinstance(h_prev, np.ndarray)
    direct = dC_dh * ref["_z"]
    return [
        ("dC_dh_prev", ref["dC_dh_prev"] - direct, HINT["gru_direct"]),
        ("dC_dh_prev", direct, HINT["gru_gates"]),
        ("dC_db_hh", ref["dC_db_ih"], HINT["gru_r"]),
        ("dC_dW_hh", ref["_dC_dZ_i"] @ h_prev.T, HINT["gru_r"]),
    ]


def attention_mistakes(case: Case, ref: Arrays) -> list[Mistake]:
    q, k, v, dC_dy = (case.inputs[name] for name in ("q", "k", "v", "dC_dy"))
    assert isinstance(q, np.ndarray) and isinstance(k, np.ndarray)
    assert isinstance(v, np.ndarray) and isinstance(dC_dy, np.ndarray)
    root = np.sqrt(q.shape[1])
    P = ref["_P"]  # (nh, T, T, m), the layer's own attention weights
    dC_dP = matmul_heads(dC_dy.swapaxes(1, 2), v)  # (nh, T, T, m)
    S = matmul_heads(q.swapaxes(1, 2), k) / root
    P_open = F.softmax(S, axis=2)  # no causal mask
    dS_diag = P * (1 - P) * dC_dP
    dS_open = softmax_backward(P_open, dC_dP, axis=2)
    found: list[Mistake] = []
    for name, scale in (("dC_dq", root), ("dC_dk", root)):
        found += [(name, ref[name] * scale, HINT["att_scale"])]
        found += [(name, ref[name] / scale, HINT["att_scale_twice"])]
    found += [
        ("dC_dq", ref["dC_dk"], HINT["att_swapped"]),
        ("dC_dk", ref["dC_dq"], HINT["att_swapped"]),
        ("dC_dv", matmul_heads(dC_dy, P.swapaxes(1, 2)), HINT["att_p_transposed"]),
        ("dC_dv", matmul_heads(dC_dy, P_open), HINT["att_no_mask"]),
        ("dC_dq", matmul_heads(k, dS_diag.swapaxes(1, 2)) / root, HINT["att_softmax_diag"]),
        ("dC_dk", matmul_heads(q, dS_diag) / root, HINT["att_softmax_diag"]),
        ("dC_dq", matmul_heads(k, dS_open.swapaxes(1, 2)) / root, HINT["att_no_mask"]),
        ("dC_dk", matmul_heads(q, dS_open) / root, HINT["att_no_mask"]),
    ]
    return found


MISTAKES: dict[str, Callable[[Case, Arrays], list[Mistake]]] = {
    "dense_backward": dense_mistakes,
    "sigmoid_backward": sigmoid_mistakes,
    "softmax_ce_gradient": softmax_ce_mistakes,
    "conv2d_backward": conv2d_mistakes,
    "batchnorm_backward": batchnorm_mistakes,
    "gru_step_backward": gru_mistakes,
    "attention_backward": attention_mistakes,
}


def mistakes_for(exercise: str, case: Case, ref: Arrays) -> list[Mistake]:
    """The exercise's own mutations first, then the generic ones of every output."""
    found = list(MISTAKES[exercise](case, ref)) if exercise in MISTAKES else []
    for name, e in ref.items():
        if not name.startswith("_"):
            found += generic_mistakes(name, e, case)
    return found


GRU_GATES = ("r (the reset gate)", "z (the update gate)", "n (the candidate state)")


def region(exercise: str, output: str, bad: np.ndarray) -> str | None:
    """Where inside an output the error lies, in the exercise's terms; ``bad`` marks the wrong
    entries (a boolean array of the output's shape). None when nothing more precise applies."""
    if exercise == "gru_step_backward" and output in (
        "dC_dW_ih",
        "dC_dW_hh",
        "dC_db_ih",
        "dC_db_hh",
    ):
        H = bad.shape[0] // 3
        gates = [GRU_GATES[g] for g in range(3) if bad[g * H : (g + 1) * H].any()]
        return "the rows of gate " + ", ".join(gates) + " (rows in the order r, z, n)"
    if exercise == "attention_backward":
        t = int(np.argwhere(bad.any(axis=(0, 1, 3)))[0, 0])
        heads = [int(h) for h in np.flatnonzero(bad.any(axis=(1, 2, 3)))]
        return f"first at position t = {t}, counting from 0 (head(s) {heads})"
    return None
