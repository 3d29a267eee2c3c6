"""MNIST-1D with a 1-D CNN (target: >= 90% test accuracy; the paper's CNN: 94%).

    python examples/mnist1d_cnn.py

Conv1D(1->25, k5, s2, p1) -> ReLU -> Conv1D(25->25, k3, s2, p1) -> ReLU
-> Conv1D(25->25, k3, s2, p1) -> ReLU -> Flatten (125) -> Dense 10 -> Softmax: the paper's model
(notebooks/models.py; lengths 40 -> 19 -> 10 -> 5, 5,210 parameters).
"""

from _common import main

from chainrule.model.cnn import cnn1d

if __name__ == "__main__":
    main(
        "MNIST-1D CNN",
        "mnist1d",
        lambda a: cnn1d((1, 40), channels=(25, 25, 25), kernel_size=(5, 3, 3), seed=a.seed),
        epochs=100,
        lr=1e-2,
        batch_size=100,
        torch_epochs=5,
        threads=1,  # tiny matrices: a second BLAS thread only adds overhead
    )
