"""RNN / GRU / LSTM: finite differences == torch.autograd == numbers worked by hand.

Every comparison is in float64. The engine's sequences are (n_in, T, m); torch's (batch_first
False) are (T, m, n_in): ``X.transpose(1, 2, 0)`` converts, ``out.transpose(2, 0, 1)`` converts
back. torch is imported inside the tests that use it, so the finite-difference tests run
without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import numeric_gradient, rel_err

import chainrule as cr
from chainrule.nn import GRU, LAYER_REGISTRY, LSTM, RNN
from chainrule.nn.recurrent import Recurrent

if TYPE_CHECKING:  # only for annotations: torch is imported where it is used
    import torch

KINDS = (RNN, GRU, LSTM)
#: (our name, torch's name) of one direction's parameters
TORCH_NAMES = (("W_ih", "weight_ih_l0"), ("W_hh", "weight_hh_l0"))
TORCH_NAMES += (("b_ih", "bias_ih_l0"), ("b_hh", "bias_hh_l0"))
CASES = [(cls, bi) for cls in KINDS for bi in (False, True)]
CASE_IDS = [f"{cls.__name__}-{'bi' if bi else 'uni'}" for cls, bi in CASES]


def layer_case(layer: Recurrent, X: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    """forward, a random upstream gradient G, and backward: the cost is C = sum(G * A)."""
    A = layer.forward(X)
    G = np.random.default_rng(seed).standard_normal(A.shape)
    return A, G, layer.backward(G)


def torch_twin(layer: Recurrent) -> torch.nn.Module:
    """torch.nn.RNN / GRU / LSTM in float64 holding exactly ``layer``'s parameters."""
    import torch

    cls = {"RNN": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}[layer.kind]
    mod = cls(layer.n_in, layer.n_hidden, bidirectional=layer.bidirectional, dtype=torch.float64)
    with torch.no_grad():
        for d in layer.directions:
            for ours, theirs in TORCH_NAMES:
                P = getattr(layer, ours + d)
                P = P[:, 0] if ours.startswith("b") else P  # torch's biases are 1-D
                getattr(mod, theirs + d).copy_(torch.from_numpy(P))
    return mod


