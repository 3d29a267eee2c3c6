"""The figures and measured numbers of docs/course chapters 1-3.

    python scripts/course_figures_1_3.py                 # full sizes, into docs/course/figures
    python scripts/course_figures_1_3.py --small --out /tmp/figs   # tiny sizes, a few seconds

Every number the chapters quote is printed here, one ``name = value`` line each, so a reader can
rerun the script and compare. Timings depend on the machine; everything else is seeded.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.data.layout import to_engine
from chainrule.learn.gradcheck import gradcheck, relative_error
from chainrule.nn.dense import Dense
from chainrule.train.diagnostics import diagnose

ROOT = Path(__file__).resolve().parents[1]


def say(name: str, value: Any) -> None:
    """One measured number, in the form the chapters quote it."""
    print(f"{name} = {value}")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def cost_only(net: Any, A0: np.ndarray, Y: np.ndarray) -> float:
    """The cost as training computes it (from the logits on the fused path), no backward."""
    if net.fused:
        Z = A0
        for layer in net.layers[:-1]:
            Z = layer.forward(Z)
        return float(net.loss.cost_from_logits(Z, Y))
    return float(net.loss.cost(net.forward(A0), Y))


def central_differences(
    net: Any, A0: np.ndarray, Y: np.ndarray, P: np.ndarray, eps: float, entries: np.ndarray
) -> np.ndarray:
    """(C(p + eps) - C(p - eps)) / (2 eps) for the chosen flat entries of parameter array P."""
    flat = P.reshape(-1)  # a view: writing to it perturbs P
    out = np.empty(entries.size)
    for k, i in enumerate(entries):
        old = flat[i]
        flat[i] = old + eps
        c_plus = cost_only(net, A0, Y)
        flat[i] = old - eps
        c_minus = cost_only(net, A0, Y)
        flat[i] = old
        out[k] = (c_plus - c_minus) / (2 * eps)
    return out


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def toy_worked() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """docs/math.md section 9's worked example: standardized toy data, mlp seed 0, float64."""
    data = cr.datasets.load("toy")
    X = cr.Standardizer().fit_transform(data.X_train)  # (10, 2)
    net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0, dtype=np.float64)
    A0, Y = to_engine(X), data.y_train.reshape(1, 10).astype(float)
    return net, X, A0, Y


# ---------------------------------------------------------------------------------------------
# Chapter 1: the chain rule on a graph, and why backprop is fast


