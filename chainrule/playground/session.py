"""One playground run: its data, input features, network, optimizer, training and snapshots.

A session trains in chainrule's own engine, one mini-batch per step (engine layout inside):

    cost, A_L = train_step(net, A0[:, batch], Y[:, batch], optimizer)

and its :meth:`Session.snapshot` is everything the page draws, as plain JSON. Sessions are kept
apart: each has its own arrays, random generator and lock (the server holds the lock while it
reads or changes a session).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from chainrule.data.layout import to_engine
from chainrule.model.builders import mlp
from chainrule.optim.optimizer import SGD, Adam, Momentum, Optimizer
from chainrule.playground import render
from chainrule.playground.data import PlaneData, features, make_data, parse_csv
from chainrule.playground.formulas import layer_formulas
from chainrule.playground.params import Config
from chainrule.train.step import train_step

__all__ = ["Session", "MAX_HISTORY", "MAX_POINTS_SHOWN"]

#: cost-curve points kept; older ones are thinned (every other point) when it fills up
MAX_HISTORY = 400
#: a CSV with more points than this trains and shows curves, without its points on the plane
MAX_POINTS_SHOWN = 2000


class Session:
    """The state of one run. Call :meth:`configure` for a new set-up, :meth:`step` to train."""

    def __init__(self, config: Config) -> None:
        self.lock = threading.Lock()
        self.uploaded: PlaneData | None = None
        self.configure(config)

    # --- set-up -------------------------------------------------------------------------------
    def configure(self, config: Config) -> None:
        """Build the data, the features and a fresh network for ``config``."""
        data = make_data(config, self.uploaded)
        self.config, self.data = config, data
        self.plane = data.plane
        self.feature_names = list(config.features) if data.plane else []
        self._build_network()

    def upload(self, content: bytes) -> None:
        """Replace the data with an uploaded CSV (label column last) and rebuild the network."""
        self.uploaded = parse_csv(content, self.config.ratio, self.config.seed)
        self.config.data = "csv"
        self.configure(self.config)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return features(X, self.feature_names) if self.plane else X

    def _build_network(self) -> None:
        c, data = self.config, self.data
        K = data.n_classes
        self.output = "sigmoid" if K == 2 else "softmax"
        n0 = len(self.feature_names) if self.plane else data.n_inputs
        sizes = [n0, *c.layers, 1 if K == 2 else K]
        self.net = mlp(
            sizes, activation=c.activation, output=self.output, seed=c.seed, dtype=np.float64
        )
        if c.optimizer == "sgd":
            self.optimizer: Optimizer = SGD(lr=c.lr, weight_decay=c.l2)
        elif c.optimizer == "momentum":
            self.optimizer = Momentum(lr=c.lr, momentum=0.9, weight_decay=c.l2)
        else:
            self.optimizer = Adam(lr=c.lr, weight_decay=c.l2)
        # the boundary: examples first (m, n[0]) -> the engine's (n[0], m), once per set-up
        self.F_train = self.net.prepare_X(self._inputs(data.X_train))
        self.F_test = self.net.prepare_X(self._inputs(data.X_test))
        self.A0_train = to_engine(self.F_train)  # (n[0], m)
        self.Y_train = self.net.prepare_Y(data.y_train, len(data.y_train))  # (n[L], m)
        self.rng = np.random.default_rng(c.seed)
        self.order = np.empty(0, dtype=np.int64)
        self.cursor = 0
        self.steps = 0
        self.epoch = 0.0
        self.diverged = False
        self.last_batch = np.arange(min(c.batch, self.A0_train.shape[1]))
        self.grad_norms: list[float | None] = [None] * len(c.layers + [0])
        self.history: list[list[float]] = []
        self.stride = 1  # history keeps every stride-th step
        self.metrics = self._evaluate()
        self._record()

    def reset(self) -> None:
        """Fresh weights (the same seed), the same data: step 0 again."""
        self._build_network()

    # --- training -----------------------------------------------------------------------------
    def _next_batch(self) -> np.ndarray:
        m, B = self.A0_train.shape[1], min(self.config.batch, self.A0_train.shape[1])
        if self.cursor + B > len(self.order):
            self.order = self.rng.permutation(m)  # a new epoch: a fresh shuffle
            self.cursor = 0
        batch = self.order[self.cursor : self.cursor + B]
        self.cursor += B
        return batch

    def step(self, batches: int = 1) -> None:
        """Train on ``batches`` mini-batches; a non-finite cost stops training (``diverged``)."""
        if self.diverged:
            return
        m = self.A0_train.shape[1]
        self.net.train()
        for _ in range(batches):
            batch = self._next_batch()
            A0, Y = self.A0_train[:, batch], self.Y_train[:, batch]  # (n[0], B), (n[L], B)
            with np.errstate(all="ignore"):
                cost, _ = train_step(self.net, A0, Y, self.optimizer)
            self.steps += 1
            self.epoch += len(batch) / m
            self.last_batch = batch
            if not np.isfinite(cost):
                self.diverged = True
                break
        dense = [layer for layer in self.net.layers if hasattr(layer, "dC_dW")]
        self.grad_norms = [
            None if d.dC_dW is None else float(np.linalg.norm(np.nan_to_num(d.dC_dW)))
            for d in dense
        ]
        self.metrics = self._evaluate()
        self._record()

    def _evaluate(self) -> dict[str, float]:
        with np.errstate(all="ignore"):
            train = self.net.evaluate(self.F_train, self.data.y_train)
            test = self.net.evaluate(self.F_test, self.data.y_test)
        return {
            "train_cost": _finite(train["cost"]),
            "test_cost": _finite(test["cost"]),
            "train_accuracy": _finite(train["accuracy"]),
            "test_accuracy": _finite(test["accuracy"]),
        }

    def _record(self) -> None:
        if self.steps % self.stride:
            return
        m = self.metrics
        self.history.append([self.steps, m["train_cost"], m["test_cost"]])
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[::2]
            self.stride *= 2

    # --- what the page draws --------------------------------------------------------------------
    def points(self) -> dict[str, Any] | None:
        """Train and test points (examples first) for the plane, or None without a plane."""
        d = self.data
        if not self.plane or len(d.y_train) + len(d.y_test) > MAX_POINTS_SHOWN:
            return None
        return {
            "train": np.round(d.X_train, 4).tolist(),
            "train_y": d.y_train.tolist(),
            "test": np.round(d.X_test, 4).tolist(),
            "test_y": d.y_test.tolist(),
        }

    def weights(self) -> list[dict[str, Any]]:
        dense = [layer for layer in self.net.layers if hasattr(layer, "dC_dW")]
        return [
            {"W": np.round(np.nan_to_num(d.W), 4).tolist(), "b": np.round(d.b[:, 0], 4).tolist()}
            for d in dense
        ]

    def snapshot(self, with_points: bool = False) -> dict[str, Any]:
        """The whole state the page draws, as JSON-ready values."""
        c = self.config
        out: dict[str, Any] = {
            "config": c.to_dict(),
            "steps": self.steps,
            "epoch": round(self.epoch, 3),
            "diverged": self.diverged,
            "n_classes": self.data.n_classes,
            "n_train": int(len(self.data.y_train)),
            "n_test": int(len(self.data.y_test)),
            "description": self.data.description,
            "plane": self.plane,
            "features": self.feature_names,
            "sizes": [self.A0_train.shape[0], *c.layers, self.Y_train.shape[0]],
            "output": self.output,
            "metrics": self.metrics,
            "history": self.history,
            "grad_norms": self.grad_norms,
            "weights": self.weights(),
            "health": render.unit_health(self.net, self.A0_train, c.activation),
        }
        if self.plane:
            extent = render.plane_extent(self.data)
            out["extent"] = extent
            out["boundary"] = render.boundary_map(
                self.net, self.feature_names, extent, self.data.n_classes
            )
            out["neurons"] = render.neuron_maps(
                self.net, self.feature_names, extent, c.activation, self.output
            )
        if with_points:
            out["points"] = self.points()
        return out

    def formulas(self, layer: int) -> dict[str, Any]:
        """The formula panel of layer 1..L on the last training batch."""
        L = len(self.config.layers) + 1
        if not 1 <= layer <= L:
            raise ValueError(f"layer must be an int in [1, {L}] for this network, got {layer}")
        batch = self.last_batch
        return layer_formulas(
            self.net,
            layer,
            self.A0_train[:, batch],
            self.Y_train[:, batch],
            self.config.activation,
        )


def _finite(v: float) -> float | None:
    """JSON has no NaN: a diverged cost is sent as null."""
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None
