"""MNIST-1D with the benchmark's residual MLP (target: >= 65%; the paper: 68%, its notebook: 65.1%).

    python examples/mnist1d_resmlp.py

The model of greydanus/mnist1d's notebooks/models.py, ``h = relu(linear1(x));
h = h + relu(linear2(h)); out = linear3(h)`` (15,210 parameters), written as a tree of layers:

    Dense(40, 100) -> ReLU -> Residual(Sequential([Dense(100, 100), ReLU()])) -> Dense(100, 10)

Where the identity path and the block meet, their gradients add (``Residual.backward``). Trained
like the benchmark: Adam lr 1e-2, batch 100, 8000 steps (200 epochs of 4000 examples).
"""

from _common import main

import chainrule as cr


def build(seed: int) -> cr.Sequential:
    return cr.Sequential(
        [
            cr.Dense(40, 100, init="he", seed=seed),
            cr.ReLU(),
            cr.Residual(cr.Sequential([cr.Dense(100, 100, init="he", seed=seed + 1), cr.ReLU()])),
            cr.Dense(100, 10, seed=seed + 2),
            cr.Softmax(),
        ]
    )


if __name__ == "__main__":
    main(
        "MNIST-1D residual MLP",
        "mnist1d",
        lambda a: build(a.seed),
        epochs=200,
        lr=1e-2,
        batch_size=100,
        torch_epochs=5,
        threads=1,  # tiny matrices: a second BLAS thread only adds overhead
        flat=True,
    )
