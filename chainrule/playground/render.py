"""What the page draws, computed from the network: the input plane, every neuron's heatmap over
it, the decision boundary, and which hidden units are saturated.

Heatmaps travel as bytes (0..255, base64) with the value range they cover, so a frame with 50
neuron maps stays small. The grid is examples-first at this boundary (G*G points, 2) and goes
through the network's layers in the engine layout, (n[l], G*G), one column per grid point.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from chainrule.data.layout import to_engine
from chainrule.nn.activation import Activation
from chainrule.playground.data import PlaneData, features
from chainrule.train.diagnostics import SATURATION_MARGIN

__all__ = [
    "plane_extent",
    "grid_points",
    "encode",
    "layer_outputs",
    "boundary_map",
    "neuron_maps",
    "unit_health",
    "SATURATED_FRACTION",
]

BOUNDARY_GRID = 50
NEURON_GRID = 20
#: a sigmoid/tanh unit is marked saturated when this fraction of the inputs drives it to a limit
SATURATED_FRACTION = 0.5


def plane_extent(data: PlaneData) -> list[float]:
    """[x1 min, x1 max, x2 min, x2 max] around every point, with a 10% margin."""
    X = np.r_[data.X_train, data.X_test][:, :2]
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.maximum(hi - lo, 1e-3) * 0.1
    return [
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    ]


def grid_points(extent: list[float], G: int) -> np.ndarray:
    """(G*G, 2) points, row by row from the TOP of the plane (x2 max) so rows map to pixels."""
    x1 = np.linspace(extent[0], extent[1], G)
    x2 = np.linspace(extent[3], extent[2], G)
    a, b = np.meshgrid(x1, x2)
    return np.c_[a.ravel(), b.ravel()]


def encode(values: np.ndarray, lo: float, hi: float) -> dict[str, Any]:
    """{"lo", "hi", "q"}: values mapped linearly to bytes 0..255 (NaN -> the middle)."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=(lo + hi) / 2)
    span = hi - lo if hi > lo else 1.0
    q = np.clip(np.round((v - lo) / span * 255), 0, 255).astype(np.uint8)
    return {"lo": float(lo), "hi": float(hi), "q": base64.b64encode(q.tobytes()).decode("ascii")}


def _value_range(A: np.ndarray, act: str) -> tuple[float, float]:
    """The colour scale of one map: a sigmoid's [0, 1], a tanh's [-1, 1], else +-max|A|."""
    if act == "sigmoid" or act == "softmax":
        return 0.0, 1.0
    if act == "tanh":
        return -1.0, 1.0
    finite = A[np.isfinite(A)]
    M = float(np.max(np.abs(finite))) if finite.size else 1.0
    return -max(M, 1e-6), max(M, 1e-6)


def layer_outputs(net: Any, A0: np.ndarray) -> list[np.ndarray]:
    """A[0], A[1], ..., A[L]: the input and every activation's output, each (n[l], m)."""
    outputs = [A0]
    A = A0
    for layer in net.layers:
        A = layer.forward(A)
        if isinstance(layer, Activation):
            outputs.append(A)
    return outputs


def _grid_outputs(net: Any, names: list[str], extent: list[float], G: int) -> list[np.ndarray]:
    F = features(grid_points(extent, G), names)  # (G*G, n[0])
    with np.errstate(all="ignore"):
        return layer_outputs(net, to_engine(F.astype(net.dtype)))


def boundary_map(net: Any, names: list[str], extent: list[float], n_classes: int) -> dict:
    """The output over the plane: P(class 1) for two classes; the winning class and its
    probability for more."""
    A_L = _grid_outputs(net, names, extent, BOUNDARY_GRID)[-1]  # (n[L], G*G)
    out: dict[str, Any] = {"grid": BOUNDARY_GRID}
    if n_classes == 2:
        out["p"] = encode(A_L[0], 0.0, 1.0)
    else:
        winner = np.argmax(np.nan_to_num(A_L), axis=0)
        out["cls"] = base64.b64encode(winner.astype(np.uint8).tobytes()).decode("ascii")
        out["p"] = encode(np.max(A_L, axis=0), 0.0, 1.0)
    return out


def neuron_maps(
    net: Any, names: list[str], extent: list[float], activation: str, output: str
) -> list[list[dict[str, Any]]]:
    """[layer][unit] -> an encoded heatmap, for the input features (layer 0), every hidden
    layer and the output layer."""
    outs = _grid_outputs(net, names, extent, NEURON_GRID)
    maps = []
    for l, A in enumerate(outs):
        act = "feature" if l == 0 else (output if l == len(outs) - 1 else activation)
        if l == 0:
            lo, hi = _value_range(A, "feature")
            maps.append([encode(row, lo, hi) for row in A])
        else:
            maps.append([encode(row, *_value_range(row, act)) for row in A])
    return maps


def unit_health(net: Any, A0: np.ndarray, activation: str) -> list[list[str]]:
    """[hidden layer][unit] -> "", "saturated" (sigmoid/tanh at a limit for most inputs) or
    "dead" (a ReLU that is 0 for every input), measured on A0 (n[0], m)."""
    with np.errstate(all="ignore"):
        hidden = layer_outputs(net, A0)[1:-1]
    health = []
    for A in hidden:
        if activation == "sigmoid":
            at_limit = (A < SATURATION_MARGIN) | (A > 1 - SATURATION_MARGIN)
        elif activation == "tanh":
            at_limit = np.abs(A) > 1 - SATURATION_MARGIN
        else:
            at_limit = None
        if at_limit is None:
            health.append(["dead" if np.all(row <= 0) else "" for row in A])
        else:
            frac = np.mean(at_limit, axis=1)
            health.append(["saturated" if f > SATURATED_FRACTION else "" for f in frac])
    return health