def torch_errors(layer: Recurrent, X: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Largest |ours - torch's| of the output, the input gradient and every parameter gradient,
    with the same random upstream gradient G for both."""
    import torch

    A, G, dX = layer_case(layer, X, seed)
    mod = torch_twin(layer)
    Xt = torch.tensor(X.transpose(1, 2, 0), requires_grad=True)  # (T, m, n_in)
    out, _ = mod(Xt)  # (T, m, D*H)
    (out * torch.from_numpy(G.transpose(1, 2, 0))).sum().backward()
    errors = {
        "A": float(np.abs(A - out.detach().numpy().transpose(2, 0, 1)).max()),
        "dC_dA_prev": float(np.abs(dX - Xt.grad.numpy().transpose(2, 0, 1)).max()),
    }
    for d in layer.directions:
        for ours, theirs in TORCH_NAMES:
            G_torch = getattr(mod, theirs + d).grad.numpy()
            G_ours = getattr(layer, "dC_d" + ours + d)
            assert G_ours.shape == getattr(layer, ours + d).shape
            errors["dC_d" + ours + d] = float(np.abs(G_ours.reshape(G_torch.shape) - G_torch).max())
    return errors


def assert_matches_torch(layer: Recurrent, X: np.ndarray, seed: int = 0) -> None:
    errors = torch_errors(layer, X, seed)
    bad = {k: v for k, v in errors.items() if not v < 1e-10}
    assert not bad, f"{layer!r} differs from torch: {bad}"


# --- torch.autograd ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls, bidirectional", CASES, ids=CASE_IDS)
def test_matches_torch(cls: type[Recurrent], bidirectional: bool) -> None:
    layer = cls(3, 4, bidirectional=bidirectional, seed=0)
    X = np.random.default_rng(1).standard_normal((3, 6, 5))
    errors = torch_errors(layer, X)
    expected = {"A", "dC_dA_prev"} | {"dC_d" + p for p in layer.param_names}
    assert set(errors) == expected  # every gradient was compared
    assert max(errors.values()) < 1e-10, errors


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(CASES),
    st.integers(1, 4),  # n_in
    st.integers(1, 4),  # H
    st.integers(1, 6),  # T
    st.integers(1, 4),  # m
    st.integers(0, 2**31 - 1),
)
def test_matches_torch_random_shapes(
    case: Any, n_in: int, H: int, T: int, m: int, seed: int
) -> None:
    cls, bidirectional = case
    layer = cls(n_in, H, bidirectional=bidirectional, seed=seed)
    X = 2 * np.random.default_rng(seed).standard_normal((n_in, T, m))
    assert layer.forward(X).shape == (layer.n_out, *layer.output_shape((n_in, T))[1:], m)
    assert_matches_torch(layer, X, seed)


# --- finite differences (no torch) ------------------------------------------------------------
@pytest.mark.parametrize("cls, bidirectional", CASES, ids=CASE_IDS)
def test_finite_differences(cls: type[Recurrent], bidirectional: bool) -> None:
    """Central differences of C = sum(G * A) for every parameter and for the input."""
    layer = cls(2, 3, bidirectional=bidirectional, seed=3)
    X = np.random.default_rng(4).standard_normal((2, 4, 2))
    _, G, dX = layer_case(layer, X, seed=5)

    def cost(_: np.ndarray) -> float:
        return float(np.sum(G * layer.forward(X)))

    assert rel_err(dX, numeric_gradient(cost, X)) < 1e-6
    for name in layer.param_names:
        numeric = numeric_gradient(cost, getattr(layer, name))
        assert rel_err(getattr(layer, "dC_d" + name), numeric) < 1e-6, name


# --- a tiny RNN by hand -----------------------------------------------------------------------
def tiny_rnn() -> RNN:
    layer = RNN(1, 1, seed=0)
    layer.W_ih[:], layer.W_hh[:], layer.b_ih[:], layer.b_hh[:] = 1.0, 0.5, 0.1, 0.1
    return layer


def test_rnn_by_hand_two_steps() -> None:
    """n_in = H = 1, T = 2, m = 1; W_ih = 1, W_hh = 0.5, b_ih = b_hh = 0.1; x = (1, -1);
    cost C = h_1 + h_2 (dC_dA = [1, 1]).

    Forward (h_0 = 0):
        Z_1 = 1*1 + 0.1 + 0.5*0 + 0.1 = 1.2                      h_1 = tanh(1.2)  =  0.833655
        Z_2 = 1*(-1) + 0.1 + 0.5*0.833655 + 0.1 = -0.383173     h_2 = tanh(Z_2) = -0.365460

    Backward, t = 2 (nothing after it, so the carried gradient is 0):
        dC/dh_2 = 1 + 0 = 1
        delta_2 = dC/dZ_2 = 1 * (1 - 0.365460^2) = 0.866439
        carried to h_1: W_hh * delta_2 = 0.5 * 0.866439 = 0.433220
    t = 1: h_1 reaches C along TWO paths, its own output and h_2:
        dC/dh_1 = 1 + 0.433220 = 1.433220
        delta_1 = 1.433220 * (1 - 0.833655^2) = 1.433220 * 0.305020 = 0.437161

    Each weight's gradient is the sum over both steps:
        dC/dW_hh = delta_2 * h_1 + delta_1 * h_0 = 0.866439*0.833655 + 0.437161*0 = 0.722311
        dC/dW_ih = delta_2 * x_2 + delta_1 * x_1 = -0.866439 + 0.437161          = -0.429279
        dC/db_ih = dC/db_hh = delta_1 + delta_2                                 =  1.303600
        dC/dx_1 = W_ih * delta_1 = 0.437161,  dC/dx_2 = W_ih * delta_2 = 0.866439

    With h_0 = 0 the step-1 term of dC/dW_hh vanishes, so at T = 2 the carried gradient shows in
    W_ih, b and x_1 (forgetting it would give delta_1 = 0.305020 and dC/dW_ih = -0.561419);
    the next test adds a third step, where both terms of dC/dW_hh are non-zero.
    """
    layer = tiny_rnn()
    A = layer.forward(np.array([1.0, -1.0]).reshape(1, 2, 1))
    np.testing.assert_allclose(A.ravel(), [0.833655, -0.365460], atol=1e-6)
    dX = layer.backward(np.ones((1, 2, 1)))
    np.testing.assert_allclose(dX.ravel(), [0.437161, 0.866439], atol=1e-6)
    assert layer.dC_dW_hh[0, 0] == pytest.approx(0.722311, abs=1e-6)
    assert layer.dC_dW_ih[0, 0] == pytest.approx(-0.429279, abs=1e-6)
    assert layer.dC_db_ih[0, 0] == pytest.approx(1.303600, abs=1e-6)
    assert layer.dC_db_hh[0, 0] == pytest.approx(1.303600, abs=1e-6)
    # the formulas of the docstring, from the layer's own h_t
    h1, h2 = A.ravel()
    delta_2 = 1 - h2**2
    delta_1 = (1 + 0.5 * delta_2) * (1 - h1**2)
    assert layer.dC_dW_hh[0, 0] == pytest.approx(delta_2 * h1 + delta_1 * 0.0, rel=1e-12)
    assert layer.dC_dW_ih[0, 0] == pytest.approx(-delta_2 + delta_1, rel=1e-12)


def test_rnn_by_hand_two_paths_in_W_hh() -> None:
    """The same RNN with a third input x_3 = 0.5, cost C = h_1 + h_2 + h_3.

    Forward: h_1 = 0.833655 and h_2 = -0.365460 as before;
        Z_3 = 0.5 + 0.2 + 0.5*(-0.365460) = 0.517270,  h_3 = tanh(Z_3) = 0.475590
    Backward:
        delta_3 = 1 * (1 - 0.475590^2)                         = 0.773814
        dC/dh_2 = 1 + 0.5*0.773814 = 1.386907;  delta_2 = 1.386907 * 0.866439 = 1.201671
        dC/dh_1 = 1 + 0.5*1.201671 = 1.600835;  delta_1 = 1.600835 * 0.305020 = 0.488287
    dC/dW_hh = delta_3 * h_2 + delta_2 * h_1 + delta_1 * h_0
             = 0.773814*(-0.365460) + 1.201671*0.833655 + 0 = -0.282798 + 1.001778 = 0.718981
    Here delta_2 carries step 3's gradient (the 0.5*0.773814), so dropping the carried gradient
    changes dC/dW_hh too: delta_2 would be 0.866439 and dC/dW_hh 0.439513.
    """
    layer = tiny_rnn()
    A = layer.forward(np.array([1.0, -1.0, 0.5]).reshape(1, 3, 1))
    np.testing.assert_allclose(A.ravel(), [0.833655, -0.365460, 0.475590], atol=1e-6)
    dX = layer.backward(np.ones((1, 3, 1)))
    np.testing.assert_allclose(dX.ravel(), [0.488287, 1.201671, 0.773814], atol=1e-6)
    assert layer.dC_dW_hh[0, 0] == pytest.approx(0.718981, abs=1e-6)
    forgetful = ForgetfulRNN(1, 1)
    forgetful.W_ih, forgetful.W_hh, forgetful.b_ih, forgetful.b_hh = (
        layer.W_ih,
        layer.W_hh,
        layer.b_ih,
        layer.b_hh,
    )
    forgetful.forward(np.array([1.0, -1.0, 0.5]).reshape(1, 3, 1))
    forgetful.backward(np.ones((1, 3, 1)))
    assert forgetful.dC_dW_hh[0, 0] == pytest.approx(0.439513, abs=1e-6)


# --- negative controls: the oracles catch the classic mistakes -------------------------------
class ForgetfulRNN(RNN):
    """BPTT that forgets the gradient carried back from step t+1 (truncated to one step)."""

    def _backward_sequence(self, dC_dH, cache, W_ih, W_hh):  # type: ignore[no-untyped-def]
        X, Hs = cache
        dC_dZ = dC_dH * (1 - Hs[:, 1:] ** 2)  # (H, T, m): dC/dh_t = dC_dA[:, t-1] only
        # nothing crosses from step to step, so the sums over t are products over T*m columns
        Z2, X2, Hp2 = (a.reshape(a.shape[0], -1) for a in (dC_dZ, X, Hs[:, :-1]))
        db = np.sum(Z2, axis=1, keepdims=True)
        dX = np.einsum("hi,htm->itm", W_ih, dC_dZ)
        return dX, (Z2 @ X2.T, Z2 @ Hp2.T, db, db.copy())


class SwappedGatesGRU(GRU):
    """A GRU that reads its stacked rows as z, r, n instead of torch's r, z, n."""

    def _forward_sequence(self, X, W_ih, W_hh, b_ih, b_hh):  # type: ignore[no-untyped-def]
        H = self.n_hidden
        p = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H]
        return super()._forward_sequence(X, W_ih[p], W_hh[p], b_ih[p], b_hh[p])


