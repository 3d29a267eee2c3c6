"""CausalSelfAttention: finite differences, a torch float64 twin, a hand-worked case, causality,
dropout, random shapes (hypothesis), negative controls, bad arguments and config."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import numeric_gradient, rel_err

from chainrule.nn import LAYER_REGISTRY, CausalSelfAttention
from chainrule.nn import attention as attention_module

PARAMS = ("W_qkv", "b_qkv", "W_o", "b_o")


def make_layer(n_embd=4, n_head=2, seed=0, dropout=0.0, scale=0.5):
    """A layer with O(1) random weights AND biases, so the softmax is far from uniform."""
    layer = CausalSelfAttention(n_embd, n_head, dropout=dropout, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for name in PARAMS:
        setattr(layer, name, rng.standard_normal(getattr(layer, name).shape) * scale)
    return layer


def data(C, T, m, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((C, T, m)), rng.standard_normal((C, T, m))


def torch_twin(layer, x, G, D=None, causal=True, sdpa=True):
    """(out, {param: grad}, dC_dx) from torch.autograd on the same weights, in torch's layout
    (m, n_head, T, hs). ``D`` is the engine's dropout factor (n_head, T, T, m), applied to P."""
    import torch

    C, T, m = x.shape
    nh, hs = layer.n_head, layer.head_size
    p = {
        n: torch.tensor(getattr(layer, n), dtype=torch.float64, requires_grad=True) for n in PARAMS
    }
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    X = xt.permute(2, 1, 0)  # (m, T, C)
    qkv = X @ p["W_qkv"].T + p["b_qkv"][:, 0]  # (m, T, 3C)
    q, k, v = (a.reshape(m, T, nh, hs).transpose(1, 2) for a in qkv.split(C, dim=2))
    if sdpa and D is None:
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    else:  # the explicit formula
        S = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (m, nh, T, T)
        if causal:
            future = torch.ones(T, T, dtype=torch.bool).triu(1)
            S = S.masked_fill(future, float("-inf"))
        P = torch.softmax(S, dim=-1)
        if D is not None:
            P = P * torch.tensor(D).permute(3, 0, 1, 2)
        y = P @ v  # (m, nh, T, hs)
    out = (y.transpose(1, 2).reshape(m, T, C) @ p["W_o"].T + p["b_o"][:, 0]).permute(2, 1, 0)
    (out * torch.tensor(G)).sum().backward()
    grads = {n: t.grad.numpy() for n, t in p.items()}
    return out.detach().numpy(), grads, xt.grad.numpy()


def assert_matches_torch(layer, x, G, tol=1e-10, **kw):
    out = layer.forward(x)
    dx = layer.backward(G)
    out_t, grads_t, dx_t = torch_twin(layer, x, G, **kw)
    np.testing.assert_allclose(out, out_t, rtol=tol, atol=tol)
    for n in PARAMS:
        np.testing.assert_allclose(getattr(layer, "dC_d" + n), grads_t[n], rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, dx_t, rtol=tol, atol=tol)


def finite_difference_errors(layer, x, G):
    """rel. error of backprop vs central differences for every parameter and the input."""
    layer.forward(x)
    dx = layer.backward(G)
    errors = {}
    for n in PARAMS:
        num = numeric_gradient(lambda _: float(np.sum(layer.forward(x) * G)), getattr(layer, n))
        errors[n] = rel_err(getattr(layer, "dC_d" + n), num)
    num_x = numeric_gradient(lambda xx: float(np.sum(layer.forward(xx) * G)), x.copy())
    errors["x"] = rel_err(dx, num_x)
    return errors


def test_finite_differences_all_parameters_and_input():
    layer = make_layer(6, 3, seed=0)
    x, G = data(6, 4, 2)
    errors = finite_difference_errors(layer, x, G)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("sdpa", [True, False])