def chapter1(out: Path, small: bool) -> None:
    print("# chapter 1")
    x, y, z = -2.0, 5.0, -4.0
    q = x + y  # add node
    f = q * z  # multiply node
    df_df = 1.0
    df_dq, df_dz = z * df_df, q * df_df  # multiply swaps
    df_dx, df_dy = df_dq * 1.0, df_dq * 1.0  # add distributes
    say("ch1.graph.q", q)
    say("ch1.graph.f", f)
    say("ch1.graph.df_dz", df_dz)
    say("ch1.graph.df_dq", df_dq)
    say("ch1.graph.df_dx", df_dx)
    say("ch1.graph.df_dy", df_dy)
    h = 1e-6

    def fn(a: float, b: float, c: float) -> float:
        return (a + b) * c

    numeric = [
        (fn(x + h, y, z) - fn(x - h, y, z)) / (2 * h),
        (fn(x, y + h, z) - fn(x, y - h, z)) / (2 * h),
        (fn(x, y, z + h) - fn(x, y, z - h)) / (2 * h),
    ]
    say("ch1.graph.central_differences(x, y, z)", [round(v, 6) for v in numeric])
    graph_figure(out / "ch1-graph.png", x, y, z, q, f, df_dx, df_dy, df_dz, df_dq)

    # Why backprop is fast: one backward pass against 2P forward passes.
    rows = []
    net, _, A0, Y = toy_worked()
    P = sum(p.P.size for p in net.parameters())
    t_bp = best_time(lambda: net.forward_backward(A0, Y), 50)
    t_num = best_time(
        lambda: [
            central_differences(net, A0, Y, p.P, 1e-6, np.arange(p.P.size))
            for p in net.parameters()
        ],
        5,
    )
    rows.append(("2-3-3-1, m = 10", P, t_bp, t_num, False))

    sizes = [784, 256, 128, 10]
    rng = np.random.default_rng(0)
    m = 64
    big = cr.mlp(sizes, activation="relu", output="softmax", seed=0, dtype=np.float64)
    Xb = rng.standard_normal((m, sizes[0]))
    yb = rng.integers(0, sizes[-1], m)
    A0b, Yb = to_engine(Xb), big.prepare_Y(yb, m)
    Pb = sum(p.P.size for p in big.parameters())
    t_bp_big = best_time(lambda: big.forward_backward(A0b, Yb), 5 if small else 20)
    sample = 10 if small else 200  # entries of W[1] timed; the rest is extrapolated
    W1 = big.layers[0].W
    idx = rng.choice(W1.size, size=sample, replace=False)
    t_sample = best_time(
        lambda: central_differences(big, A0b, Yb, W1, 1e-6, idx), 1 if small else 3
    )
    t_num_big = t_sample / sample * Pb
    rows.append((f"784-256-128-10, m = {m}", Pb, t_bp_big, t_num_big, True))

    for name, n_params, tb, tn, extrapolated in rows:
        tag = "ch1.speed." + name.split(",")[0]
        say(tag + ".parameters P", n_params)
        say(tag + ".forward passes 2P", 2 * n_params)
        say(tag + ".one forward+backward (ms)", f"{tb * 1e3:.3g}")
        note = f" (extrapolated from {sample} entries)" if extrapolated else ""
        say(tag + ".central differences, all P (s)" + note, f"{tn:.3g}")
        say(tag + ".ratio", f"{tn / tb:.3g}")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = [r[0] for r in rows]
    ypos = np.arange(len(rows))
    ax.barh(ypos + 0.2, [r[2] for r in rows], height=0.4, label="one backward pass (backprop)")
    ax.barh(ypos - 0.2, [r[3] for r in rows], height=0.4, label="2P forward passes (central diff.)")
    for k, r in enumerate(rows):
        ax.text(r[3], k - 0.2, f"  {r[3] / r[2]:,.0f}x", va="center")
    ax.set_xscale("log")
    ax.set_yticks(ypos, labels)
    ax.set_xlabel("seconds for one full gradient (log scale)")
    ax.set_title("One backward pass vs central differences")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ch1-backprop-vs-numeric.png", dpi=110)
    plt.close(fig)


def graph_figure(path: Path, x, y, z, q, f, dx, dy, dz, dq) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    pos = {"x": (0, 2), "y": (0, 1), "z": (0, 0), "+": (2, 1.5), "*": (4, 0.75), "f": (5.6, 0.75)}
    edges = [("x", "+"), ("y", "+"), ("+", "*"), ("z", "*"), ("*", "f")]
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", (x1 - 0.25, y1), (x0 + 0.25, y0), arrowprops={"arrowstyle": "->"})
    for name, (px, py) in pos.items():
        ax.text(
            px,
            py,
            name,
            ha="center",
            va="center",
            fontsize=14,
            bbox={"boxstyle": "circle", "fc": "white"},
        )
    fwd = {"x": x, "y": y, "z": z, "+": q, "*": f}
    bwd = {"x": dx, "y": dy, "z": dz, "+": dq, "*": 1.0}
    for name, (px, py) in pos.items():
        if name == "f":
            continue
        ax.text(px + 0.35, py + 0.22, f"{fwd[name]:g}", color="green", fontsize=11)
        ax.text(px + 0.35, py - 0.32, f"{bwd[name]:g}", color="red", fontsize=11)
    ax.text(0, -0.8, "green: forward value    red: df/d(node), the backward pass", fontsize=9)
    ax.set_xlim(-0.6, 6.2)
    ax.set_ylim(-1.0, 2.6)
    ax.axis("off")
    ax.set_title("f = (x + y) z: add distributes, multiply swaps")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Chapter 2: the notebook's network, gradient checking, the bug hunt


