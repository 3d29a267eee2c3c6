"""The loop twins (chainrule.learn.loops) compute exactly what the vectorized engine computes."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main as cli_main
from chainrule.data.targets import one_hot
from chainrule.learn import lab as bench
from chainrule.learn.loops import costs as lc
from chainrule.learn.loops import dense as ld
from chainrule.nn.activation import ReLU, Softmax
from chainrule.nn.losses import BinaryCrossEntropy, CrossEntropy, MeanSquaredError


@pytest.fixture
def layer_data(rng: np.random.Generator) -> tuple:
    layer = cr.Dense(7, 5, seed=3)  # float64
    layer.b = rng.standard_normal((5, 1))
    A_prev = rng.standard_normal((7, 6))
    dC_dZ = rng.standard_normal((5, 6))
    return layer, A_prev, dC_dZ


def test_dense_forward_three_ways_agree(layer_data: tuple) -> None:
    layer, A_prev, _ = layer_data
    Z = layer.forward(A_prev)
    Z_loops = ld.dense_forward_loops(layer.W.tolist(), layer.b[:, 0].tolist(), A_prev.tolist())
    Z_vec = ld.dense_forward_per_example(layer.W, layer.b, A_prev)
    np.testing.assert_allclose(np.array(Z_loops), Z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Z_vec, Z, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("propagate", [True, False])
def test_dense_backward_three_ways_agree(layer_data: tuple, propagate: bool) -> None:
    layer, A_prev, dC_dZ = layer_data
    layer.forward(A_prev)
    dA = layer.backward(dC_dZ)
    dW1, db1, dA1 = ld.dense_backward_loops(
        layer.W.tolist(), A_prev.tolist(), dC_dZ.tolist(), propagate
    )
    dW2, db2, dA2 = ld.dense_backward_per_example(layer.W, A_prev, dC_dZ, propagate)
    for dW, db in ((np.array(dW1), np.array(db1)[:, None]), (dW2, db2)):
        np.testing.assert_allclose(dW, layer.dC_dW, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(db, layer.dC_db, rtol=1e-12, atol=1e-12)
    if propagate:
        np.testing.assert_allclose(np.array(dA1), dA, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dA2, dA, rtol=1e-12, atol=1e-12)
    else:  # a first layer's loop twins skip dC/dA[0]; the layer itself always returns it
        assert dA1 is None and dA2 is None
        np.testing.assert_allclose(dA, layer.W.T @ dC_dZ, rtol=1e-12, atol=1e-12)


def test_relu_three_ways_agree(rng: np.random.Generator) -> None:
    Z = rng.standard_normal((4, 9))
    dA = rng.standard_normal((4, 9))
    relu = ReLU()
    A = relu.forward(Z)
    dZ = relu.backward(dA)
    np.testing.assert_array_equal(np.array(ld.relu_forward_loops(Z.tolist())), A)
    np.testing.assert_array_equal(ld.relu_forward_per_example(Z), A)
    np.testing.assert_array_equal(np.array(ld.relu_backward_loops(A.tolist(), dA.tolist())), dZ)
    np.testing.assert_array_equal(ld.relu_backward_per_example(A, dA), dZ)


def test_softmax_and_cross_entropy_agree(rng: np.random.Generator) -> None:
    Z = rng.standard_normal((5, 8)) * 30  # large logits: the stable forms matter
    Y = one_hot(rng.integers(0, 5, 8), 5)
    A = Softmax().forward(Z)
    np.testing.assert_allclose(np.array(lc.softmax_loops(Z.tolist())), A, atol=1e-15)
    np.testing.assert_allclose(lc.softmax_per_example(Z), A, atol=1e-15)
    c = CrossEntropy().cost_from_logits(Z, Y)
    assert lc.cross_entropy_loops(Z.tolist(), Y.tolist()) == pytest.approx(c, rel=1e-12)
    assert lc.cross_entropy_per_example(Z, Y) == pytest.approx(c, rel=1e-12)
    g = CrossEntropy().fused_gradient(A, Y)
    np.testing.assert_allclose(np.array(lc.fused_gradient_loops(A.tolist(), Y.tolist())), g)
    np.testing.assert_allclose(lc.fused_gradient_per_example(A, Y), g)


def test_bce_and_mse_loops_agree(rng: np.random.Generator) -> None:
    Z = rng.standard_normal((2, 7)) * 20
    Y = rng.integers(0, 2, (2, 7)).astype(float)
    bce = BinaryCrossEntropy().cost_from_logits(Z, Y)
    assert lc.binary_cross_entropy_loops(Z.tolist(), Y.tolist()) == pytest.approx(bce, rel=1e-12)
    A, T = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    mse = MeanSquaredError().cost(A, T)
    assert lc.mean_squared_error_loops(A.tolist(), T.tolist()) == pytest.approx(mse, rel=1e-12)


def test_bench_runs_on_tiny_sizes() -> None:
    result = bench.run(sizes=(6, 5, 4, 3), m=7, loop_examples=3, repeats=1)
    assert result.allclose
    assert len(result.rows) == 8
    assert {r.pass_name for r in result.rows} == {"forward", "backward"}
    assert all(r.seconds > 0 for r in result.rows)
    assert result.speedup("forward", "(1)", "(3)") > 0
    table = result.table()
    for word in ("pure Python", "one example at a time", "matrix products", "allclose", "scaled"):
        assert word in table
    assert max(result.max_abs_diff.values()) < 1e-6


def test_bench_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="m must be"):
        bench.run(sizes=(4, 3), m=0)
    with pytest.raises(ValueError, match="2 classes"):
        bench.run(sizes=(4, 1), m=3)


def test_bench_cli(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "bench",
        "--sizes",
        "5,4,3",
        "--examples",
        "4",
        "--loop-examples",
        "2",
        "--repeats",
        "1",
    ]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "Vectorization lab" in out and "agree" in out
    assert cli_main(["bench", "--sizes", "5,x"]) == 2
    assert capsys.readouterr().err.startswith("error: --sizes")
    assert bench.main(["--sizes", "4,3", "--examples", "2", "--repeats", "1"]) == 0
