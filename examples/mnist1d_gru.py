"""MNIST-1D with the benchmark's bidirectional GRU (target: >= 91%, the paper's figure).

    python examples/mnist1d_gru.py

greydanus/mnist1d's GRU: input 1 feature per step, hidden 6, bidirectional, all 40 steps'
outputs (12 each) flattened to 480 -> Dense 10 (5,134 parameters). Adam lr 1e-2, batch 100.
"""

from _common import main

import chainrule as cr


def build(seed: int) -> cr.Sequential:
    return cr.Sequential(
        [
            cr.GRU(1, 6, bidirectional=True, seed=seed),  # (1, 40, m) -> (12, 40, m)
            cr.Flatten(),  # (480, m)
            cr.Dense(480, 10, seed=seed + 1),
            cr.Softmax(),
        ],
        input_shape=(1, 40),
    )


if __name__ == "__main__":
    main(
        "MNIST-1D bidirectional GRU",
        "mnist1d",
        lambda a: build(a.seed),
        epochs=200,
        lr=1e-2,
        batch_size=100,
        torch_epochs=5,
        threads=1,
    )
