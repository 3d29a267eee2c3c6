"""Figures and measured numbers of the learning path's chapters 4-6 (docs/course/04-06).

    python scripts/course_figures_4_6.py              # writes docs/course/figures/ch4-*, ch5-*, ch6-*
    python scripts/course_figures_4_6.py --small      # tiny sizes, a few seconds (the tests)
    python scripts/course_figures_4_6.py --out DIR

Every number the chapters state is printed here, and every worked example is checked against
the library's own layers (an AssertionError stops the script when one disagrees):

* chapter 4: one Dense layer's forward three ways (loops, matrix-vector, matrix-matrix), the
  linearity of backward in its seed (the learning rate folded in), and the SGD step inside the
  GEMM (``chainrule.fast.blas.gemm_update``) against matmul + subtract, and three measured
  surprises of section 4.7 (a scalar operand, a small product over a long sum, memory order);
* chapter 5: the 1-D convolution worked by hand against ``chainrule.nn.conv.Conv1D`` (its input
  gradient is the full convolution of dC_dZ with the flipped kernel), batchnorm's backward node
  by node against ``chainrule.nn.batchnorm.BatchNorm.backward`` and finite differences, Bessel's
  correction in the running variance, and a deep sigmoid MLP trained with and without BatchNorm;
* chapter 6: causal self-attention with T = 3, one head, hs = 2, by hand against
  ``chainrule.nn.attention.CausalSelfAttention``.

Timings depend on the machine; the worked examples' numbers do not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.fast.blas import direct_blas_available, gemm_update
from chainrule.nn.attention import CausalSelfAttention
from chainrule.nn.batchnorm import BatchNorm
from chainrule.nn.conv import Conv1D
from chainrule.plots._backend import new_figure

OUT = Path(__file__).resolve().parent.parent / "docs" / "course" / "figures"
DPI = 80


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The best of ``repeats`` wall-clock times of fn(), in seconds (one untimed warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def save(fig: object, path: Path) -> None:
    fig.savefig(path, dpi=DPI)  # type: ignore[attr-defined]
    print(f"wrote {path}")


def one_thread() -> object:
    """A context that limits the BLAS to one thread (threadpoolctl), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a test dependency
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