def chapter2(out: Path, small: bool) -> None:
    print("# chapter 2")
    net, X, A0, Y = toy_worked()
    cost, A3 = net.forward_backward(A0, Y)
    d1, _, d2, _, d3, _ = net.layers
    say("ch2.worked.cost", f"{cost:.4f}")
    say("ch2.worked.A3 range", f"{A3.min():.4f} .. {A3.max():.4f}")
    dZ3 = (A3 - Y) / 10
    say("ch2.worked.dC_dZ3 for y=0", f"{dZ3[Y == 0].mean():+.4f}")
    say("ch2.worked.dC_dZ3 for y=1", f"{dZ3[Y == 1].mean():+.4f}")
    say("ch2.worked.dC_db3", f"{d3.dC_db.item():.4f}")
    say("ch2.worked.dC_db2", np.round(d2.dC_db.ravel(), 4).tolist())
    say(
        "ch2.worked.notebook db2 / true db2",
        np.round(d2.dC_dW.sum(axis=1) / d2.dC_db.ravel(), 2).tolist(),
    )
    say(
        "ch2.worked.notebook db1 / true db1",
        np.round(d1.dC_dW.sum(axis=1) / d1.dC_db.ravel(), 2).tolist(),
    )

    # The fused output gradient equals the general path (where nothing saturates).
    general = net.loss.gradient(A3, Y) * A3 * (1 - A3)  # dC/dA3 * sigmoid'
    say("ch2.fused.max |general - fused|", f"{np.abs(general - dZ3).max():.1e}")
    z_sat, y_sat = np.array([[40.0]]), np.array([[0.0]])
    A_sat = cr.nn.functional.sigmoid(z_sat)
    general_sat = net.loss.gradient(A_sat, y_sat) * A_sat * (1 - A_sat)
    say("ch2.fused.saturated z=40, y=0: general path", general_sat.item())
    say("ch2.fused.saturated z=40, y=0: fused (A - Y)/m", (A_sat - y_sat).item())

    # Gradient checking at several eps, float64 and float32 (relative error of dC_dW1).
    eps_values = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8]
    G64 = d1.dC_dW.copy()
    table: dict[str, list[float]] = {}
    for dtype in (np.float64, np.float32):
        n = net.astype(dtype)
        A0d, Yd = A0.astype(dtype), Y.astype(dtype)
        W1 = n.layers[0].W
        errs = [
            relative_error(G64.ravel(), central_differences(n, A0d, Yd, W1, e, np.arange(W1.size)))
            for e in eps_values
        ]
        table[np.dtype(dtype).name] = errs
        say(
            f"ch2.gradcheck.{np.dtype(dtype).name} eps " + " ".join(f"{e:g}" for e in eps_values),
            " ".join(f"{v:.1e}" for v in errs),
        )
    report = gradcheck(net, X, Y.ravel())
    say("ch2.gradcheck.cr.gradcheck max error (eps=1e-6)", f"{report.max_error:.1e}")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, errs in table.items():
        ax.loglog(eps_values, errs, "o-", label=name)
    e = np.array(eps_values)
    ax.loglog(e, table["float64"][0] * (e / e[0]) ** 2, ":", color="gray", label="eps^2 law")
    ax.set_ylim(1e-12, 2)
    ax.set_xlabel("eps")
    ax.set_ylabel("relative error of dC_dW[1]")
    ax.set_title("Central differences vs backprop, notebook network")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ch2-gradcheck-eps.png", dpi=110)
    plt.close(fig)

    # The notebook's bias bug, planted in every Dense layer, caught by gradcheck.
    original = Dense.backward

    def notebook_backward(self: Dense, dC_dZ: np.ndarray) -> np.ndarray | None:
        dC_dA_prev = original(self, dC_dZ)
        self.dC_db = np.sum(self.dC_dW, axis=1, keepdims=True)  # the notebook's bug
        return dC_dA_prev

    Dense.backward = notebook_backward  # type: ignore[method-assign]
    try:
        buggy = gradcheck(net, X, Y.ravel())
    finally:
        Dense.backward = original  # type: ignore[method-assign]
    for key in ("b[1]", "b[2]", "b[3]"):
        say(f"ch2.bug.gradcheck {key} notebook", f"{buggy.errors[key]:.3f}")
        say(f"ch2.bug.gradcheck {key} correct", f"{report.errors[key]:.1e}")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    keys = ["b[1]", "b[2]", "b[3]"]
    xs = np.arange(3)
    ax.bar(xs - 0.2, [buggy.errors[k] for k in keys], 0.4, label="notebook: sum of dC_dW")
    ax.bar(xs + 0.2, [report.errors[k] for k in keys], 0.4, label="correct: sum of dC_dZ")
    ax.axhline(1e-6, color="gray", ls=":", label="tolerance 1e-6")
    ax.set_yscale("log")
    ax.set_xticks(xs, keys)
    ax.set_ylabel("gradcheck relative error")
    ax.set_title("The notebook's bias bug, caught by a gradient check")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ch2-bias-bug.png", dpi=110)
    plt.close(fig)

    # Raw inputs saturate the sigmoids.
    data = cr.datasets.load("toy")
    raw = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
    Z1_raw = raw.layers[0].forward(to_engine(data.X_train.astype(np.float32)))
    Z1_std = raw.layers[0].forward(to_engine(X.astype(np.float32)))
    say("ch2.raw.Z1 range raw", f"{Z1_raw.min():.1f} .. {Z1_raw.max():.1f}")
    say("ch2.raw.Z1 smallest |Z1| raw", f"{np.abs(Z1_raw).min():.1f}")
    say("ch2.raw.Z1 range standardized", f"{Z1_std.min():.2f} .. {Z1_std.max():.2f}")
    epochs = 100 if small else 500
    for standardize in (False, True):
        n = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
        h = n.fit(
            data.X_train,
            data.y_train,
            epochs=epochs,
            lr=0.5,
            batch_size=10,
            standardize=standardize,
            verbose=False,
            seed=0,
        )
        p = n.predict_proba(data.X_train).ravel()
        tag = "standardized" if standardize else "raw"
        say(f"ch2.raw.{tag} {epochs} epochs: final cost", f"{h['cost'][-1]:.4f}")
        say(f"ch2.raw.{tag} predict_proba range", f"{p.min():.3f} .. {p.max():.3f}")
        say(f"ch2.raw.{tag} accuracy", f"{np.mean(n.predict(data.X_train) == data.y_train):.0%}")

    # The overflowing sigmoid.
    z = np.array([-800.0, -40.0, 0.0, 40.0])
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn"):
        warnings.simplefilter("always")
        naive = 1 / (1 + np.exp(-z))
    say("ch2.sigmoid.naive at z = -800, -40, 0, 40", naive.tolist())
    say("ch2.sigmoid.naive warnings", [str(w.message) for w in caught])
    with warnings.catch_warnings(record=True) as caught2:
        warnings.simplefilter("always")
        stable = cr.nn.functional.sigmoid(z)
    say("ch2.sigmoid.stable at z = -800, -40, 0, 40", stable.tolist())
    say("ch2.sigmoid.stable warnings", len(caught2))


