"""MNIST-1D with a multilayer perceptron (target: >= 65% test accuracy; the paper's MLP: 68%).

    python examples/mnist1d_mlp.py

40 -> Dense 100 -> ReLU -> Dense 100 -> ReLU -> Dense 10 -> Softmax on the flat (m, 40) view.
"""

from _common import main

import chainrule as cr

if __name__ == "__main__":
    main(
        "MNIST-1D MLP",
        "mnist1d",
        lambda a: cr.mlp([40, 100, 100, 10], activation="relu", seed=a.seed),
        epochs=150,
        lr=1e-2,
        batch_size=100,
        torch_epochs=5,
        threads=1,  # tiny matrices: a second BLAS thread only adds overhead
        flat=True,
    )
