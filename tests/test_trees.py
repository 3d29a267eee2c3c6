"""Networks as trees of layers: nested backprop == torch.autograd == finite differences.

A chainrule network is a tree: ``cr.Sequential`` and ``chainrule.nn.Sequential`` hold lists of
layers, ``Residual`` holds one block, and every walk (parameters, train/eval, astype, summary,
gradcheck) names an array by its dotted tree path, e.g. ``"2.block.0.W"``.

* :func:`torch_function` converts a chainrule layer tree into a torch float64 function on the
  SAME weights, so torch.autograd differentiates exactly what chainrule computes; the cost and
  every parameter gradient (by dotted key), and dC/dA[0], must agree to ~1e-10 relative.
* :func:`chainrule.gradcheck` (central differences, no torch) must agree to < 1e-6.
* Negative controls: a Residual whose backward forgets the identity path, and a tied-weight
  layer that drops either use of its one W, must FAIL both oracles.
* A layer object (or parameter array) used twice is refused; a deep copy is accepted.
* ``fit`` trains nested networks with the reference engine; ``engine="fast"`` refuses them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.data.layout import to_engine
from chainrule.nn import BatchNorm, Dropout, Residual, make_activation
from chainrule.nn import Sequential as Chain
from chainrule.nn.layer import Layer

F64 = np.float64


# --- oracles written here, not taken from chainrule --------------------------------------------
def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||); 0 when both are exactly zero."""
    a, b = np.asarray(a, dtype=F64), np.asarray(b, dtype=F64)
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b)) / denom


def agree(a: np.ndarray, b: np.ndarray, rel: float = 1e-10, floor: float = 1e-14) -> bool:
    """Relative error below ``rel``, or, for a vanishing gradient (a saturated sigmoid or a
    dead ReLU path, entries ~1e-12), an absolute difference at float64 rounding level, where a
    relative test only measures cancellation."""
    return rel_err(a, b) < rel or float(np.max(np.abs(np.subtract(a, b)), initial=0.0)) < floor


class TiedAutoencoder(Layer):
    """A layer BUILT to share a weight: A = W.T @ relu(W @ A_prev + b1) + b2, with ONE W.

    Shapes: A_prev, A : (n, m); W : (h, n); b1 : (h, 1); b2 : (n, 1).

    Forward:  Z1 = W @ A_prev + b1       (h, m)   first use of W (encoder)
              H  = relu(Z1)              (h, m)
              A  = W.T @ H + b2          (n, m)   second use of W, transposed (decoder)

    W reaches the cost along two paths, so dC/dW is the SUM of the two uses' gradients:

        decoder:  A[i, j] = sum_k W[k, i] H[k, j]   ->  dC/dW[k, i] += sum_j H[k, j] dC/dA[i, j]
                  i.e. dW_decoder = H @ dC_dA.T                      (h, m) @ (m, n) -> (h, n)
        encoder:  dC/dZ1 = (W @ dC_dA) * [Z1 > 0]                    (h, m)
                  dW_encoder = dC_dZ1 @ A_prev.T                     (h, m) @ (m, n) -> (h, n)
    """

    param_names = ("W", "b1", "b2")

    def __init__(self, n: int, h: int, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.n, self.h = n, h
        self.W = rng.standard_normal((h, n)) / np.sqrt(n)
        self.b1 = 0.1 * rng.standard_normal((h, 1))
        self.b2 = 0.1 * rng.standard_normal((n, 1))
        self.dC_dW: np.ndarray | None = None
        self.dC_db1: np.ndarray | None = None
        self.dC_db2: np.ndarray | None = None

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        self.A_prev = A_prev
        self.Z1 = self.W @ A_prev + self.b1  # (h, m): encoder, first use of W
        self.H = np.maximum(self.Z1, 0)
        return self.W.T @ self.H + self.b2  # (n, m): decoder, second use of W

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        dC_dZ1 = np.where(self.Z1 > 0, self.W @ dC_dA, 0.0)  # (h, m)
        dW_encoder = dC_dZ1 @ self.A_prev.T  # (h, n)
        dW_decoder = self.H @ dC_dA.T  # (h, n)
        self.uses = (dW_encoder, dW_decoder)  # kept only so the controls can drop one
        self.dC_dW = dW_encoder + dW_decoder  # one W, two uses: their gradients ADD
        self.dC_db1 = np.sum(dC_dZ1, axis=1, keepdims=True)
        self.dC_db2 = np.sum(dC_dA, axis=1, keepdims=True)
        return self.W.T @ dC_dZ1  # (n, m)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.n,):
            raise ValueError(f"TiedAutoencoder({self.n}) got input shape {input_shape}")
        return (self.n,)

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "h": self.h}