def test_negative_control_bptt_without_carried_gradient_fails() -> None:
    X = np.random.default_rng(0).standard_normal((2, 5, 3))
    layer = ForgetfulRNN(2, 3, seed=1)
    errors = torch_errors(layer, X)
    assert errors["A"] < 1e-12  # the forward pass is right ...
    for key in ("dC_dA_prev", "dC_dW_ih", "dC_dW_hh", "dC_db_ih"):
        assert errors[key] > 1e-3, key  # ... every gradient through time is not
    with pytest.raises(AssertionError, match="differs from torch"):
        assert_matches_torch(layer, X)
    # and the finite differences catch it too, without torch
    _, G, _ = layer_case(layer, X, seed=2)
    numeric = numeric_gradient(lambda _: float(np.sum(G * layer.forward(X))), layer.W_hh)
    assert rel_err(layer.dC_dW_hh, numeric) > 1e-2


def test_negative_control_gru_wrong_gate_order_fails() -> None:
    X = np.random.default_rng(0).standard_normal((2, 4, 3))
    layer = SwappedGatesGRU(2, 3, seed=1)
    assert torch_errors(layer, X)["A"] > 1e-3
    with pytest.raises(AssertionError, match="differs from torch"):
        assert_matches_torch(layer, X)


# --- the layer contract -----------------------------------------------------------------------
@pytest.mark.parametrize("cls", KINDS)
def test_parameters_as_torch(cls: type[Recurrent]) -> None:
    gates = {RNN: 1, GRU: 3, LSTM: 4}[cls]
    layer = cls(3, 5, bidirectional=True, seed=0)
    mod = torch_twin(layer)
    names = [p + d for d in ("", "_reverse") for p in ("W_ih", "W_hh", "b_ih", "b_hh")]
    assert layer.param_names == tuple(names)
    assert layer.decay_names == ("W_ih", "W_hh", "W_ih_reverse", "W_hh_reverse")
    theirs = dict(mod.named_parameters())
    assert len(theirs) == len(names)
    for d in layer.directions:
        for ours, torch_name in TORCH_NAMES:
            P = getattr(layer, ours + d)
            assert P.dtype == np.float64
            assert P.size == theirs[torch_name + d].numel()
            assert P.shape[0] == gates * 5
            assert np.abs(P).max() <= 1 / np.sqrt(5)  # U(-1/sqrt(H), 1/sqrt(H))
    assert layer.W_ih.shape == (gates * 5, 3) and layer.b_hh.shape == (gates * 5, 1)
    # every array is drawn independently; the same seed gives the same weights
    assert not np.array_equal(layer.W_ih, layer.W_ih_reverse)
    np.testing.assert_array_equal(cls(3, 5, seed=7).W_hh, cls(3, 5, seed=7).W_hh)
    single = cls(3, 5)
    assert single.param_names == ("W_ih", "W_hh", "b_ih", "b_hh")
    assert single.decay_names == ("W_ih", "W_hh")
    decays = {p.key: p.decay for p in single.parameters()}
    assert decays == {"W_ih": True, "W_hh": True, "b_ih": False, "b_hh": False}