# --------------------------------------------------------------------------------------------
# Chapter 4: vectorization and the speed machinery
# --------------------------------------------------------------------------------------------
def chapter4(out: Path, small: bool) -> None:
    print("== chapter 4: vectorization ==")
    n_in, n_out, m = (64, 32, 16) if small else (784, 256, 128)
    loop_m = 1 if small else 2  # pure Python is timed on a few examples, scaled to m
    repeats = 2 if small else 5
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n_out, n_in))  # (n[l], n[l-1])
    A = rng.standard_normal((n_in, m))  # (n[l-1], m)
    Wl, Al = W.tolist(), A.T.tolist()

    def pure_python() -> list[list[float]]:
        Z = []
        for j in range(loop_m):  # examples
            col = Al[j]
            Z.append([sum(w * a for w, a in zip(row, col)) for row in Wl])  # neurons, inputs
        return Z

    def dots() -> np.ndarray:
        Z = np.empty((n_out, m))
        for j in range(m):
            a = A[:, j]
            for i in range(n_out):
                Z[i, j] = W[i] @ a
        return Z

    def matvecs() -> np.ndarray:
        return np.stack([W @ A[:, j] for j in range(m)], axis=1)

    with one_thread():
        ways = {
            "pure Python loops": best_time(pure_python, 1) * m / loop_m,
            "loop of dot products": best_time(dots, max(1, repeats // 2)),
            "loop of W @ a (matrix-vector)": best_time(matvecs, repeats),
            "one W @ A (GEMM), float64": best_time(lambda: W @ A, repeats * 4),
        }
        W32, A32 = W.astype(np.float32), A.astype(np.float32)
        ways["one W @ A (GEMM), float32"] = best_time(lambda: W32 @ A32, repeats * 4)
    assert np.allclose(dots(), W @ A) and np.allclose(matvecs(), W @ A)
    assert np.allclose(np.array(pure_python()).T, (W @ A)[:, :loop_m])
    flops = 2.0 * n_in * n_out * m
    print(f"Dense {n_in} -> {n_out} forward on m = {m} examples, 1 BLAS thread, best of runs:")
    for name, t in ways.items():
        print(f"  {name:32s} {t * 1e3:10.3f} ms  {flops / t / 1e9:8.2f} GFLOP/s")
    print(f"  (pure Python timed on {loop_m} example(s) and scaled by {m / loop_m:g})")

    # the learning rate folded into the seed: backward is linear in dC/dZ[L]
    net = cr.Sequential([cr.Dense(5, 4, seed=1), cr.Sigmoid(), cr.Dense(4, 3, seed=2)])
    X = rng.standard_normal((5, 7))  # (n[0], m)
    Y = np.eye(3)[:, rng.integers(0, 3, 7)]  # (n[L], m) one-hot
    Z = net.forward(X)
    P = np.exp(Z - Z.max(0)) / np.exp(Z - Z.max(0)).sum(0)
    seed = (P - Y) / 7  # dC/dZ[L] of softmax + cross-entropy
    lr = 0.1
    net.backward(seed)
    plain = [p.G.copy() for p in net.parameters()]
    net.forward(X)
    net.backward(lr * seed)
    scaled = [p.G.copy() for p in net.parameters()]
    worst = max(
        float(np.max(np.abs(s - lr * g) / (np.abs(lr * g) + 1e-300))) for s, g in zip(scaled, plain)
    )
    print(
        f"seed lr * dC/dZ[L] (lr = {lr}): every gradient is lr * dC/dP, largest relative "
        f"difference {worst:.1e} (rounding)"
    )
    assert worst < 1e-12

    # the SGD step inside the product: W += (-1) (lr dC_dZ) @ A_prev.T in one GEMM, beta = 1
    f32 = np.float32
    Wt = rng.standard_normal((n_out, n_in)).astype(f32)
    dZ = (lr * rng.standard_normal((n_out, m))).astype(f32)  # already holds lr
    Ap = rng.standard_normal((n_in, m)).astype(f32)
    G = np.empty_like(Wt)

    def two_passes() -> None:
        np.matmul(dZ, Ap.T, out=G)  # the GEMM writes G
        Wt.__isub__(G)  # a second pass reads G and W, writes W

    def fresh() -> None:
        Wt.__isub__(lr * (dZ @ Ap.T))  # NumPy as a learner writes it: two temporaries

    def one_gemm() -> None:
        gemm_update(Wt, dZ, Ap.T, -1.0)

    W0 = Wt.copy()
    one_gemm()
    expected = W0 - dZ.astype(np.float64) @ Ap.T.astype(np.float64)
    err = float(np.max(np.abs(Wt - expected)))
    Wt[...] = W0
    with one_thread():
        steps = {
            "W -= lr * (dZ @ A.T), fresh arrays": best_time(fresh, repeats * 4),
            "matmul(out=G), then W -= G": best_time(two_passes, repeats * 4),
            "gemm_update: one GEMM, beta = 1": best_time(one_gemm, repeats * 4),
        }
    print(
        f"SGD step of the {n_out} x {n_in} float32 weights, m = {m}, 1 thread "
        f"(direct BLAS available: {direct_blas_available()}; max |error| {err:.1e}):"
    )
    for name, t in steps.items():
        print(f"  {name:40s} {t * 1e6:9.1f} us")
    assert err < 1e-3

    fig, ax = new_figure(1, 2, size=(10.0, 3.6))
    names = list(ways)
    ax[0, 0].barh(names[::-1], [ways[k] * 1e3 for k in names[::-1]], color="tab:blue")
    ax[0, 0].set_xscale("log")
    ax[0, 0].set_xlabel("milliseconds (log scale)")
    ax[0, 0].set_title(f"Dense {n_in} -> {n_out}, m = {m}: forward, 1 thread")
    names = list(steps)
    ax[0, 1].barh(names[::-1], [steps[k] * 1e6 for k in names[::-1]], color="tab:orange")
    ax[0, 1].set_xlabel("microseconds")
    ax[0, 1].set_title("one SGD step of W (float32)")
    save(fig, out / "ch4-ways.png")


def surprises(small: bool) -> None:
    """Section 4.7: three one-liners whose cost is not what it looks like (1 BLAS thread)."""
    n, B, P = (32, 128, 6272) if small else (256, 1024, 6272)
    repeats = 20 if small else 200
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((n, B)).astype(np.float32)
    zeros = np.zeros_like(Z)
    relu = {
        "np.maximum(Z, 0, out=Z)": best_time(lambda: np.maximum(Z, 0, out=Z), repeats),
        "np.maximum(Z, zeros, out=Z)": best_time(lambda: np.maximum(Z, zeros, out=Z), repeats),
    }
    print(f"ReLU of a ({n}, {B}) float32 Z in place:")
    for name, t in relu.items():
        print(f"  {name:40s} {t * 1e6:9.1f} us")
    G = rng.standard_normal((16, P)).astype(np.float32)  # dC/dZ of 16 channels
    cols = rng.standard_normal((10, P)).astype(np.float32)  # a 3x3 kernel's columns and ones
    half = P // 2

    def halves() -> np.ndarray:
        return G[:, :half] @ cols[:, :half].T + G[:, half:] @ cols[:, half:].T

    with one_thread():
        small_result = {
            f"G @ cols.T, one product of {P} terms": best_time(lambda: G @ cols.T, repeats),
            f"two products of {half} terms, added": best_time(halves, repeats),
        }
    err = float(np.max(np.abs(halves() - G @ cols.T)))
    print(f"a (16, {P}) @ ({P}, 10) float32 product, 1 thread (max |difference| {err:.1e}):")
    for name, t in small_result.items():
        print(f"  {name:40s} {t * 1e6:9.1f} us")
    # conv 16 -> 32 (3x3, padding 1) on 14 x 14 maps, then a 2x2 pool: dC/dA_prev two ways
    C, O, k, h, mm = (4, 8, 3, 6, 8) if small else (16, 32, 3, 14, 32)
    ph = h // 2
    P = ph * ph * mm
    W2T = rng.standard_normal((C * k * k, O)).astype(np.float32)  # rows (c, i1, i2)
    Gk = [rng.standard_normal((O, P)).astype(np.float32) for _ in range(4)]  # per offset
    offsets = [(0, 0), (0, 1), (1, 0), (1, 1)]
    dXp = np.zeros((C, h + k - 1, h + k - 1, mm), np.float32)

    def offset_by_offset() -> np.ndarray:
        dXp.fill(0)
        for g, (o1, o2) in zip(Gk, offsets):
            blocks = (W2T @ g).reshape(C, k, k, ph, ph, mm)  # dC/dcols of offset (o1, o2)
            for i1 in range(k):
                for i2 in range(k):  # conv row 2*py + o1 read input row 2*py + o1 + i1
                    dXp[:, o1 + i1 : o1 + i1 + h - 1 : 2, o2 + i2 : o2 + i2 + h - 1 : 2] += blocks[
                        :, i1, i2
                    ]
        return dXp.copy()

    dZ = np.zeros((O, h, h, mm), np.float32)

    def one_product() -> np.ndarray:
        for g, (o1, o2) in zip(Gk, offsets):
            dZ[:, o1::2, o2::2] = g.reshape(O, ph, ph, mm)  # dC/dZ in the conv's layout
        blocks = (W2T @ dZ.reshape(O, -1)).reshape(C, k, k, h, h, mm)
        dXp.fill(0)
        for i1 in range(k):
            for i2 in range(k):
                dXp[:, i1 : i1 + h, i2 : i2 + h] += blocks[:, i1, i2]
        return dXp.copy()

    err = float(np.max(np.abs(offset_by_offset() - one_product())))
    with one_thread():
        order = {
            f"4 products, {4 * k * k} strided adds": best_time(offset_by_offset, repeats // 4),
            f"1 product, {k * k} contiguous adds": best_time(one_product, repeats // 4),
        }
    print(
        f"dC/dA_prev of a conv {C} -> {O} ({k}x{k}) and its 2x2 pool, m = {mm}, 1 thread "
        f"(max |difference| {err:.1e}):"
    )
    for name, t in order.items():
        print(f"  {name:40s} {t * 1e6:9.1f} us")


# --------------------------------------------------------------------------------------------
# Chapter 5: convolutions and batch normalization
# --------------------------------------------------------------------------------------------
def conv1d_example(out: Path) -> None:
    x = np.array([1.0, 3.0, 2.0, 4.0])  # 4 inputs
    w = np.array([2.0, -1.0])  # kernel 2, stride 1
    b = 0.5
    dZ = np.array([1.0, -1.0, 2.0])  # dC/dZ, 3 outputs
    # by hand
    Z = np.array([w[0] * x[t] + w[1] * x[t + 1] + b for t in range(3)])
    dW = np.array([sum(dZ[t] * x[t + i] for t in range(3)) for i in range(2)])
    db = dZ.sum()
    padded = np.concatenate([[0.0], dZ, [0.0]])  # dZ with kernel - 1 zeros on each side
    flipped = w[::-1]
    dx = np.array([padded[i] * flipped[0] + padded[i + 1] * flipped[1] for i in range(4)])
    M = np.zeros((3, 4))  # Z - b = M @ x: one row per output, the kernel slid along
    for t in range(3):
        M[t, t : t + 2] = w
    # the library
    layer = Conv1D(1, 1, 2)
    layer.W = w.reshape(1, 1, 2).copy()
    layer.b = np.array([[b]])
    Zl = layer.forward(x.reshape(1, 4, 1))  # (C, L, m) = (1, 4, 1)
    dxl = layer.backward(dZ.reshape(1, 3, 1))
    assert np.allclose(Zl.ravel(), Z) and np.allclose(layer.dC_dW.ravel(), dW)
    assert np.allclose(layer.dC_db.ravel(), db) and np.allclose(dxl.ravel(), dx)
    assert np.allclose(dx, np.convolve(dZ, w, mode="full"))  # a true (flipping) convolution
    assert np.allclose(dx, M.T @ dZ) and np.allclose(Z, M @ x + b)
    print("1-D convolution x = [1, 3, 2, 4], w = [2, -1], b = 0.5, stride 1:")
    print(f"  Z = {Z.tolist()}")
    print(f"  dC_dZ = {dZ.tolist()}: dC_dW = {dW.tolist()}, dC_db = {db}, dC_dx = {dx.tolist()}")
    print(
        f"  dC_dx = np.convolve(dC_dZ, w, 'full') = M.T @ dC_dZ; Conv1D agrees (M = {M.tolist()})"
    )

    fig, ax = new_figure(1, 2, size=(8.0, 3.0))
    for a, mat, title in (
        (ax[0, 0], M, "forward: Z - b = M @ x   (3 x 4)"),
        (ax[0, 1], M.T, "backward: dC_dx = M.T @ dC_dZ   (4 x 3)"),
    ):
        a.imshow(mat, cmap="coolwarm", vmin=-2.5, vmax=2.5)
        for (i, j), v in np.ndenumerate(mat):
            a.text(j, i, f"{v:g}", ha="center", va="center")
        a.set_title(title, fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    save(fig, out / "ch5-conv1d.png")


def batchnorm_by_nodes(x: np.ndarray, gamma: float, beta: float, eps: float, dy: np.ndarray):  # noqa: ANN201
    """Forward and backward of one channel, node by node; returns (y, dgamma, dbeta, dx)."""
    N = x.size
    mu = x.mean()  # node 1
    xc = x - mu  # node 2
    var = np.mean(xc**2)  # node 3
    inv_std = (var + eps) ** -0.5  # node 4
    x_hat = xc * inv_std  # node 5
    y = gamma * x_hat + beta  # node 6
    dbeta = dy.sum()  # y = gamma x_hat + beta: dy/dbeta = 1, beta fans out to N outputs
    dgamma = np.sum(dy * x_hat)
    dx_hat = gamma * dy
    dxc = dx_hat * inv_std  # x_hat = xc * inv_std, path 1 of xc
    dinv_std = np.sum(dx_hat * xc)  # inv_std fans out to all N x_hat
    dvar = dinv_std * -0.5 * (var + eps) ** -1.5
    dxc = dxc + dvar * 2.0 * xc / N  # var = mean(xc^2), path 2 of xc: the two paths add
    dmu = -np.sum(dxc)  # xc = x - mu, mu fans out to all N xc
    dx = dxc + dmu / N  # mu = mean(x): x's two paths add
    return (
        y,
        dgamma,
        dbeta,
        dx,
        {
            "mu": mu,
            "var": var,
            "inv_std": inv_std,
            "x_hat": x_hat,
            "dvar": dvar,
            "dmu": dmu,
            "dinv_std": dinv_std,
        },
    )


def batchnorm_example() -> None:
    x = np.array([1.0, 2.0, 4.0, 5.0])
    gamma, beta, eps = 2.0, 0.5, 1e-5
    dy = np.array([1.0, 0.0, -1.0, 2.0])
    y, dgamma, dbeta, dx, nodes = batchnorm_by_nodes(x, gamma, beta, eps, dy)
    layer = BatchNorm(1, eps=eps)
    layer.gamma[...] = gamma
    layer.beta[...] = beta
    yl = layer.forward(x.reshape(1, 4))  # (C, m) = (1, 4)
    dxl = layer.backward(dy.reshape(1, 4))
    assert np.allclose(yl.ravel(), y) and np.allclose(dxl.ravel(), dx)
    assert np.isclose(layer.dC_dgamma.item(), dgamma) and np.isclose(layer.dC_dbeta.item(), dbeta)
    # finite differences of C = sum(dy * y)
    h = 1e-6
    fd = np.array(
        [
            (
                np.sum(dy * batchnorm_by_nodes(x + h * e, gamma, beta, eps, dy)[0])
                - np.sum(dy * batchnorm_by_nodes(x - h * e, gamma, beta, eps, dy)[0])
            )
            / (2 * h)
            for e in np.eye(4)
        ]
    )
    compact = gamma * nodes["inv_std"] / 4 * (4 * dy - dbeta - nodes["x_hat"] * dgamma)
    assert np.allclose(fd, dx, atol=1e-7) and np.allclose(compact, dx)
    r = lambda a: np.round(a, 4).tolist()  # noqa: E731
    print(
        "BatchNorm, one channel x = [1, 2, 4, 5], gamma = 2, beta = 0.5, eps = 1e-5, "
        "dC_dy = [1, 0, -1, 2]:"
    )
    print(
        f"  mu = {nodes['mu']}, var = {nodes['var']}, inv_std = {nodes['inv_std']:.6f}, "
        f"x_hat = {r(nodes['x_hat'])}"
    )
    print(
        f"  dC_dbeta = {dbeta}, dC_dgamma = {dgamma:.6f}, dC_dinv_std = {nodes['dinv_std']:.6f}, "
        f"dC_dvar = {nodes['dvar']:.6f}, dC_dmu = {nodes['dmu']:.2e}"
    )
    print(
        f"  dC_dx = {r(dx)}; the layer, the compact formula and finite differences agree "
        f"(max |fd - dx| = {np.max(np.abs(fd - dx)):.1e}); sum dC_dx = {dx.sum():.1e}"
    )

    # Bessel's correction in the running variance
    bn = BatchNorm(1)  # running_mean 0, running_var 1, momentum 0.1
    bn.forward(x.reshape(1, 4))
    print(
        f"  one training forward from running_var = 1: running_var = {bn.running_var.item():.6f}"
        f" = 0.9 * 1 + 0.1 * {nodes['var']} * 4/3; running_mean = {bn.running_mean.item():.6f}"
    )
    assert np.isclose(bn.running_var.item(), 0.9 + 0.1 * nodes["var"] * 4 / 3)


def bessel_demo(small: bool) -> None:
    rng = np.random.default_rng(0)
    batches = rng.standard_normal((2_000 if small else 100_000, 4))  # N = 4 draws of N(0, 1)
    biased = batches.var(axis=1).mean()
    unbiased = batches.var(axis=1, ddof=1).mean()
    print(
        f"Bessel: {len(batches):,} samples of N = 4 from N(0, 1): mean biased variance "
        f"{biased:.4f} (expected (N-1)/N = 0.75), mean of the m/(m-1)-corrected {unbiased:.4f}"
    )


def batchnorm_effect(out: Path, small: bool) -> None:
    data = cr.datasets.load("digits")
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    mu, sd = X.mean(0), X.std(0) + 1e-8
    X, Xt = (X - mu) / sd, (Xt - mu) / sd
    depth, width = (3, 16) if small else (8, 64)
    epochs = 2 if small else 15
    lr = 0.1

    def build(norm: bool) -> cr.Sequential:
        layers: list = []
        n = 64
        for i in range(depth):
            layers.append(cr.Dense(n, width, seed=i))
            if norm:
                layers.append(cr.BatchNorm(width))
            layers.append(cr.Sigmoid())
            n = width
        layers += [cr.Dense(n, 10, seed=99), cr.Softmax()]
        return cr.Sequential(layers)

    curves = {}
    for lr in (0.1, 0.05):
        for norm in (False, True):
            net = build(norm)
            t0 = time.perf_counter()
            hist = net.fit(
                X, y, epochs=epochs, lr=lr, batch_size=32, optimizer="sgd", verbose=False, seed=0
            )
            took = time.perf_counter() - t0
            test = net.evaluate(Xt, yt)["accuracy"]
            train_eval = net.evaluate(X, y)["accuracy"]
            label = f"{'with BatchNorm' if norm else 'without'}, lr {lr}"
            curves[label] = hist["cost"]
            print(
                f"digits, {depth} sigmoid layers of {width}, SGD, batch 32, {epochs} epochs, "
                f"{label}: train cost {hist['cost'][0]:.3f} -> {hist['cost'][-1]:.3f}, "
                f"last epoch's accuracy (batch statistics) {hist['accuracy'][-1]:.3f}, "
                f"eval mode (running statistics): train {train_eval:.3f}, test {test:.3f} "
                f"({took:.1f} s)"
            )
    fig, ax = new_figure(1, 1, size=(5.5, 3.6))
    for label, c in curves.items():
        ax[0, 0].plot(range(1, len(c) + 1), c, marker="o", label=label)
    ax[0, 0].set_xlabel("epoch")
    ax[0, 0].set_ylabel("training cost (cross-entropy)")
    ax[0, 0].set_title(f"digits: {depth} sigmoid layers of {width}, plain SGD", fontsize=9)
    ax[0, 0].legend()
    save(fig, out / "ch5-batchnorm.png")


# --------------------------------------------------------------------------------------------
# Chapter 6: one head of causal self-attention with numbers
# --------------------------------------------------------------------------------------------
def attention_example(out: Path) -> None:
    x = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # (C, T) = (2, 3), m = 1
    Wq = np.eye(2)
    Wk = np.array([[0.0, 1.0], [1.0, 0.0]])
    Wv = np.array([[1.0, 0.0], [0.0, -1.0]])
    dout = np.array([[1.0, 0.0, -1.0], [0.0, 2.0, 1.0]])  # dC/dout (C, T)
    hs = 2
    # by hand, one head, W_o = I and every bias 0
    q, k, v = Wq @ x, Wk @ x, Wv @ x  # (hs, T)
    S = q.T @ k / np.sqrt(hs)  # (T, T): S[t, s] = q_t . k_s / sqrt(hs)
    mask = np.tril(np.ones((3, 3), dtype=bool))
    E = np.where(mask, np.exp(S - np.where(mask, S, -np.inf).max(1, keepdims=True)), 0.0)
    P = E / E.sum(1, keepdims=True)
    yv = v @ P.T  # (hs, T): y_t = sum_s P[t, s] v_s
    dy = dout  # W_o = I
    dP = dy.T @ v  # (T, T): dC_dP[t, s] = dC_dy_t . v_s
    dv = dy @ P  # (hs, T): dC_dv_s = sum_t P[t, s] dC_dy_t
    dS = P * (dP - np.sum(dP * P, axis=1, keepdims=True))
    dq = k @ dS.T / np.sqrt(hs)  # dC_dq_t = sum_s dC_dS[t, s] k_s / sqrt(hs)
    dk = q @ dS / np.sqrt(hs)  # dC_dk_s = sum_t dC_dS[t, s] q_t / sqrt(hs)
    dqkv = np.vstack([dq, dk, dv])  # (3C, T)
    W_qkv = np.vstack([Wq, Wk, Wv])  # (3C, C)
    # the library
    att = CausalSelfAttention(2, 1, seed=0)
    att.W_qkv = W_qkv.copy()
    att.W_o = np.eye(2)
    outl = att.forward(x.reshape(2, 3, 1))
    dxl = att.backward(dout.reshape(2, 3, 1))
    assert np.allclose(outl[:, :, 0], yv)
    assert np.allclose(att.cache["P"][0, :, :, 0], P)
    assert np.allclose(att.dC_dW_qkv, dqkv @ x.T) and np.allclose(dxl[:, :, 0], W_qkv.T @ dqkv)
    assert np.allclose(att.dC_dW_o, dout @ yv.T)
    assert np.allclose(dS.sum(axis=1), 0.0) and np.all(dS[~mask] == 0.0)
    r = lambda a: np.round(a, 4).tolist()  # noqa: E731
    print(
        "attention T = 3, one head, hs = 2, x = [[1, 0, 1], [0, 1, 1]], W_q = I, "
        "W_k = [[0, 1], [1, 0]], W_v = [[1, 0], [0, -1]], W_o = I, biases 0:"
    )
    for name, val in (("q", q), ("k", k), ("v", v), ("S", S), ("P", P), ("y = out", yv)):
        print(f"  {name} = {r(val)}")
    print("  dC_dout = [[1, 0, -1], [0, 2, 1]]:")
    for name, val in (
        ("dC_dP", dP),
        ("dC_dv", dv),
        ("dC_dS", dS),
        ("dC_dq", dq),
        ("dC_dk", dk),
        ("dC_dx", W_qkv.T @ dqkv),
    ):
        print(f"  {name} = {r(val)}")
    print(
        "  CausalSelfAttention agrees (out, P, dC_dW_qkv, dC_dW_o, dC_dx); rows of dC_dS sum to 0"
    )

    fig, ax = new_figure(1, 3, size=(10.0, 3.2))
    for a, mat, title in (
        (ax[0, 0], S, "S = q.T k / sqrt(2)"),
        (ax[0, 1], P, "P (causal softmax)"),
        (ax[0, 2], dS, "dC_dS = P * (dC_dP - rowsum)"),
    ):
        a.imshow(np.where(mask, mat, np.nan), cmap="viridis")
        for (i, j), val in np.ndenumerate(mat):
            a.text(
                j,
                i,
                "masked" if not mask[i, j] else f"{val:.3f}",
                ha="center",
                va="center",
                fontsize=8,
                color="black" if not mask[i, j] else "white",
            )
        a.set_title(title, fontsize=9)
        a.set_xlabel("s (key position)")
        a.set_ylabel("t (query position)")
        a.set_xticks(range(3))
        a.set_yticks(range(3))
    save(fig, out / "ch6-attention.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    parser.add_argument("--small", action="store_true", help="tiny sizes (a few seconds)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chapter4(args.out, args.small)
    surprises(args.small)
    print("== chapter 5: convolutions and batch normalization ==")
    conv1d_example(args.out)
    batchnorm_example()
    bessel_demo(args.small)
    batchnorm_effect(args.out, args.small)
    print("== chapter 6: attention ==")
    attention_example(args.out)


if __name__ == "__main__":
    main()