class EncoderUseOnly(TiedAutoencoder):
    """Control: forgets the decoder's use of W."""

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        out = super().backward(dC_dA)
        self.dC_dW = self.uses[0]
        return out


class DecoderUseOnly(TiedAutoencoder):
    """Control: forgets the encoder's use of W."""

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        out = super().backward(dC_dA)
        self.dC_dW = self.uses[1]
        return out


class ForgetfulResidual(Residual):
    """Control: a Residual whose backward drops the identity path (returns only the block's)."""

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        return self.block.backward(dC_dA)


# --- the torch converter -----------------------------------------------------------------------
def torch_function(
    layer: Layer, params: dict[str, Any], relu_inputs: list[float], prefix: str = ""
) -> Callable[[Any], Any]:
    """A torch float64 function computing ``layer`` (and its subtree) on the same weights.

    Every parameter becomes a leaf tensor in ``params`` under its dotted key (``prefix + "W"``);
    ``relu_inputs`` collects min |Z| at every ReLU input, to keep the inputs off the kink.
    A Residual (and any subclass, e.g. the forgetful control) is converted to the TRUE
    A_prev + block(A_prev): torch differentiates the function, not chainrule's backward.
    """
    import torch

    def leaf(key: str, value: np.ndarray) -> Any:
        t = torch.tensor(np.array(value, dtype=F64), requires_grad=True)
        params[prefix + key] = t
        return t

    def relu(Z: Any) -> Any:
        relu_inputs.append(float(Z.detach().abs().min()))
        return torch.relu(Z)

    if isinstance(layer, TiedAutoencoder):
        W, b1, b2 = leaf("W", layer.W), leaf("b1", layer.b1), leaf("b2", layer.b2)
        return lambda A: W.T @ relu(W @ A + b1) + b2  # ONE tensor W, used twice
    if isinstance(layer, cr.Dense):
        W, b = leaf("W", layer.W), leaf("b", layer.b)
        return lambda A: W @ A + b
    if isinstance(layer, Residual):
        block = torch_function(layer.block, params, relu_inputs, prefix + "block.")
        return lambda A: A + block(A)
    if isinstance(layer, Chain):  # chainrule.nn.Sequential and cr.Sequential alike
        steps = [
            torch_function(child, params, relu_inputs, f"{prefix}{name}.")
            for name, child in layer.named_children()
        ]

        def chain(A: Any) -> Any:
            for step in steps:
                A = step(A)
            return A

        return chain
    if isinstance(layer, cr.ReLU):
        return relu
    if isinstance(layer, cr.Tanh):
        return torch.tanh
    if isinstance(layer, cr.Sigmoid):
        return torch.sigmoid
    if isinstance(layer, cr.Identity):
        return lambda A: A
    if isinstance(layer, cr.Softmax):
        return lambda A: torch.softmax(A, dim=0)  # classes on axis 0, examples on axis 1
    raise TypeError(f"no torch conversion for {layer!r}")


def torch_reference(
    net: cr.Sequential, X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray], np.ndarray, float]:
    """(cost, {dotted key: dC/dP}, dC/dA[0], min |Z| at ReLUs) by torch.autograd in float64.

    The cost follows chainrule's conventions (sum over outputs, mean over m); a matched output
    and cost take the cost from the logits with torch's own stable functions.
    """
    import torch

    params: dict[str, Any] = {}
    relu_inputs: list[float] = [np.inf]
    steps = [
        torch_function(child, params, relu_inputs, f"{name}.")
        for name, child in net.named_children()
    ]
    Y = torch.tensor(net.prepare_Y(y, len(y)).astype(F64))
    m = Y.shape[1]
    A0 = torch.tensor(np.array(X, dtype=F64).T, requires_grad=True)  # (n[0], m)
    A = A0
    for step in steps[:-1]:
        A = step(A)
    Z, A = A, steps[-1](A)  # Z: the input of the last top-level layer
    Fn = torch.nn.functional
    loss = net.loss.name
    if net.fused and loss == "ce":
        C = -(Y * torch.log_softmax(Z, dim=0)).sum() / m
    elif net.fused and loss == "bce":
        C = Fn.binary_cross_entropy_with_logits(Z, Y, reduction="sum") / m
    elif loss == "ce":
        C = -(Y * torch.log(A)).sum() / m
    elif loss == "bce":
        C = Fn.binary_cross_entropy(A, Y, reduction="sum") / m
    else:
        C = 0.5 * ((A - Y) ** 2).sum() / m
    C.backward()
    grads = {k: t.grad.numpy().copy() for k, t in params.items()}
    return float(C.detach()), grads, A0.grad.numpy().T.copy(), min(relu_inputs)


