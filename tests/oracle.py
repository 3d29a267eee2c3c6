"""Independent oracles for the gradient tests: finite differences and a torch float64 twin.

Nothing here imports chainrule's own gradient code. ``numeric_gradient`` perturbs one entry at a
time (central differences, error O(eps^2)); ``TorchTwin`` rebuilds a chainrule ``Sequential``
from the same W[l], b[l] as a torch float64 computation and lets torch.autograd differentiate it.
torch is imported only here and in tests, never in the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

import chainrule as cr
from chainrule.nn.activation import Activation

if TYPE_CHECKING:  # only for annotations: torch is imported where it is used
    import torch

__all__ = [
    "numeric_gradient",
    "rel_err",
    "TorchTwin",
    "torch_activation",
    "torch_cost",
    "engine_targets",
]


def numeric_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """dF/dx by central differences, perturbing ``x`` IN PLACE one entry at a time.

    ``f(x)`` must read ``x`` (or an object holding a reference to it, like a layer's W). Every
    entry is restored afterwards, so ``x`` ends unchanged. Use float64: in float32 the rounding
    of f alone is ~1e-7 relative, far above the O(eps^2) truncation error.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numeric_gradient needs a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: writing flat perturbs x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        c_plus = f(x)
        flat[i] = old - eps
        c_minus = f(x)
        flat[i] = old
        gflat[i] = (c_plus - c_minus) / (2 * eps)
    return grad


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||); 0 when both are zero. Written here, not taken from chainrule."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b)) / denom


def torch_activation(layer: Activation, Z: torch.Tensor) -> torch.Tensor:
    """torch's version of a chainrule activation layer, applied to Z : (n[l], m)."""
    import torch

    name = layer.name
    if name == "sigmoid":
        return torch.sigmoid(Z)
    if name == "tanh":
        return torch.tanh(Z)
    if name == "relu":
        return torch.relu(Z)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(Z, negative_slope=layer.alpha)
    if name == "softmax":
        return torch.softmax(Z, dim=0)  # classes on axis 0, examples on axis 1
    if name == "identity":
        return Z
    raise ValueError(f"no torch twin for activation {name!r}")


def torch_cost(
    loss: str, A: torch.Tensor, Y: torch.Tensor, Z: torch.Tensor | None = None
) -> torch.Tensor:
    """chainrule's cost conventions in torch: sums over output units, mean over the m columns.

    With the logits ``Z`` of a matched pair, the cost is taken from them (torch's own stable
    ``*_with_logits`` / ``cross_entropy``); otherwise from the probabilities A.
    """
    import torch

    m = Y.shape[-1]
    F = torch.nn.functional
    if loss == "bce":
        if Z is not None:
            return F.binary_cross_entropy_with_logits(Z, Y, reduction="sum") / m
        return F.binary_cross_entropy(A, Y, reduction="sum") / m
    if loss == "ce":
        if Z is not None:  # torch wants (m, K) logits and integer labels
            return F.cross_entropy(Z.T, Y.argmax(dim=0), reduction="sum") / m
        return -(Y * torch.log(A)).sum() / m
    if loss == "mse":
        return 0.5 * ((A - Y) ** 2).sum() / m
    raise ValueError(f"unknown loss {loss!r}")


def engine_targets(net: cr.Sequential, y: np.ndarray) -> np.ndarray:
    """The (n[L], m) float64 target matrix the network builds from user labels y."""
    return net._prepare_Y(y, len(y)).astype(np.float64)


class TorchTwin:
    """A torch float64 copy of a Dense/activation ``Sequential``, built from the same W and b.

    ``params`` maps chainrule's labels ("W[1]", "b[1]", ...) to leaf tensors with requires_grad.
    """

    def __init__(self, net: cr.Sequential) -> None:
        import torch

        self.net = net
        self.steps: list[tuple[str, object]] = []
        self.params: dict[str, torch.Tensor] = {}
        l = 0
        for layer in net.layers:
            if isinstance(layer, cr.Dense):
                l += 1
                W = torch.tensor(np.array(layer.W, dtype=np.float64), requires_grad=True)
                b = torch.tensor(np.array(layer.b, dtype=np.float64), requires_grad=True)
                self.params[f"W[{l}]"] = W
                self.params[f"b[{l}]"] = b
                self.steps.append(("dense", (W, b)))
            elif isinstance(layer, Activation):
                self.steps.append(("act", layer))
            else:
                raise TypeError(f"TorchTwin handles Dense and activations, got {layer!r}")

    def forward(self, A0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Z[L] before the last activation, A[L]) from A0 : (n[0], m)."""
        A = Z = A0
        for kind, obj in self.steps:
            if kind == "dense":
                W, b = obj  # type: ignore[misc]
                Z = W @ A + b  # (n[l], m)
                A = Z
            else:
                A = torch_activation(obj, A)  # type: ignore[arg-type]
        return Z, A

    def cost_and_gradients(
        self, X: np.ndarray, Y: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """(cost, {label: dC/dparam}, dC/dX) with X : (m, n[0]) and Y : (n[L], m), by autograd."""
        import torch

        A0 = torch.tensor(np.asarray(X, dtype=np.float64).T.copy(), requires_grad=True)
        Yt = torch.tensor(np.asarray(Y, dtype=np.float64))
        Z, A = self.forward(A0)
        logits = Z if self.net.fused else None
        C = torch_cost(self.net.loss.name, A, Yt, logits)
        C.backward()
        grads = {k: p.grad.detach().numpy().copy() for k, p in self.params.items()}
        return float(C.detach()), grads, A0.grad.detach().numpy().T.copy()


def chainrule_gradients(net: cr.Sequential) -> dict[str, np.ndarray]:
    """{"W[1]": dC_dW of layer 1, "b[1]": ..., ...} after a backward pass."""
    return {
        label: np.array(getattr(layer, "dC_d" + name))
        for label, layer, name in net.named_parameters()
    }


def fast_engine_gradients(net: cr.Sequential, X: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """(cost, gradients) of one full batch computed by the fast engine's plan, which writes into
    its own buffers (and publishes fresh arrays to the layers): the reference's numbers."""
    from chainrule.fast.plan import MLPPlan
    from chainrule.fast.support import why_not_fast
    from chainrule.optim import SGD

    if why_not_fast(net) is not None:  # the reference engine trains it: nothing to compare
        cost = net.loss_and_gradients(X, y)
        return cost, chainrule_gradients(net)
    Xp = net.prepare_X(X)
    plan = MLPPlan(net, SGD(lr=1.0), Xp, net.prepare_Y(y, len(Xp)), batch_size=len(Xp))
    A0, Tb = plan.gather.batch(None, 0, len(Xp))
    cost, _ = plan.forward_backward(A0, Tb)
    plan.finish_epoch()
    return cost, chainrule_gradients(net)
