"""PositionalEmbedding, TransformerBlock and a whole GPT: finite differences, a torch float64
replica built from the SAME weights (cost and every gradient by dotted key), negative controls,
gradcheck, causality end to end, and save/load of every ``cr.models`` model.

The torch replica is written here from GPT-2's equations, in torch's layout (m, T, C); nothing
of chainrule's own forward or backward is reused. torch is imported inside the tests that use it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.nn import PositionalEmbedding, TransformerBlock
from chainrule.nn.residual import Residual

F64 = np.float64


# --- PositionalEmbedding ------------------------------------------------------------------------
def _pos_layer(block_size: int = 5, n_embd: int = 3, seed: int = 0) -> PositionalEmbedding:
    layer = PositionalEmbedding(block_size, n_embd, seed=seed)
    layer.W = np.random.default_rng(seed + 10).standard_normal(layer.W.shape)  # O(1) weights
    return layer


def _pos_fd_errors(layer: PositionalEmbedding, x: np.ndarray, G: np.ndarray) -> dict[str, float]:
    cost = lambda xx: float(np.sum(layer.forward(xx) * G))  # noqa: E731
    num_W = numeric_gradient(lambda _: cost(x), layer.W)
    num_x = numeric_gradient(cost, x.copy())
    layer.forward(x)
    dx = layer.backward(G)
    return {"W": rel_err(layer.dC_dW, num_W), "x": rel_err(dx, num_x)}


@pytest.mark.parametrize("T", [5, 3, 1])
def test_positional_finite_differences(T: int) -> None:
    layer = _pos_layer(5, 3)
    rng = np.random.default_rng(T)
    x, G = rng.standard_normal((3, T, 4)), rng.standard_normal((3, T, 4))
    errors = _pos_fd_errors(layer, x, G)
    assert max(errors.values()) < 1e-6, errors


def test_positional_by_hand() -> None:
    """W = [[1, 2, 3], [10, 20, 30]] (C = 2, block_size = 3); x (2, T=2, m=2).

    A[:, t, j] = x[:, t, j] + W[:, t]: position 0 adds (1, 10), position 1 adds (2, 20), column 2
    is unused. With dC_dA = 1 everywhere, dC_dW[:, t] = m = 2 for t < T and 0 for the unused
    column; dC_dx = dC_dA.
    """
    layer = PositionalEmbedding(3, 2)
    layer.W = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    x = np.array([[[0.5, -1.0], [0.0, 4.0]], [[1.0, 1.0], [2.0, 0.0]]])  # (2, 2, 2)
    A = layer.forward(x)
    expected = np.array([[[1.5, 0.0], [2.0, 6.0]], [[11.0, 11.0], [22.0, 20.0]]])
    np.testing.assert_array_equal(A, expected)
    assert not np.shares_memory(A, x) and not np.shares_memory(A, layer.W)
    dx = layer.backward(np.ones_like(A))
    np.testing.assert_array_equal(dx, np.ones_like(A))
    np.testing.assert_array_equal(layer.dC_dW, [[2.0, 2.0, 0.0], [2.0, 2.0, 0.0]])
    G = np.zeros_like(A)
    G[1, 0, 1] = 3.0  # one entry: feature 1, position 0, example 1
    layer.backward(G)
    np.testing.assert_array_equal(layer.dC_dW, [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])


def test_positional_shorter_T_uses_first_columns_longer_raises() -> None:
    layer = _pos_layer(5, 3)
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    np.testing.assert_array_equal(layer.forward(x), x + layer.W[:, :2, None])
    full = np.random.default_rng(1).standard_normal((3, 5, 4))
    np.testing.assert_array_equal(layer.forward(full)[:, :2], full[:, :2] + layer.W[:, :2, None])
    layer.forward(x)
    layer.backward(np.ones_like(x))
    assert np.all(layer.dC_dW[:, 2:] == 0) and np.all(layer.dC_dW[:, :2] == 4)
    with pytest.raises(ValueError, match="6 positions is longer than block_size 5"):
        layer.forward(np.zeros((3, 6, 1)))
    with pytest.raises(ValueError, match=r"\(3, T, m\)"):
        layer.forward(np.zeros((4, 2, 1)))
    assert layer.output_shape((3, 4)) == (3, 4)
    with pytest.raises(ValueError, match="longer than block_size"):
        layer.output_shape((3, 6))
    with pytest.raises(RuntimeError, match="before forward"):
        PositionalEmbedding(2, 2).backward(np.zeros((2, 1, 1)))


def test_positional_gradient_matches_torch() -> None:
    import torch

    layer = _pos_layer(6, 4, seed=2)
    rng = np.random.default_rng(3)
    x, G = rng.standard_normal((4, 4, 3)), rng.standard_normal((4, 4, 3))
    A = layer.forward(x)
    dx = layer.backward(G)
    Wt = torch.tensor(layer.W, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    At = xt + Wt[:, :4, None]
    (At * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(A, At.detach().numpy(), rtol=1e-14, atol=0)
    np.testing.assert_allclose(layer.dC_dW, Wt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-14, atol=0)


class _MeanPositional(PositionalEmbedding):
    """Negative control: averages over the examples instead of summing (a classic slip)."""

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        out = super().backward(dC_dA)
        self.dC_dW = self.dC_dW / dC_dA.shape[2]
        return out


def test_positional_negative_control_fails_finite_differences() -> None:
    layer = _MeanPositional(4, 3)
    layer.W = np.random.default_rng(0).standard_normal(layer.W.shape)
    rng = np.random.default_rng(1)
    x, G = rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 4, 3))
    assert _pos_fd_errors(layer, x, G)["W"] > 0.1


# --- a torch float64 replica of the GPT, from the same weights -----------------------------------
def _tt(a: np.ndarray) -> Any:
    import torch

    return torch.tensor(np.asarray(a, dtype=F64), dtype=torch.float64, requires_grad=True)


def torch_block(x: Any, p: dict[str, Any], prefix: str, n_head: int, eps: float, residual=True):
    """GPT-2's pre-LN block on x (m, T, C), weights p[prefix + chainrule's local dotted name]."""
    import torch
    import torch.nn.functional as tF

    m, T, C = x.shape
    hs = C // n_head

    def ln(h: Any, name: str) -> Any:
        gamma, beta = p[prefix + name + ".gamma"][:, 0], p[prefix + name + ".beta"][:, 0]
        return tF.layer_norm(h, (C,), gamma, beta, eps)

    # branch 1: attention
    h = ln(x, "0.block.0")
    a = prefix + "0.block.1."
    qkv = h @ p[a + "W_qkv"].T + p[a + "b_qkv"][:, 0]  # (m, T, 3C)
    q, k, v = (t.reshape(m, T, n_head, hs).transpose(1, 2) for t in qkv.split(C, dim=2))
    S = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (m, nh, T, T)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    P = torch.softmax(S.masked_fill(future, float("-inf")), dim=-1)
    y = (P @ v).transpose(1, 2).reshape(m, T, C)
    att = y @ p[a + "W_o"].T + p[a + "b_o"][:, 0]
    x = x + att if residual else att
    # branch 2: the MLP
    h = ln(x, "1.block.0")
    up, down = prefix + "1.block.1.", prefix + "1.block.3."
    u = tF.gelu(h @ p[up + "W"].T + p[up + "b"][:, 0], approximate="tanh")
    return x + (u @ p[down + "W"].T + p[down + "b"][:, 0])


def torch_gpt(net: cr.Sequential, X: np.ndarray, y: np.ndarray, broken_residual: bool = False):
    """(cost, {dotted key: gradient}) of ``net`` on X, y (m, T) ids, computed by torch.autograd.

    Layers: 0 token Embedding, 1 PositionalEmbedding, 2 Dropout, 3 .. 3 + L - 1 blocks,
    3 + L final LayerNorm, 4 + L head Dense, then the softmax inside the cross-entropy.
    """
    import torch
    import torch.nn.functional as tF

    p = {key: _tt(P) for key, P, _, _ in net.parameters()}
    blocks = [i for i, la in enumerate(net.layers) if isinstance(la, TransformerBlock)]
    L = len(blocks)
    assert blocks == list(range(3, 3 + L))
    m, T = X.shape
    Xt = torch.tensor(X, dtype=torch.long)
    x = p["0.W"].T[Xt] + p["1.W"][:, :T].T  # (m, T, C): token + position
    for i in blocks:
        block = net.layers[i]
        eps = block.layers[0].block.layers[0].eps
        x = torch_block(x, p, f"{i}.", block.n_head, eps, residual=not (broken_residual and i == 3))
    C = x.shape[-1]
    lnf = f"{3 + L}."
    x = tF.layer_norm(x, (C,), p[lnf + "gamma"][:, 0], p[lnf + "beta"][:, 0], net.layers[3 + L].eps)
    head = f"{4 + L}."
    logits = x @ p[head + "W"].T + p[head + "b"][:, 0]  # (m, T, V)
    V = logits.shape[-1]
    cost = tF.cross_entropy(logits.reshape(m * T, V), torch.tensor(y, dtype=torch.long).reshape(-1))
    cost.backward()
    return float(cost.detach()), {key: t.grad.numpy() for key, t in p.items()}


def _tiny_gpt(scale: bool = False, seed: int = 0, **kw: Any) -> cr.Sequential:
    args = dict(vocab_size=11, block_size=7, n_layer=2, n_head=2, n_embd=8, dtype=F64, seed=seed)
    net = cr.models.gpt(**{**args, **kw})
    if scale:  # O(1) weights, and nonzero biases, gammas and betas: gradients far from tiny
        rng = np.random.default_rng(seed + 100)
        for key, P, _, _ in net.parameters():
            name = key.rsplit(".", 1)[-1]
            if name.startswith("W"):
                P *= 20.0
            elif name == "gamma":
                P += 0.3 * rng.standard_normal(P.shape)
            else:
                P += 0.2 * rng.standard_normal(P.shape)
    return net


def _ids(m: int, T: int, V: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (m, T)), rng.integers(0, V, (m, T))


def _assert_gradients_match(net: cr.Sequential, grads: dict[str, np.ndarray], tol: float) -> None:
    ours = {key: G for key, _, G, _ in net.parameters()}
    assert ours.keys() == grads.keys()
    bad = {key: rel_err(ours[key], grads[key]) for key in ours}
    assert max(bad.values()) < tol, {k: v for k, v in bad.items() if v >= tol}
    for key in ours:  # no gradient may be identically zero where torch's is not
        assert np.any(ours[key] != 0) == np.any(grads[key] != 0), key


@pytest.mark.parametrize("n_head", [1, 2])
def test_transformer_block_matches_torch(n_head: int) -> None:
    C, T, m = 8, 5, 3
    block = TransformerBlock(C, n_head, n_layer=2, seed=4).astype(F64)
    rng = np.random.default_rng(5)
    for key, P, _, _ in block.parameters():  # O(1) weights, biases, gammas and betas
        name = key.rsplit(".", 1)[-1]
        P[...] = (1.0 if name == "gamma" else 0.0) + rng.standard_normal(P.shape) * (
            0.4 if name.startswith("W") else 0.3
        )
    block.train()
    x, G = rng.standard_normal((C, T, m)), rng.standard_normal((C, T, m))
    out = block.forward(x)
    dx = block.backward(G)
    import torch

    p = {key: _tt(P) for key, P, _, _ in block.parameters()}
    xt = _tt(x)
    out_t = torch_block(xt.permute(2, 1, 0), p, "", n_head, 1e-5).permute(2, 1, 0)
    (out_t * torch.tensor(G)).sum().backward()
    assert rel_err(out, out_t.detach().numpy()) < 1e-12
    assert rel_err(dx, xt.grad.numpy()) < 1e-10
    _assert_gradients_match(block, {k: t.grad.numpy() for k, t in p.items()}, 1e-10)


@pytest.mark.parametrize("scale", [False, True])
def test_gpt_cost_and_every_gradient_match_torch(scale: bool) -> None:
    net = _tiny_gpt(scale=scale)
    X, y = _ids(4, 7, 11, seed=1)
    cost = net.loss_and_gradients(X, y)
    cost_t, grads = torch_gpt(net, X, y)
    assert abs(cost - cost_t) <= 1e-12 * abs(cost_t)
    if not scale:
        assert abs(cost - math.log(11)) < 0.05  # GPT-2's init: nearly uniform predictions
    _assert_gradients_match(net, grads, 1e-8)
    keys = [key for key, *_ in net.parameters()]
    assert "3.0.block.1.W_qkv" in keys and "4.1.block.3.b" in keys and keys[:2] == ["0.W", "1.W"]


def test_gpt_shorter_sequence_matches_torch() -> None:
    """T = 4 < block_size = 7: the positional columns 4..6 get no gradient, in both."""
    net = _tiny_gpt(scale=True, seed=3)
    X, y = _ids(2, 4, 11, seed=2)
    Y = np.zeros((11, 4, 2))
    Y[y.T, np.arange(4)[:, None], np.arange(2)[None, :]] = 1
    net.train()
    cost, _ = net.forward_backward(X.T, Y)
    cost_t, grads = torch_gpt(net, X, y)
    assert abs(cost - cost_t) <= 1e-12 * abs(cost_t)
    _assert_gradients_match(net, grads, 1e-8)
    assert np.all(net.layers[1].dC_dW[:, 4:] == 0)


def test_gpt_negative_controls_disagree() -> None:
    """A replica that forgets block 0's attention residual, and a chainrule GPT whose first
    Residual is replaced by its bare branch, both disagree with the correct model."""
    net = _tiny_gpt(scale=True)
    X, y = _ids(3, 7, 11, seed=4)
    cost = net.loss_and_gradients(X, y)
    cost_bad, grads_bad = torch_gpt(net, X, y, broken_residual=True)
    assert abs(cost - cost_bad) > 1e-3 * abs(cost)
    ours = {key: G for key, _, G, _ in net.parameters()}
    assert max(rel_err(ours[k], grads_bad[k]) for k in ours) > 1e-2
    broken = net.copy()
    block = broken.layers[3]
    block.layers[0] = block.layers[0].block  # the attention branch without its identity path
    assert not isinstance(block.layers[0], Residual)
    cost_broken = broken.loss_and_gradients(X, y)
    cost_t, _ = torch_gpt(net, X, y)
    assert abs(cost_broken - cost_t) > 1e-3 * abs(cost_t)


def test_gradcheck_tiny_gpt() -> None:
    net = _tiny_gpt(scale=True, seed=5, n_embd=4, vocab_size=5, block_size=4)
    X, y = _ids(2, 4, 5, seed=6)
    report = cr.gradcheck(net, X, y, eps=1e-5, max_entries=6)
    assert report.passed and report.max_error < 1e-6, str(report)
    assert len(report.errors) == len(net.parameters())


def test_gradcheck_tiny_gpt_with_dropout() -> None:
    """Dropout > 0: gradcheck freezes every mask (embedding, attention and branch dropouts)."""
    net = _tiny_gpt(scale=True, seed=6, n_embd=4, vocab_size=5, block_size=4, dropout=0.2)
    X, y = _ids(3, 4, 5, seed=7)
    report = cr.gradcheck(net, X, y, eps=1e-5, max_entries=5)
    assert report.max_error < 1e-6, str(report)


@pytest.mark.parametrize("t", [0, 3, 6])
def test_gpt_is_causal_end_to_end(t: int) -> None:
    net = _tiny_gpt(scale=True, seed=7, dropout=0.3)
    X, _ = _ids(3, 7, 11, seed=8)
    X2 = X.copy()
    X2[:, t] = (X[:, t] + 1 + np.arange(3)) % 11  # a different token at position t, every row
    net.eval()
    A = net.forward(X.T).copy()  # (V, T, m)
    A2 = net.forward(X2.T)
    assert A.shape == (11, 7, 3)
    np.testing.assert_allclose(A2[:, :t], A[:, :t], rtol=0, atol=1e-14)
    assert np.all(np.abs(A2[:, t:] - A[:, t:]).max(axis=0) > 0)  # position >= t does change
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=1e-12)


# --- save / load of every model of the zoo --------------------------------------------------------
ZOO = {
    "char_mlp": lambda: cr.models.char_mlp(7, context=3, n_embd=4, n_hidden=9, seed=1),
    "rnn_lm": lambda: cr.models.rnn_lm(7, n_embd=4, n_hidden=6, block_size=5, seed=2),
    "gru_lm": lambda: cr.models.gru_lm(7, n_embd=4, n_hidden=6, block_size=5, seed=3),
    "gpt": lambda: cr.models.gpt(7, block_size=5, n_layer=2, n_head=2, n_embd=8, dropout=0.1),
    "gpt64": lambda: cr.models.gpt(7, block_size=5, n_layer=1, n_head=4, n_embd=8, dtype=F64),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_model_round_trips_bit_identically(name: str, tmp_path) -> None:
    net = ZOO[name]()
    rng = np.random.default_rng(9)
    for _, P, _, _ in net.parameters():  # weights no seed could rebuild
        P += (0.1 * rng.standard_normal(P.shape)).astype(P.dtype)
    T = net.input_shape[0]
    X = rng.integers(0, 7, (4, T))
    path = tmp_path / f"{name}.npz"
    net.save(path)
    back = cr.load(path)
    assert repr(back) == repr(net)
    assert back.dtype == net.dtype and back.input_shape == net.input_shape
    assert back.output_shape == net.output_shape and back.vocab_size == 7
    keys = [key for key, *_ in net.named_arrays()]
    assert keys == [key for key, *_ in back.named_arrays()]
    for (key, la, attr), (_, lb, _) in zip(net.named_arrays(), back.named_arrays()):
        a, b = getattr(la, attr), getattr(lb, attr)
        assert a.dtype == b.dtype and a.shape == b.shape, key
        np.testing.assert_array_equal(a, b, err_msg=key)
    out, out_back = net.decision_output(X), back.decision_output(X)
    assert out.dtype == out_back.dtype
    np.testing.assert_array_equal(out, out_back)
    if name.startswith("gpt"):
        assert "3.0.block.1.W_qkv" in keys and "3.0.block.1.W_o" in keys
        assert "3.1.block.1.W" in keys and "3.1.block.3.b" in keys
        assert np.load(path)["layers/3/0/block/1/W_qkv"].shape == (24, 8)
        net.eval()
        A = net.forward(X.T)
        back.eval()
        np.testing.assert_array_equal(back.forward(X.T), A)  # the dropouts are off in eval
