"""``chainrule explain``: formulas with the actual shapes, parameter count and FLOPs per example."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.learn.explain import count_flops, explain, explain_layers


def test_notebook_network_formulas_and_shapes() -> None:
    text = explain_layers([2, 3, 3, 1])
    assert "Z[1] = W[1] @ A[0] + b[1]" in text
    assert "(3,2)@(2,m) + (3,1) -> (3,m)" in text
    assert "(3,3)@(3,m) + (3,1) -> (3,m)" in text
    assert "(1,3)@(3,m) + (1,1) -> (1,m)" in text
    assert "A[1] = sigmoid(Z[1])" in text
    assert "dC_dZ[3] = (1/m) (A[3] - Y)" in text  # fused sigmoid + binary cross-entropy
    assert "dC_dZ[2] = dC_dA[2] * A[2] * (1 - A[2])" in text
    assert "dC_dW[1] = dC_dZ[1] @ A[0].T" in text and "(3,m)@(m,2) -> (3,2)" in text
    assert "dC_db[2] = sum(dC_dZ[2], axis=1)" in text and "(3,m) -> (3,1)" in text
    assert "dC_dA[1] = W[2].T @ dC_dZ[2]" in text
    assert "dC_dA[0] is not needed" in text
    assert "parameters: 25" in text  # 6+3 + 9+3 + 3+1
    # forward: 2*6+3+4*3 = 27, 2*9+3+4*3 = 33, 2*3+1+4 = 11
    assert "71 to predict" in text


def test_flops_follow_the_documented_convention() -> None:
    net = cr.mlp([4, 5, 3], activation="relu", output="softmax", seed=0)
    costs = count_flops(net)
    assert [c.params for c in costs] == [25, 18]
    assert costs[0].forward_flops == 2 * 4 * 5 + 5 + 5  # W @ A, + b, relu
    assert costs[0].backward_flops == 5 + 2 * 4 * 5 + 5  # dC_dZ, dC_dW, dC_db (no dC_dA[0])
    assert costs[1].backward_flops == 2 * 3 + 2 * 5 * 3 + 3 + 2 * 5 * 3  # fused softmax + CE
    assert sum(c.params for c in costs) == net.n_params


def test_unfused_output_shows_cost_gradient() -> None:
    net = cr.Sequential([cr.Dense(2, 4), cr.Tanh(), cr.Dense(4, 1), cr.Sigmoid()], loss="mse")
    text = explain(net)
    assert "dC_dA[2] = (1/m) (A[2] - Y)" in text
    assert "dC_dZ[2] = dC_dA[2] * A[2] * (1 - A[2])" in text
    assert "dC_dZ[1] = dC_dA[1] * (1 - A[1]**2)" in text


def test_cli_explain(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["explain", "--layers", "2,3,3,1"]) == 0
    out = capsys.readouterr().out
    assert "Z[1] = W[1] @ A[0] + b[1]     : (3,2)@(2,m) + (3,1) -> (3,m)" in out
    assert "parameters: 25" in out
    assert main(["explain", "--layers", "4,8,3", "--activation", "relu"]) == 0
    out = capsys.readouterr().out
    assert "A[2] = softmax(Z[2])" in out and "(m examples" in out
    net = cr.mlp([2, 4, 1], activation="tanh", output="sigmoid", seed=0)
    net.save(tmp_path / "m.npz")
    assert main(["explain", "--model", str(tmp_path / "m.npz")]) == 0
    assert "A[1] = tanh(Z[1])" in capsys.readouterr().out


def test_cli_explain_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--layers", "2,x"]) == 2
    assert capsys.readouterr().err.startswith("error: --layers")
    assert main(["explain", "--layers", "2,3", "--activation", "nope"]) == 2
    assert "unknown activation" in capsys.readouterr().err


def test_explain_rejects_other_layers() -> None:
    class Odd(cr.Layer):
        pass

    net = cr.Sequential([cr.Dense(2, 2), Odd(), cr.Dense(2, 1), cr.Sigmoid()])
    with pytest.raises(ValueError, match="layer 1 is Odd"):
        explain(net)


def test_a_tree_is_explained_layer_by_layer() -> None:
    block = cr.Sequential([cr.Dense(5, 5), cr.ReLU()])
    net = cr.Sequential([cr.Dense(3, 5), cr.Residual(block), cr.Dense(5, 2), cr.Softmax()])
    text = explain(net)
    assert "1: Residual, (5,m) -> (5,m)" in text
    assert "dC_dA_prev = dC_dA + block.backward(dC_dA)" in text and "ADD" in text
    assert "1.block.0: Dense, (5,m) -> (5,m)" in text
    assert "params    1.block.0.W (5, 5), 1.block.0.b (5, 1): 30" in text
    assert f"parameters: {net.n_params:,}" in text