def test_matches_torch_output_and_every_gradient(sdpa):
    layer = make_layer(8, 2, seed=3)
    x, G = data(8, 5, 3, seed=4)
    assert_matches_torch(layer, x, G, sdpa=sdpa)


def test_default_init_is_gpt2_and_still_matches_torch():
    layer = CausalSelfAttention(16, 4, seed=0)
    assert np.all(layer.b_qkv == 0) and np.all(layer.b_o == 0)
    assert abs(layer.W_qkv.std() - 0.02) < 0.003 and abs(layer.W_o.std() - 0.02) < 0.004
    x, G = data(16, 6, 2)
    assert_matches_torch(layer, x, G)


def test_hand_worked_two_positions():
    """n_embd = 2, n_head = 1 (hs = 2), q = k = v = x (W_qkv = [I; I; I]), W_o = I, biases 0.

    x_0 = (2, 0), x_1 = (1, 1). Scores S[t, s] = x_t . x_s / sqrt(2):
      position 0 attends only to itself: P[0] = (1, 0), so out_0 = v_0 = (2, 0);
      position 1: x_1 . x_0 = 2 = x_1 . x_1, equal scores, P[1] = (1/2, 1/2),
                  out_1 = (2, 0)/2 + (1, 1)/2 = (1.5, 0.5).
    Upstream G_0 = (1, 0), G_1 = (0, 1); dC_dy = G since W_o = I.
      dC_dW_o = sum_t G_t y_t^T = [[2, 0], [1.5, 0.5]],  dC_db_o = G_0 + G_1 = (1, 1).
      dC_dv_s = sum_t P[t, s] G_t: dC_dv_0 = G_0 + G_1/2 = (1, 0.5), dC_dv_1 = G_1/2 = (0, 0.5).
      dC_dP[t, s] = G_t . v_s: row 0 = (2, -), row 1 = (0, 1).
      softmax backward: row 0: 1 * (2 - 2) = 0 (a one-entry softmax is constant);
                        row 1: (1/2) * ((0, 1) - 1/2) = (-1/4, 1/4).
      dC_dq_0 = 0,  dC_dq_1 = (-1/4 k_0 + 1/4 k_1)/sqrt(2) = (-1/4, 1/4)/sqrt(2).
      dC_dk_0 = dC_dS[1, 0] q_1 / sqrt(2) = (-1/4, -1/4)/sqrt(2), dC_dk_1 = (1/4, 1/4)/sqrt(2).
      dC_dx = dC_dq + dC_dk + dC_dv (all three projections are I):
      dC_dx_0 = (1 - r, 0.5 - r), dC_dx_1 = (0, 0.5 + 2r), with r = 1 / (4 sqrt(2)).
    """
    layer = CausalSelfAttention(2, 1)
    layer.W_qkv = np.vstack([np.eye(2)] * 3)
    layer.b_qkv = np.zeros((6, 1))
    layer.W_o = np.eye(2)
    layer.b_o = np.zeros((2, 1))
    x = np.array([[2.0, 1.0], [0.0, 1.0]])[:, :, None]  # (C=2, T=2, m=1): columns x_0, x_1
    G = np.array([[1.0, 0.0], [0.0, 1.0]])[:, :, None]
    out = layer.forward(x)
    np.testing.assert_allclose(out[:, :, 0], [[2.0, 1.5], [0.0, 0.5]], atol=1e-15)
    P = layer.cache["P"][0, :, :, 0]
    np.testing.assert_allclose(P, [[1.0, 0.0], [0.5, 0.5]], atol=1e-15)
    assert P[0, 1] == 0.0  # exactly zero, not exp(-huge)
    dx = layer.backward(G)
    r = 1 / (4 * np.sqrt(2))
    np.testing.assert_allclose(layer.dC_dW_o, [[2.0, 0.0], [1.5, 0.5]], atol=1e-15)
    np.testing.assert_allclose(layer.dC_db_o, [[1.0], [1.0]], atol=1e-15)
    np.testing.assert_allclose(dx[:, :, 0], [[1 - r, 0.0], [0.5 - r, 0.5 + 2 * r]], atol=1e-15)
    np.testing.assert_allclose(layer.dC_db_qkv[4:, 0], [1.0, 1.0], atol=1e-15)  # dC_dv summed