def chainrule_pass(
    net: cr.Sequential, X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """(cost, {dotted key: dC/dP}, dC/dA[0]) from chainrule, in training mode.

    The cost and parameter gradients come from ``forward_backward`` (the path ``fit`` takes,
    fused where the output matches the cost); dC/dA[0] from the tree's own ``backward`` of
    the unfused dC/dA[L], since the training step does not keep the input gradient.
    """
    net.train()
    Xp = net.prepare_X(X)
    A0, Y = to_engine(Xp), net.prepare_Y(y, len(Xp))
    A = net.forward(A0)
    dC_dA0 = net.backward(net.loss.gradient(A, Y))  # (n[0], m)
    cost, _ = net.forward_backward(A0, Y)
    grads = {p.key: np.array(p.G) for p in net.parameters()}
    return cost, grads, np.array(dC_dA0).T


def compare_with_torch(net: cr.Sequential, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Relative errors chainrule vs torch ("cost", "dA0" and every dotted parameter key);
    asserts the inputs are off the ReLU kink and both sides name the same parameters."""
    c_ref, g_ref, dA0_ref, kink = torch_reference(net, X, y)
    assert kink > 1e-6, "a ReLU input lies on the kink: pick other data"
    cost, grads, dA0 = chainrule_pass(net, X, y)
    assert list(grads) == list(g_ref)  # same dotted keys, same order
    errors = {
        key: 0.0 if agree(grads[key], g_ref[key]) else rel_err(grads[key], g_ref[key])
        for key in grads
    }
    errors["cost"] = 0.0 if agree(cost, c_ref) else abs(cost - c_ref) / abs(c_ref)
    errors["dA0"] = 0.0 if agree(dA0, dA0_ref) else rel_err(dA0, dA0_ref)
    return errors


# --- the networks ------------------------------------------------------------------------------
def mnist1d_resmlp(
    k: int = 12, seed: int = 0, residual: type[Residual] = Residual
) -> cr.Sequential:
    """The MNIST-1D paper's residual MLP: h = relu(W h + b), then h = h + relu(W h + b) twice."""
    rng = np.random.default_rng(seed)
    return cr.Sequential(
        [
            cr.Dense(40, k, init="he", seed=rng),
            cr.ReLU(),
            residual(Chain([cr.Dense(k, k, init="he", seed=rng), cr.ReLU()])),
            residual(Chain([cr.Dense(k, k, init="he", seed=rng), cr.ReLU()])),
            cr.Dense(k, 10, seed=rng),
            cr.Softmax(),
        ],
        dtype=F64,
    )


def deep_nest(head: str = "sigmoid", loss: str = "bce") -> cr.Sequential:
    """A Residual inside a Sequential inside a Sequential inside the network (and a cr.Sequential
    nested too); its keys are "2.0.0.block.0.W", ..."""
    rng = np.random.default_rng(3)
    inner = Chain(
        [
            Residual(Chain([cr.Dense(4, 6, seed=rng), cr.Tanh(), cr.Dense(6, 4, seed=rng)])),
            cr.Sigmoid(),
        ]
    )
    n_out = 3 if head == "softmax" else 2
    return cr.Sequential(
        [
            cr.Dense(3, 4, seed=rng),
            cr.Tanh(),
            Chain([inner, cr.Dense(4, 4, seed=rng)]),
            cr.Sequential([cr.Dense(4, 5, seed=rng), cr.ReLU(), cr.Dense(5, 4, seed=rng)]),
            cr.Dense(4, n_out, seed=rng),
            make_activation(head),
        ],
        loss=loss,
        dtype=F64,
    )


def tied_net(layer: type[TiedAutoencoder] = TiedAutoencoder) -> cr.Sequential:
    rng = np.random.default_rng(5)
    return cr.Sequential(
        [
            cr.Dense(3, 5, seed=rng),
            cr.Tanh(),
            layer(5, 4, seed=1),
            cr.Tanh(),
            Residual(layer(5, 3, seed=2)),
            cr.Dense(5, 3, seed=rng),
            cr.Softmax(),
        ],
        dtype=F64,
    )


def labels(net: cr.Sequential, m: int, rng: np.random.Generator) -> np.ndarray:
    k = net.n_outputs
    if net.loss.name == "ce":
        return rng.integers(0, k, size=m)
    if net.loss.name == "bce":
        y = rng.integers(0, 2, size=(m, k))
        return y[:, 0] if k == 1 else y
    y = rng.standard_normal((m, k))
    return y[:, 0] if k == 1 else y


def data_for(net: cr.Sequential, m: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, net.n_features)), labels(net, m, rng)


NESTED_CASES: dict[str, Callable[[], cr.Sequential]] = {
    "mnist1d residual MLP": mnist1d_resmlp,
    "residual in seq in seq, sigmoid+bce": deep_nest,
    "residual in seq in seq, softmax+ce": lambda: deep_nest("softmax", "ce"),
    "residual in seq in seq, tanh+mse (unfused)": lambda: deep_nest("tanh", "mse"),
    "residual in seq in seq, softmax+mse (unfused)": lambda: deep_nest("softmax", "mse"),
    "tied autoencoder, also inside a residual": tied_net,
}


# --- random trees ------------------------------------------------------------------------------
ACTIVATIONS = [cr.Tanh, cr.Tanh, cr.Tanh, cr.Sigmoid, cr.ReLU, cr.Identity]  # tanh-heavy


@st.composite
def trees(draw: Any, n_in: int, n_out: int, depth: int, composite: bool = False) -> Layer:
    """A random layer tree mapping n_in features to n_out, nested at most ``depth`` deep
    (``composite``: the root is a container or a Residual, never a leaf)."""
    kinds = [] if composite else ["dense"] + (["activation"] if n_in == n_out else [])
    if depth > 0:
        kinds += ["chain", "network"] + (["residual", "residual"] if n_in == n_out else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "dense":
        init = draw(st.sampled_from(["xavier", "he", "normal"]))
        return cr.Dense(n_in, n_out, init=init, seed=draw(st.integers(0, 2**16)))
    if kind == "activation":
        return draw(st.sampled_from(ACTIVATIONS))()
    if kind == "residual":
        return Residual(draw(trees(n_in, n_in, depth - 1)))
    parts = draw(st.integers(1, 3))
    width = st.one_of(st.just(n_in), st.integers(1, 5))  # equal widths allow residuals below
    widths = [n_in, *draw(st.lists(width, min_size=parts - 1, max_size=parts - 1))]
    widths.append(n_out)
    children: list[Layer] = []
    for a, b in zip(widths, widths[1:]):
        children.append(draw(trees(a, b, depth - 1)))
        if draw(st.booleans()):
            children.append(draw(st.sampled_from(ACTIVATIONS))())
    if kind == "chain":
        return Chain(children)
    return cr.Sequential(children, input_shape=(n_in,), dtype=F64)  # a network nested as a layer


HEADS = [("softmax", "ce"), ("sigmoid", "bce"), ("identity", "mse"), ("tanh", "mse")]


@st.composite
def random_networks(draw: Any) -> tuple[cr.Sequential, np.ndarray, np.ndarray]:
    n0 = draw(st.integers(1, 5))
    n = draw(st.one_of(st.just(n0), st.integers(1, 5)))
    head, loss = draw(st.sampled_from(HEADS))
    k = draw(st.integers(2, 3)) if head == "softmax" else draw(st.integers(1, 2))
    body = draw(trees(n0, n, draw(st.integers(1, 3)), composite=True))
    # a Dense first: its dC/dW = dC/dA[1] @ A[0].T is wrong whenever the body's input gradient
    # is, so gradcheck (which perturbs parameters only) also tests the body's backward output
    first = cr.Dense(n0, n0, seed=draw(st.integers(0, 99)))
    layers = [first, body, cr.Dense(n, k, seed=draw(st.integers(0, 99))), make_activation(head)]
    net = cr.Sequential(layers, loss=loss, input_shape=(n0,), dtype=F64)
    m = draw(st.integers(1, 9))
    X, y = data_for(net, m, seed=draw(st.integers(0, 2**16)))
    return net, X, y


def min_relu_input(net: Layer, X: np.ndarray) -> float:
    """min |Z| over every ReLU input of the tree (inf when there is none), without torch."""
    seen = [np.inf]
    for _, layer in net.named_layers():
        if isinstance(layer, cr.ReLU):
            real = layer.forward

            def spy(Z: np.ndarray, real: Callable[[np.ndarray], np.ndarray] = real) -> np.ndarray:
                seen.append(float(np.min(np.abs(Z))))
                return real(Z)

            layer.forward = spy  # type: ignore[method-assign]
    net.forward(to_engine(np.asarray(X, dtype=F64)))
    for _, layer in net.named_layers():
        layer.__dict__.pop("forward", None)
    return min(seen)


# --- against torch -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(NESTED_CASES))
def test_nested_networks_match_torch(case: str) -> None:
    pytest.importorskip("torch")
    net = NESTED_CASES[case]()
    X, y = data_for(net, m=16)
    errors = compare_with_torch(net, X, y)
    assert max(errors.values()) < 1e-10, errors


def test_mnist1d_keys_are_dotted_tree_paths() -> None:
    net = mnist1d_resmlp()
    keys = ["0.W", "0.b", "2.block.0.W", "2.block.0.b", "3.block.0.W", "3.block.0.b", "4.W", "4.b"]
    assert [p.key for p in net.parameters()] == keys
    assert [label for label, _, _ in net.named_parameters()] == keys  # nested: dotted labels


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=random_networks())
def test_random_trees_match_torch(case: tuple[cr.Sequential, np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("torch")
    net, X, y = case
    assume(min_relu_input(net, X) > 1e-6)  # off the kink, where relu' is defined
    errors = compare_with_torch(net, X, y)
    assert max(errors.values()) < 1e-10, (errors, repr(net))


# --- against central differences (no torch) ----------------------------------------------------
@pytest.mark.parametrize("case", list(NESTED_CASES))
def test_nested_networks_pass_gradcheck(case: str) -> None:
    net = NESTED_CASES[case]()
    X, y = data_for(net, m=8)
    assert min_relu_input(net, X) > 1e-4  # a perturbation of 1e-6 never crosses a kink
    report = cr.gradcheck(net, X, y)
    assert [label for label, _, _ in net.named_parameters()] == list(report.errors)
    assert report.max_error < 1e-6, str(report)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=random_networks())
def test_random_trees_pass_gradcheck(case: tuple[cr.Sequential, np.ndarray, np.ndarray]) -> None:
    net, X, y = case
    assume(min_relu_input(net, X) > 1e-4)
    report = cr.gradcheck(net, X, y)
    for label, err in report.errors.items():
        bp, num = report.backprop[label], report.numeric[label]
        # a vanishing gradient (<= 1e-8) is below what central differences resolve (~1e-10
        # absolute): there the absolute difference is the meaningful test
        assert err < 1e-6 or np.max(np.abs(bp - num)) < 1e-9, (label, str(report), repr(net))


# --- a Residual worked by hand, and the control that forgets the identity path ----------------
def test_residual_by_hand() -> None:
    """Residual(Dense(1, 1)) with W = [[2]], b = [[1]], on two examples A_prev = [[3, -1]].

    Forward:   block(A_prev) = 2 * [3, -1] + 1 = [7, -1]
               A = A_prev + block(A_prev) = [3 + 7, -1 - 1] = [10, -2]
    Backward with dC/dA = [[1, 0.5]]:
               the block's Dense: dC/dW = dC/dA @ A_prev.T = 1 * 3 + 0.5 * (-1) = 2.5
                                  dC/db = 1 + 0.5 = 1.5
                                  block path dC/dA_prev = W.T @ dC/dA = [2, 1]
               identity path: dC/dA = [1, 0.5]
               dC/dA_prev = identity + block = [1 + 2, 0.5 + 1] = [3, 1.5]
    A Residual that forgets the identity path returns only the block's [2, 1].
    """
    dense = cr.Dense(1, 1)
    dense.W, dense.b = np.array([[2.0]]), np.array([[1.0]])
    res = Residual(dense)
    A_prev = np.array([[3.0, -1.0]])
    A = res.forward(A_prev)
    assert np.array_equal(A, [[10.0, -2.0]])
    assert np.array_equal(A_prev, [[3.0, -1.0]])  # the input is not modified
    dC_dA = np.array([[1.0, 0.5]])
    assert np.array_equal(res.backward(dC_dA), [[3.0, 1.5]])
    assert np.array_equal(dense.dC_dW, [[2.5]]) and np.array_equal(dense.dC_db, [[1.5]])
    assert [p.key for p in res.parameters()] == ["block.W", "block.b"]

    forgetful = ForgetfulResidual(copy.deepcopy(dense))
    forgetful.forward(A_prev)
    assert np.array_equal(forgetful.backward(dC_dA), [[2.0, 1.0]])


def test_forgetful_residual_fails_torch() -> None:
    pytest.importorskip("torch")
    net = mnist1d_resmlp(residual=ForgetfulResidual)
    X, y = data_for(net)
    errors = compare_with_torch(net, X, y)
    assert errors["cost"] < 1e-12  # the forward is right: only the backward is wrong
    # after the last residual everything is right; before it every gradient misses a path
    assert max(errors["4.W"], errors["4.b"], errors["3.block.0.W"]) < 1e-10
    assert min(errors["dA0"], errors["0.W"], errors["2.block.0.W"]) > 1e-2, errors


def test_forgetful_residual_fails_gradcheck() -> None:
    X, y = data_for(mnist1d_resmlp(), m=8)
    good = cr.gradcheck(mnist1d_resmlp(), X, y)
    bad = cr.gradcheck(mnist1d_resmlp(residual=ForgetfulResidual), X, y)
    assert good.passed and not bad.passed
    assert bad.errors["4.W"] < 1e-6 and bad.errors["3.block.0.W"] < 1e-6
    assert bad.errors["0.W"] > 1e-2 and bad.errors["2.block.0.W"] > 1e-2, str(bad)


# --- the tied weight: one W, two uses, gradients add -------------------------------------------
def test_tied_weight_is_one_array_of_one_layer() -> None:
    net = tied_net()
    keys = [p.key for p in net.parameters()]
    tied = ["2.W", "2.b1", "2.b2", "4.block.W", "4.block.b1", "4.block.b2"]
    assert keys == ["0.W", "0.b", *tied, "5.W", "5.b"]
    assert net.n_params == 3 * 5 + 5 + (20 + 4 + 5) + (15 + 3 + 5) + 15 + 3  # W counted once


@pytest.mark.parametrize("control", [EncoderUseOnly, DecoderUseOnly])
def test_tied_weight_dropping_a_use_fails_torch(control: type[TiedAutoencoder]) -> None:
    pytest.importorskip("torch")
    net = tied_net(control)
    errors = compare_with_torch(net, *data_for(net, m=8))
    assert errors["cost"] < 1e-12
    assert errors["2.W"] > 1e-3 and errors["4.block.W"] > 1e-3, errors
    # only dC/dW is wrong: dC/db1, dC/db2 and the input gradient do not depend on it
    assert max(errors["2.b1"], errors["2.b2"], errors["0.W"], errors["dA0"]) < 1e-10


@pytest.mark.parametrize("control", [EncoderUseOnly, DecoderUseOnly])
def test_tied_weight_dropping_a_use_fails_gradcheck(control: type[TiedAutoencoder]) -> None:
    report = cr.gradcheck(tied_net(control), *data_for(tied_net(), m=8))
    assert not report.passed
    assert report.errors["2.W"] > 1e-3 and report.errors["4.block.W"] > 1e-3, str(report)
    assert report.errors["2.b1"] < 1e-6 and report.errors["5.W"] < 1e-6


# --- the tree walk -----------------------------------------------------------------------------
def walk_net() -> cr.Sequential:
    """Dropout and BatchNorm deep inside the tree (float32, the default dtype)."""
    return cr.Sequential(
        [
            cr.Dense(4, 5, seed=0),
            Residual(Chain([cr.Dense(5, 5, seed=1), cr.ReLU()])),
            Chain(
                [
                    Chain(
                        [
                            Residual(
                                Chain(
                                    [
                                        cr.Dense(5, 5, seed=2),
                                        cr.Tanh(),
                                        Dropout(0.5, seed=3),
                                        BatchNorm(5),
                                    ]
                                )
                            )
                        ]
                    )
                ]
            ),
            cr.Dense(5, 3, seed=4),
            cr.Softmax(),
        ]
    )


def test_dotted_names_and_flat_labels() -> None:
    net = walk_net()
    assert [p.key for p in net.parameters()] == [
        "0.W", "0.b", "1.block.0.W", "1.block.0.b", "2.0.0.block.0.W", "2.0.0.block.0.b",
        "2.0.0.block.3.gamma", "2.0.0.block.3.beta", "3.W", "3.b",
    ]  # fmt: skip
    assert [k for k, _ in net.buffers()] == [
        "2.0.0.block.3.running_mean",
        "2.0.0.block.3.running_var",
    ]
    decay = {p.key for p in net.parameters() if p.decay}
    assert decay == {"0.W", "1.block.0.W", "2.0.0.block.0.W", "3.W"}
    names = [prefix for prefix, _ in net.named_layers()]
    assert names[:4] == ["", "0.", "1.", "1.block."] and "2.0.0.block.2." in names
    assert not net.is_flat
    flat = cr.mlp([2, 3, 2], seed=0)  # a flat network keeps the notebook's labels
    assert flat.is_flat and [label for label, _, _ in flat.named_parameters()] == [
        "W[1]", "b[1]", "W[2]", "b[2]",
    ]  # fmt: skip
    assert [p.key for p in flat.parameters()] == ["0.W", "0.b", "2.W", "2.b"]


def test_train_and_eval_reach_nested_dropout_and_batchnorm() -> None:
    net = walk_net()
    layers = [layer for _, layer in net.named_layers()]
    dropout = next(la for la in layers if isinstance(la, Dropout))
    bn = next(la for la in layers if isinstance(la, BatchNorm))
    A0 = to_engine(np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32))

    assert net.eval() is net and not any(la.training for la in layers)
    mean = bn.running_mean.copy()
    out1, out2 = net.forward(A0), net.forward(A0)
    assert np.array_equal(out1, out2)  # no dropout masks in prediction
    assert np.array_equal(bn.running_mean, mean)  # running statistics used, not updated

    assert net.train() is net and all(la.training for la in layers)
    out3, out4 = net.forward(A0), net.forward(A0)
    assert not np.array_equal(out3, out4)  # fresh dropout masks
    assert dropout.D is not None and np.any(dropout.D == 0)
    assert not np.array_equal(bn.running_mean, mean)  # batch statistics update the buffers

    net.fit(np.zeros((4, 4)), [0, 1, 2, 0], epochs=1, verbose=False)
    assert not any(la.training for la in layers)  # fit leaves the whole tree in eval mode


def test_astype_casts_every_nested_array() -> None:
    net = walk_net()
    assert all(a.dtype == np.float32 for _, la, n in net.named_arrays() for a in [getattr(la, n)])
    net.loss_and_gradients(np.ones((3, 4)), [0, 1, 2])  # stored gradients, to be dropped
    net64 = net.astype(np.float64)  # cr.Sequential.astype: a deep copy
    assert net64 is not net and net64.dtype == np.float64
    assert all(getattr(la, n).dtype == np.float64 for _, la, n in net64.named_arrays())
    assert all(getattr(la, n).dtype == np.float32 for _, la, n in net.named_arrays())
    assert len(list(net64.named_arrays())) == 12  # 10 parameters and 2 buffers
    for (k1, P, _, _), (k2, Q, _, _) in zip(net.parameters(), net64.parameters()):
        assert k1 == k2 and np.array_equal(P.astype(np.float64), Q)

    block = copy.deepcopy(net.layers[2])  # a bare container casts in place
    assert block.astype(np.float64) is block
    assert all(getattr(la, n).dtype == np.float64 for _, la, n in block.named_arrays())
    assert all(p.G is None for p in block.parameters())  # gradients dropped


def test_n_params_summary_and_repr() -> None:
    net = walk_net()
    assert net.n_params == (20 + 5) + (25 + 5) + (25 + 5 + 10) + (15 + 3) == 113
    assert net.layers[2].n_params == 40 and net.layers[1].n_params == 30
    text = net.summary()
    rows = ["1  Residual", "1.block  Sequential", "1.block.0  Dense", "2.0.0  Residual"]
    rows += ["2.0.0.block.2  Dropout(p=0.5, seed=3)", "2.0.0.block.3  BatchNorm"]
    for row in rows:
        assert row in text, text
    lines = text.splitlines()
    row = next(line for line in lines if "2.0.0.block.3" in line)
    assert row.startswith("        2.0.0.block.3") and row.rstrip().endswith("10")  # depth indent
    assert lines[-1] == "total trainable parameters: 113; cost: ce"
    assert repr(net) == (
        "Sequential([Dense(n_in=4, n_out=5, init='xavier'), "
        "Residual(Sequential([Dense(n_in=5, n_out=5, init='xavier'), ReLU()])), "
        "Sequential([Sequential([Residual(Sequential([Dense(n_in=5, n_out=5, init='xavier'), "
        "Tanh(), Dropout(p=0.5, seed=3), BatchNorm(num_features=5, eps=1e-05, momentum=0.1)]))"
        "])]), Dense(n_in=5, n_out=3, init='xavier'), Softmax()], loss='ce')"
    )


# --- one layer object used twice ---------------------------------------------------------------
def test_same_layer_twice_is_refused() -> None:
    d = cr.Dense(4, 4, seed=0)
    with pytest.raises(ValueError, match=r"same Dense layer object appears twice.*'0' and '1'"):
        Chain([d, d])
    with pytest.raises(ValueError, match=r"appears twice.*'0' and '2'"):
        cr.Sequential([d, cr.ReLU(), d, cr.Softmax()])


def test_same_layer_inside_and_outside_a_residual_is_refused() -> None:
    d = cr.Dense(4, 4, seed=0)
    with pytest.raises(ValueError, match=r"appears twice.*'0\.block\.0' and '1'"):
        cr.Sequential([Residual(Chain([d, cr.ReLU()])), d, cr.Softmax()])
    res = Residual(cr.Tanh())
    with pytest.raises(ValueError, match=r"same Residual layer object.*'1' and '2\.0'"):
        cr.Sequential([cr.Dense(4, 4), res, Chain([res]), cr.Softmax()])
    with pytest.raises(ValueError, match=r"same Tanh layer object.*'0' and '1'"):
        Residual(Chain([res.block, res.block]))  # refused by the inner Chain already


def test_two_layers_sharing_one_weight_array_are_refused() -> None:
    a, b = cr.Dense(4, 4, seed=0), cr.Dense(4, 4, seed=1)
    b.W = a.W  # one array, two owners: each would overwrite the other's dC/dW
    with pytest.raises(ValueError, match=r"parameter '1\.block\.W' shares its memory with '0\.W'"):
        cr.Sequential([a, Residual(b), cr.Softmax()])
    with pytest.raises(ValueError, match="Tied weights"):
        Chain([a, b])
    c = cr.Dense(4, 4, seed=2)
    c.W = a.W[:, :]  # a view of the same memory is shared just the same
    with pytest.raises(ValueError, match=r"parameter '1\.W' shares its memory with '0\.W'"):
        Chain([a, c])


def test_a_deep_copy_is_accepted() -> None:
    """Control: a copy of the layer is a different object with its own arrays."""
    d = cr.Dense(4, 4, seed=0)
    net = cr.Sequential(
        [Residual(Chain([d, cr.ReLU()])), copy.deepcopy(d), cr.Softmax()], dtype=F64
    )
    (_, W1, _, _), _, (_, W2, _, _), _ = net.parameters()
    assert np.array_equal(W1, W2) and not np.shares_memory(W1, W2)
    twin = Chain([d, copy.deepcopy(d)])
    assert len(list(twin.parameters())) == 4
    X, y = data_for(net, m=6)
    assert cr.gradcheck(net, X, y).max_error < 1e-6


# --- training nested networks ------------------------------------------------------------------
def res_mlp(seed: int = 0) -> cr.Sequential:
    rng = np.random.default_rng(seed)
    return cr.Sequential(
        [
            cr.Dense(2, 16, init="he", seed=rng),
            cr.ReLU(),
            Residual(Chain([cr.Dense(16, 16, init="he", seed=rng), cr.ReLU()])),
            Residual(Chain([cr.Dense(16, 16, init="he", seed=rng), cr.ReLU()])),
            cr.Dense(16, 3, seed=rng),
            cr.Softmax(),
        ]
    )


SPIRALS = cr.datasets.load("spirals")  # 3 classes: chance is 1/3


def test_fit_trains_a_residual_mlp(monkeypatch: pytest.MonkeyPatch) -> None:
    import chainrule.train.fit as fit_module

    engines: list[str] = []

    class Spy(fit_module.ReferenceEngine):
        def __init__(self, *args: Any, **kw: Any) -> None:
            engines.append("reference")
            super().__init__(*args, **kw)

    def no_plan(*args: Any, **kw: Any) -> None:
        raise AssertionError("the fast engine must not take a nested network")

    monkeypatch.setattr(fit_module, "ReferenceEngine", Spy)
    monkeypatch.setattr(fit_module, "MLPPlan", no_plan)
    net = res_mlp()
    kw: dict[str, Any] = dict(epochs=60, lr=0.01, optimizer="adam", batch_size=32, seed=0)
    history = net.fit(SPIRALS.X_train, SPIRALS.y_train, standardize=True, verbose=False, **kw)
    assert engines == ["reference"]  # engine="auto" picked the reference engine
    assert history["cost"][-1] < 0.5 * history["cost"][0]
    assert history["accuracy"][-1] > 0.85
    acc = net.score(SPIRALS.X_test, SPIRALS.y_test)
    assert acc > 0.8  # chance is 0.33
    pred = net.predict(SPIRALS.X_test)
    assert pred.shape == (150,) and set(np.unique(pred)) <= {0, 1, 2}
    assert np.mean(pred == SPIRALS.y_test) == acc
    proba = net.predict_proba(SPIRALS.X_test)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    ev = net.evaluate(SPIRALS.X_test, SPIRALS.y_test)
    assert set(ev) == {"cost", "accuracy"} and ev["accuracy"] == acc
    assert ev["cost"] == pytest.approx(net.cost(SPIRALS.X_test, SPIRALS.y_test))

    same = res_mlp()  # engine="reference" asked for explicitly: the very same numbers
    same.fit(
        SPIRALS.X_train, SPIRALS.y_train, standardize=True, verbose=False, engine="reference", **kw
    )
    for (_, P, _, _), (_, Q, _, _) in zip(net.parameters(), same.parameters()):
        assert np.array_equal(P, Q)


def test_fast_engine_refuses_a_nested_network() -> None:
    net = res_mlp()
    before = [P.copy() for _, P, _, _ in net.parameters()]
    with pytest.raises(ValueError, match=r"engine='fast' does not support.*Residual"):
        net.fit(SPIRALS.X_train, SPIRALS.y_train, epochs=1, engine="fast", verbose=False)
    assert all(np.array_equal(P, Q) for (_, P, _, _), Q in zip(net.parameters(), before))
    assert not net.is_fitted