@pytest.mark.parametrize("cls, bidirectional", CASES, ids=CASE_IDS)
def test_config_round_trip_and_output_shape(cls: type[Recurrent], bidirectional: bool) -> None:
    layer = cls(3, 4, bidirectional=bidirectional, seed=0)
    config = layer.config()
    assert config == {"n_in": 3, "n_hidden": 4, "bidirectional": bidirectional}
    rebuilt = LAYER_REGISTRY[cls.__name__].from_config(config)
    assert type(rebuilt) is cls and rebuilt.config() == config
    assert rebuilt.param_names == layer.param_names
    assert repr(layer) == f"{cls.__name__}(n_in=3, n_hidden=4, bidirectional={bidirectional})"
    D = 2 if bidirectional else 1
    assert layer.output_shape((3, 7)) == (4 * D, 7)
    assert layer.forward(np.zeros((3, 7, 2))).shape == (4 * D, 7, 2)
    for bad in ((3,), (2, 7), (3, 7, 1)):
        with pytest.raises(ValueError, match="expects per-example input"):
            layer.output_shape(bad)


@pytest.mark.parametrize("cls, bidirectional", CASES, ids=CASE_IDS)
def test_fresh_arrays_inputs_untouched_gradients_overwritten(
    cls: type[Recurrent], bidirectional: bool
) -> None:
    layer = cls(2, 3, bidirectional=bidirectional, seed=0)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, 4, 3))
    X0 = X.copy()
    A = layer.forward(X)
    G = rng.standard_normal(A.shape)
    G0 = G.copy()
    dX = layer.backward(G)
    first = {p: getattr(layer, "dC_d" + p).copy() for p in layer.param_names}
    dX_again = layer.backward(G)  # overwritten, never accumulated
    for p in layer.param_names:
        np.testing.assert_array_equal(getattr(layer, "dC_d" + p), first[p])
    np.testing.assert_array_equal(dX, dX_again)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(G, G0)
    assert dX.shape == X.shape and A.flags.c_contiguous and dX.flags.c_contiguous
    for a, b in ((A, X), (dX, G), (dX, X), (A, dX)):
        assert not np.may_share_memory(a, b)
    assert not any(np.may_share_memory(getattr(layer, "dC_d" + p), dX) for p in layer.param_names)
    db = (layer.dC_db_ih, layer.dC_db_hh)
    assert not np.may_share_memory(*db)  # two parameters, two gradient arrays


