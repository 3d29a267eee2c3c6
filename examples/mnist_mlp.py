"""MNIST with a multilayer perceptron (target: >= 98.0% test accuracy).

    python examples/mnist_mlp.py                 # 15 epochs, Adam lr 1e-3, batch 128

784 -> Dense 512 -> ReLU -> Dropout 0.2 -> Dense 256 -> ReLU -> Dropout 0.2 -> Dense 10 -> Softmax,
on the flat view X.reshape(m, 784) of the (m, 1, 28, 28) images.
"""

from _common import main

import chainrule as cr


def build(args) -> cr.Sequential:
    import numpy as np

    rng = np.random.default_rng(args.seed)
    layers = [
        cr.Dense(784, 512, init="he", seed=rng),
        cr.ReLU(),
        cr.Dropout(0.2, seed=rng),
        cr.Dense(512, 256, init="he", seed=rng),
        cr.ReLU(),
        cr.Dropout(0.2, seed=rng),
        cr.Dense(256, 10, seed=rng),
        cr.Softmax(),
    ]
    return cr.Sequential(layers)


if __name__ == "__main__":
    main("MNIST MLP", "mnist", build, epochs=15, lr=1e-3, batch_size=128, flat=True)