# ---------------------------------------------------------------------------------------------
# Chapter 3: optimizers, initialisation, saturation, diagnostics


def chapter3(out: Path, small: bool) -> None:
    print("# chapter 3")
    plt = _plt()
    data = cr.datasets.load("moons")
    epochs = 10 if small else 100
    settings = [("sgd", 0.1), ("momentum", 0.1), ("rmsprop", 0.003), ("adam", 0.01)]
    curves = {}
    for name, lr in settings:
        n = cr.mlp([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
        h = n.fit(
            data.X_train,
            data.y_train,
            epochs=epochs,
            lr=lr,
            batch_size=32,
            optimizer=name,
            standardize=True,
            verbose=False,
            seed=0,
        )
        curves[f"{name} (lr {lr:g})"] = h["cost"]
        acc = np.mean(n.predict(data.X_test) == data.y_test)
        say(
            f"ch3.optim.{name} lr={lr:g} cost after epoch 1, 10, {epochs}",
            f"{h['cost'][0]:.4f} {h['cost'][min(9, epochs - 1)]:.4f} {h['cost'][-1]:.4f}",
        )
        say(f"ch3.optim.{name} test accuracy", f"{acc:.1%}")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, c in curves.items():
        ax.plot(np.arange(1, len(c) + 1), c, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cost")
    ax.set_title("moons, 2-16-16-1 tanh, batch 32")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ch3-optimizers.png", dpi=110)
    plt.close(fig)

    # Initialisation: the scale of Z through 10 ReLU layers of width 256.
    width, depth, m = (64, 10, 128) if small else (256, 10, 512)
    A0 = np.random.default_rng(0).standard_normal((width, m))  # unit-scale inputs (n[0], m)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for init in ("he", "xavier", "torch", "normal"):
        n = cr.mlp(
            [width] * (depth + 1),
            activation="relu",
            output="identity",
            init=init,
            seed=0,
            dtype=np.float64,
        )
        stds, A = [], A0
        for layer in n.layers:
            A = layer.forward(A)
            if isinstance(layer, Dense):
                stds.append(float(A.std()))
        say(
            f"ch3.init.{init} std of Z[1], Z[5], Z[10]",
            f"{stds[0]:.3g} {stds[4]:.3g} {stds[-1]:.3g}",
        )
        ax.semilogy(np.arange(1, depth + 1), stds, "o-", label=init)
    ax.set_xlabel("layer l")
    ax.set_ylabel("std of Z[l]")
    ax.set_title(f"{depth} ReLU layers of width {width}, unit-scale input")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ch3-init.png", dpi=110)
    plt.close(fig)

    # Saturation: g'(z) = A (1 - A) <= 1/4, and 9-layer sigmoid vs relu stacks.
    zs = np.linspace(-10, 10, 20001)
    a = cr.nn.functional.sigmoid(zs)
    say("ch3.saturation.max of A(1 - A)", f"{(a * (1 - a)).max():.4f}")
    width, m = (16, 64) if small else (64, 256)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, width))
    y = rng.integers(0, 2, m)
    sizes = [width] * 9 + [1]  # 9 weight layers: 8 hidden + output
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for act in ("sigmoid", "relu"):
        n = cr.mlp(sizes, activation=act, output="sigmoid", seed=0, dtype=np.float64)
        d = diagnose(n, X, y)
        norms = [d[f"grad_norm/W[{l}]"] for l in range(1, len(sizes))]
        ratios = [norms[l + 1] / norms[l] for l in range(len(norms) - 2)]
        say(f"ch3.saturation.{act} ||dC_dW[l]|| l=1..9", " ".join(f"{v:.2e}" for v in norms))
        say(
            f"ch3.saturation.{act} ||dC_dW[l+1]|| / ||dC_dW[l]||, l=1..7 (hidden)",
            " ".join(f"{v:.2f}" for v in ratios),
        )
        say(f"ch3.saturation.{act} ||dC_dW[8]|| / ||dC_dW[1]||", f"{norms[7] / norms[0]:.3g}")
        say(
            f"ch3.saturation.{act} geometric mean shrink per hidden layer",
            f"{(norms[7] / norms[0]) ** (1 / 7):.2f}",
        )
        init = "he" if act == "relu" else "xavier"
        ax.semilogy(np.arange(1, len(norms) + 1), norms, "o-", label=f"{act} ({init} init)")
    ax.set_xlabel("layer l")
    ax.set_ylabel("||dC_dW[l]||")
    ax.set_title(f"9 weight layers of width {width}, {m} random examples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ch3-gradient-norms.png", dpi=110)
    plt.close(fig)

    # Diagnostics: the notebook's raw inputs vs standardized, epoch 1.
    toy = cr.datasets.load("toy")
    for standardize in (False, True):
        n = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
        h = n.fit(
            toy.X_train,
            toy.y_train,
            epochs=5,
            lr=0.5,
            batch_size=10,
            standardize=standardize,
            verbose=False,
            seed=0,
            diagnostics=True,
        )
        tag = "standardized" if standardize else "raw"
        say(f"ch3.diagnostics.{tag} saturated/A[1] epoch 1", f"{h['saturated/A[1]'][0]:.0%}")
        say(f"ch3.diagnostics.{tag} grad_norm/W[1] epoch 1", f"{h['grad_norm/W[1]'][0]:.2e}")
        say(f"ch3.diagnostics.{tag} grad_norm/W[3] epoch 1", f"{h['grad_norm/W[3]'][0]:.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "course" / "figures")
    parser.add_argument("--small", action="store_true", help="tiny sizes, for the tests")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chapter1(args.out, args.small)
    chapter2(args.out, args.small)
    chapter3(args.out, args.small)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