@pytest.mark.parametrize("cls", KINDS)
def test_float32_stays_float32(cls: type[Recurrent]) -> None:
    layer = cls(2, 3, bidirectional=True, seed=0).astype(np.float32)
    X = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    A = layer.forward(X)
    dX = layer.backward(np.ones_like(A))
    assert A.dtype == dX.dtype == layer.dC_dW_hh_reverse.dtype == np.float32
    ref = cls(2, 3, bidirectional=True, seed=0)
    np.testing.assert_allclose(A, ref.forward(X.astype(np.float64)), atol=1e-5)


def test_reverse_direction_reads_the_sequence_backwards() -> None:
    """At step t the reverse state has read x_T, ..., x_t: the last step of the reverse half
    sees only x_T, the first step of the forward half only x_1."""
    layer = LSTM(2, 3, bidirectional=True, seed=0)
    X = np.random.default_rng(0).standard_normal((2, 5, 1))
    A = layer.forward(X)
    fwd = LSTM(2, 3, seed=0)
    for p in ("W_ih", "W_hh", "b_ih", "b_hh"):
        setattr(fwd, p, getattr(layer, p + "_reverse"))
    np.testing.assert_allclose(A[3:, :, 0], fwd.forward(X[:, ::-1])[:, ::-1, 0], rtol=1e-14)
    np.testing.assert_allclose(A[3:, -1], fwd.forward(X[:, -1:])[:, 0], rtol=1e-14)
    for p in ("W_ih", "W_hh", "b_ih", "b_hh"):
        setattr(fwd, p, getattr(layer, p))
    np.testing.assert_allclose(A[:3], fwd.forward(X), rtol=1e-14)
    np.testing.assert_allclose(A[:3, 0], fwd.forward(X[:, :1])[:, 0], rtol=1e-14)


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_inputs_saturate_without_warnings(cls: type[Recurrent], dtype: type) -> None:
    """|x| ~ 1e4 saturates every gate; no overflow, no RuntimeWarning (warnings are errors)."""
    layer = cls(2, 3, bidirectional=True, seed=0).astype(dtype)
    X = (1e4 * np.random.default_rng(0).standard_normal((2, 5, 3))).astype(dtype)
    A = layer.forward(X)
    dX = layer.backward(np.ones_like(A))
    assert np.all(np.isfinite(A)) and np.all(np.abs(A) <= 1) and np.all(np.isfinite(dX))
    assert all(np.all(np.isfinite(getattr(layer, "dC_d" + p))) for p in layer.param_names)