def test_causality_the_future_never_changes_the_past():
    layer = make_layer(4, 2, seed=5)
    x, G = data(4, 6, 3, seed=6)
    out = layer.forward(x)
    for t in range(6):
        x2 = x.copy()
        x2[:, t, :] += 10.0
        out2 = layer.forward(x2)
        np.testing.assert_allclose(out2[:, :t], out[:, :t], rtol=0, atol=1e-13)
        assert not np.allclose(out2[:, t], out[:, t])
    # and backward: a gradient at positions < t sends nothing to x at positions >= t
    layer.forward(x)
    G2 = G.copy()
    G2[:, 3:] = 0.0
    assert np.all(layer.backward(G2)[:, 3:] == 0.0)


def test_first_position_and_T_equal_one_attend_only_to_themselves():
    layer = make_layer(4, 2, seed=7)
    x, G = data(4, 1, 3, seed=8)
    C = 4
    v = layer.W_qkv[2 * C :] @ x[:, 0] + layer.b_qkv[2 * C :]  # (C, m)
    np.testing.assert_allclose(layer.forward(x)[:, 0], layer.W_o @ v + layer.b_o, atol=1e-14)
    assert_matches_torch(layer, x, G)


def test_T_may_vary_between_calls_and_inputs_are_not_modified():
    layer = make_layer(6, 2, seed=9)
    for T in (5, 2, 7, 1):
        x, G = data(6, T, 2, seed=T)
        x0, G0 = x.copy(), G.copy()
        assert_matches_torch(layer, x, G)
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(G, G0)


def test_dropout_is_identity_in_eval_mode():
    plain = make_layer(4, 2, seed=1)
    drop = make_layer(4, 2, seed=1, dropout=0.5)
    x, G = data(4, 5, 3)
    drop.eval()
    np.testing.assert_array_equal(drop.forward(x), plain.forward(x))
    np.testing.assert_array_equal(drop.backward(G), plain.backward(G))
    drop.train()
    assert not np.allclose(drop.forward(x), plain.forward(x))
    D = drop.D
    assert set(np.unique(D)) <= {0.0, 2.0}  # inverted dropout: kept weights / (1 - p)
    np.testing.assert_array_equal(drop.cache["Pd"], drop.cache["P"] * D)
    T = x.shape[1]
    future = ~np.tril(np.ones((T, T), dtype=bool))
    assert np.all(drop.cache["Pd"][:, future] == 0.0)  # dropout never un-masks the future


def test_dropout_frozen_mask_passes_gradcheck_and_matches_torch():
    layer = make_layer(4, 2, seed=2, dropout=0.3)
    x, G = data(4, 4, 2, seed=3)
    layer.freeze(True)
    errors = finite_difference_errors(layer, x, G)
    assert max(errors.values()) < 1e-6, errors
    D = layer.D.copy()
    layer.forward(x)
    np.testing.assert_array_equal(layer.D, D)  # frozen: the same mask at every forward
    assert_matches_torch(layer, x, G, D=D)
    layer.freeze(False)
    layer.forward(x)
    assert not np.array_equal(layer.D, D)


def test_float32_stays_float32():
    layer = make_layer(4, 2, seed=0, dropout=0.2).astype(np.float32)
    x, G = (a.astype(np.float32) for a in data(4, 3, 2))
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(G).dtype == np.float32
    assert all(getattr(layer, "dC_d" + n).dtype == np.float32 for n in PARAMS)


