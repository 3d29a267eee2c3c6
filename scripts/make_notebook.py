"""Generate notebooks/from-scratch.ipynb (no outputs) from the cells below.

Edit the cells here, then run ``python scripts/make_notebook.py``; the test suite executes the
notebook (tests/test_notebook.py), so it never rots.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parent.parent / "notebooks" / "from-scratch.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# A neural network from scratch, with chainrule

This notebook retells the seed notebook's story -- a 3-layer sigmoid network `n = [2, 3, 3, 1]`
in Andrew Ng's notation -- with the `chainrule` library:

1. the data, 2. the forward pass, 3. the cost, 4. every gradient checked by finite differences,
5. the saturation problem and its cure, 6. training, 7. plots.

Inside the engine examples lie on the **last** axis: `A[0] = X.T` is `(n[0], m)`,
`W[l]` is `(n[l], n[l-1])`, `b[l]` is `(n[l], 1)`.""",
    ),
    (
        "code",
        """import numpy as np
from IPython.display import Image, display

import chainrule as cr
from chainrule import plots
from chainrule.train.diagnostics import diagnose, format_diagnostics, per_layer
from chainrule.learn.explain import explain_layers
from chainrule.learn.gradcheck import relative_error

np.set_printoptions(precision=4, suppress=True)


def show(fig):
    display(Image(plots.png_bytes(fig, dpi=80)))""",
    ),
    (
        "md",
        """## 1. The data

Ten people, `(weight in lb, height in inches)`, and a 0/1 label. `X` is `(m, n[0]) = (10, 2)`;
the engine works on `A[0] = X.T`, one example per column.""",
    ),
    (
        "code",
        """data = cr.datasets.load("toy")
X, y = data.X_train, data.y_train
A0 = X.T
Y = y.reshape(1, -1)
print("X", X.shape, " A0 = X.T", A0.shape, " Y", Y.shape)
print(X[:3], y[:3])""",
    ),
    (
        "md",
        """## 2. The forward pass

`chainrule explain` prints every formula with its shapes (this is also a CLI command:
`chainrule explain --layers 2,3,3,1`).""",
    ),
    ("code", 'print(explain_layers([2, 3, 3, 1], activation="sigmoid"))'),
    (
        "md",
        """The notebook initialised every weight with `np.random.randn` (`init="normal"`). We compute
the forward pass by hand, exactly as in the notebook, and compare it with the library's.""",
    ),
    (
        "code",
        """net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal",
             seed=0, dtype=np.float64)
W1, b1 = net.layers[0].W, net.layers[0].b
W2, b2 = net.layers[2].W, net.layers[2].b
W3, b3 = net.layers[4].W, net.layers[4].b
g = cr.activations.sigmoid

Z1 = W1 @ A0 + b1    # (3,2)@(2,m) + (3,1) -> (3,m)
A1 = g(Z1)
Z2 = W2 @ A1 + b2    # (3,3)@(3,m) + (3,1) -> (3,m)
A2 = g(Z2)
Z3 = W3 @ A2 + b3    # (1,3)@(3,m) + (1,1) -> (1,m)
A3 = g(Z3)

print("by hand:     ", A3.round(4))
print("chainrule:   ", net.forward(A0).round(4))
assert np.allclose(A3, net.forward(A0))""",
    ),
    (
        "md",
        """Every prediction is (nearly) the same -- the symptom the seed notebook showed. Look at
`Z1`: raw inputs in the hundreds make every `|Z[1]|` huge, so each sigmoid sits at 0 or 1.""",
    ),
    ("code", 'print("Z1 =\\n", Z1.round(1))\nprint("A1 =\\n", A1.round(4))'),
    (
        "md",
        """## 3. The cost

Binary cross-entropy, `C = -(1/m) sum(Y log A[3] + (1 - Y) log(1 - A[3]))`. The library
computes it from the logits `Z[3]`, so `log(0)` can never happen.""",
    ),
    (
        "code",
        """m = X.shape[0]
C_by_hand = -np.sum(Y * np.log(A3) + (1 - Y) * np.log(1 - A3)) / m
print("by hand:", C_by_hand, " chainrule:", net.cost(X, y))""",
    ),
    (
        "md",
        """## 4. Every gradient, checked

`gradcheck` compares backprop's `dC_dW[l]`, `dC_db[l]` with central finite differences in float64.
A relative error near 1e-9 means the backward pass is right. We check on standardized inputs,
where the gradients are not all ~0.""",
    ),
    (
        "code",
        """Xs = (X - X.mean(axis=0)) / X.std(axis=0)
report = cr.gradcheck(net, Xs, y)
print(report)
assert report.passed""",
    ),
    (
        "md",
        """The seed notebook computed `dC_db = np.sum(dC_dW, axis=1, keepdims=True)`. The gradient
check catches it: the bias gradient sums `dC_dZ` over the m examples, not `dC_dW`.""",
    ),
    (
        "code",
        """net.loss_and_gradients(Xs, y)
layer2 = net.layers[2]
right = layer2.dC_db                                   # sum of dC_dZ[2] over m
wrong = np.sum(layer2.dC_dW, axis=1, keepdims=True)
numeric = report.numeric["b[2]"]
print("relative error, library's dC_db[2]:   ", relative_error(right, numeric))
print("relative error, notebook's dC_db[2]:  ", relative_error(wrong, numeric))""",
    ),
    (
        "md",
        """## 5. The saturation problem, and its cure

`fit(..., diagnostics=True)` records per layer the gradient norms, the update/weight ratio and
the fraction of saturated sigmoid units, once per epoch. Raw inputs: the first layer is 100%
saturated and its gradient is ~0, so it cannot learn. Standardized inputs (mean 0, std 1): it can.""",
    ),
    (
        "code",
        """histories = {}
for name, standardize in (("raw inputs", False), ("standardized", True)):
    trial = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", init="normal", seed=0)
    histories[name] = trial.fit(X, y, epochs=300, lr=0.5, batch_size=10,
                                standardize=standardize, verbose=False, diagnostics=True)
    h = histories[name]
    print(f"{name:>13}: saturated A[1] {h['saturated/A[1]'][0]:.0%}, "
          f"||dC_dW[1]|| {h['grad_norm/W[1]'][0]:.2e}, "
          f"final accuracy {h['accuracy'][-1]:.0%}")""",
    ),
    ("code", "show(plots.plot_gradient_norms(histories))"),
    (
        "md",
        """Depth makes it worse: backprop multiplies the signal by `W[l].T` and by `g'(Z[l]) <= 1/4`
once per sigmoid layer, so the first layers of a deep sigmoid stack get almost nothing.
ReLU (`g' = 1` where active) keeps the gradients alive.""",
    ),
    (
        "code",
        """moons = cr.datasets.load("moons")
deep = {}
for act in ("sigmoid", "relu"):
    deep_net = cr.mlp([2] + [32] * 8 + [1], activation=act, output="sigmoid", seed=0)
    deep[act] = deep_net.fit(moons.X_train, moons.y_train, epochs=15, lr=0.05, standardize=True,
                             verbose=False, diagnostics=True)
    norms = per_layer(deep[act], "grad_norm")
    print(f"{act:>8}: ||dC_dW[1]|| / ||dC_dW[9]|| = {norms['W[1]'][-1] / norms['W[9]'][-1]:.1e}, "
          f"accuracy {deep[act]['accuracy'][-1]:.0%}")
show(plots.plot_gradient_norms(deep))""",
    ),
    (
        "md",
        """## 6. Training

The notebook's network, standardized inputs, plain gradient descent on all 10 examples.""",
    ),
    (
        "code",
        """net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
history = net.fit(X, y, epochs=500, lr=0.5, batch_size=10, standardize=True, verbose=False,
                  diagnostics=True)
print("cost", history["cost"][0], "->", history["cost"][-1])
print("predictions", net.predict(X), " labels", y)
print(format_diagnostics({k: v[-1] for k, v in history.items() if "/" in k}))
assert (net.predict(X) == y).all()""",
    ),
    ("md", "## 7. Plots: the learning curves and the decision boundary in (weight, height)"),
    (
        "code",
        """show(plots.plot_history(history))
show(plots.plot_decision_boundary(net, X, y, resolution=100, feature_names=data.feature_names))""",
    ),
    (
        "md",
        """Next: `chainrule train --data moons --plot out.png`, the scikit-learn wrappers in
`chainrule.sklearn`, and `net.to_onnx("model.onnx")` to run the model anywhere.""",
    ),
]


def notebook_from(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ("md" | "code", source) cells, with stable ids and no outputs."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives an identical file
    return nb


def write_notebook(nb: nbformat.NotebookNode, out: Path) -> None:
    nbformat.validate(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    print(f"wrote {out} ({len(nb.cells)} cells)")


def build() -> nbformat.NotebookNode:
    return notebook_from(CELLS)


def main() -> None:
    write_notebook(build(), OUT)


if __name__ == "__main__":
    main()