def test_inside_a_network_gradcheck_and_save_load(tmp_path: Path) -> None:
    net = cr.Sequential(
        [GRU(2, 3, bidirectional=True, seed=0), LSTM(6, 2, seed=1), cr.Flatten(), cr.Dense(8, 3)]
        + [cr.Softmax()],
        input_shape=(2, 4),
        dtype=np.float64,
    )
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 2, 4))
    y = np.array([0, 1, 2, 1, 0])
    report = cr.gradcheck(net, X, y)
    assert report.passed, str(report)
    net.save(tmp_path / "rnn.npz")
    loaded = cr.load(tmp_path / "rnn.npz")
    A0 = np.moveaxis(X, 0, -1)  # (2, 4, m): examples on the last axis
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in net.layers]
    np.testing.assert_allclose(loaded.forward(A0.astype(loaded.dtype)), net.forward(A0), atol=1e-6)


# --- bad arguments ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", KINDS)
def test_bad_arguments(cls: type[Recurrent]) -> None:
    with pytest.raises(ValueError, match="n_in must be an int >= 1"):
        cls(0, 3)
    with pytest.raises(TypeError, match="n_hidden must be an int"):
        cls(2, 3.0)
    with pytest.raises(TypeError, match="n_hidden must be an int"):
        cls(2, True)
    with pytest.raises(TypeError, match="bidirectional must be True or False"):
        cls(2, 3, bidirectional="yes")
    with pytest.raises(ValueError, match="seed"):
        cls(2, 3, seed=-1)
    layer = cls(2, 3)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match=r"expects a sequence of shape \(n_in=2, T, m\)"):
        layer.forward(np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match="needs an examples axis"):
        layer.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least one time step"):
        layer.forward(np.zeros((2, 0, 3)))
    with pytest.raises(TypeError, match="NumPy array"):
        layer.forward([[[1.0]], [[2.0]]])
    layer.forward(np.zeros((2, 4, 1)))
    with pytest.raises(ValueError, match=r"output's shape \(3, 4, 1\)"):
        layer.backward(np.zeros((6, 4, 1)))