@settings(max_examples=25, derandomize=True, database=None, deadline=None)
@given(
    n_head=st.integers(1, 4),
    head_size=st.integers(1, 3),
    T=st.integers(1, 6),
    m=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_torch(n_head, head_size, T, m, seed):
    C = n_head * head_size
    layer = make_layer(C, n_head, seed=seed)
    x, G = data(C, T, m, seed=seed)
    assert layer.output_shape((C, T)) == (C, T)
    assert_matches_torch(layer, x, G)


def test_negative_control_without_causal_mask_fails(monkeypatch):
    layer = make_layer(4, 2, seed=4)
    x, G = data(4, 5, 2)
    monkeypatch.setattr(attention_module, "causal_mask", lambda T: np.ones((T, T, 1), dtype=bool))
    with pytest.raises(AssertionError):
        assert_matches_torch(layer, x, G)
    out_t, _, _ = torch_twin(layer, x, G, causal=False)  # it IS full attention
    np.testing.assert_allclose(layer.forward(x), out_t, rtol=1e-10, atol=1e-10)


def test_negative_control_softmax_backward_without_its_sum_term_fails(monkeypatch):
    layer = make_layer(4, 2, seed=4)
    x, G = data(4, 5, 2)
    monkeypatch.setattr(attention_module, "softmax_backward", lambda P, dC_dP, axis: P * dC_dP)
    with pytest.raises(AssertionError):
        assert_matches_torch(layer, x, G)
    errors = finite_difference_errors(layer, x, G)
    assert errors["W_qkv"] > 1e-3 and errors["x"] > 1e-3
    assert errors["W_o"] < 1e-6  # the output projection never sees the softmax backward


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="must divide n_embd"):
        CausalSelfAttention(6, 4)
    with pytest.raises(ValueError, match="n_head"):
        CausalSelfAttention(4, 0)
    with pytest.raises(TypeError, match="n_embd"):
        CausalSelfAttention(True, 1)
    with pytest.raises(TypeError, match="n_embd"):
        CausalSelfAttention(4.0, 1)
    with pytest.raises(ValueError, match="dropout"):
        CausalSelfAttention(4, 2, dropout=1.0)
    with pytest.raises(TypeError, match="dropout"):
        CausalSelfAttention(4, 2, dropout="0.1")
    with pytest.raises(ValueError, match="seed"):
        CausalSelfAttention(4, 2, seed=-1)
    layer = CausalSelfAttention(4, 2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((4, 3, 2)))
    for bad in (np.zeros((4, 3)), np.zeros((5, 3, 2)), np.zeros((4, 0, 2)), [[1.0]]):
        with pytest.raises(ValueError, match="n_embd=4|T >= 1"):
            layer.forward(bad)
    layer.forward(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="dC_dout"):
        layer.backward(np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="per-example shape"):
        layer.output_shape((5, 3))
    with pytest.raises(ValueError, match="per-example shape"):
        layer.output_shape((4,))


def test_config_round_trip_registry_and_parameters():
    layer = CausalSelfAttention(8, 2, dropout=0.1, seed=7)
    cfg = layer.config()
    assert cfg == {"n_embd": 8, "n_head": 2, "dropout": 0.1, "seed": 7}
    assert LAYER_REGISTRY["CausalSelfAttention"] is CausalSelfAttention
    twin = LAYER_REGISTRY["CausalSelfAttention"].from_config(cfg)
    assert twin.config() == cfg
    for n in PARAMS:
        np.testing.assert_array_equal(getattr(twin, n), getattr(layer, n))  # same seed
    assert repr(layer).startswith("CausalSelfAttention(n_embd=8")
    assert CausalSelfAttention(4, 1, seed=np.random.default_rng(0)).config()["seed"] is None
    assert layer.output_shape((8, 11)) == (8, 11)
    params = layer.parameters()
    assert [p.key for p in params] == list(PARAMS)
    assert [p.decay for p in params] == [True, False, True, False]
    assert [p.P.shape for p in params] == [(24, 8), (24, 1), (8, 8), (8, 1)]
    assert layer.n_params == 24 * 8 + 24 + 64 + 8
