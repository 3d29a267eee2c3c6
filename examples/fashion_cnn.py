"""Fashion-MNIST with a small LeNet-style CNN (target: >= 90.0% test accuracy).

    python examples/fashion_cnn.py      # 8 epochs (the last 2 at lr/10), Adam lr 1e-3, batch 64

Conv(1->16, 3x3, same) -> ReLU -> MaxPool 2 -> Conv(16->32, 3x3, same) -> ReLU -> MaxPool 2
-> Flatten (1568) -> Dense 128 -> ReLU -> Dropout 0.25 -> Dense 10 -> Softmax.
"""

from _common import main

from chainrule.model.cnn import lenet

if __name__ == "__main__":
    main(
        "Fashion-MNIST small CNN",
        "fashion-mnist",
        lambda a: lenet(
            (1, 28, 28), channels=(16, 32), kernel_size=3, hidden=128, dropout=0.25, seed=a.seed
        ),
        epochs=8,
        decay_epochs=2,  # epochs 7-8 at lr 1e-4
        lr=1e-3,
        batch_size=64,
    )
