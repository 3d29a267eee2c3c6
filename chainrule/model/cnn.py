"""Small convolutional network builders (LeNet-style) for images (C, H, W) and sequences (C, L)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.model.network import Sequential
from chainrule.nn.activation import ReLU, Softmax
from chainrule.nn.batchnorm import BatchNorm
from chainrule.nn.conv import Conv1D, Conv2D
from chainrule.nn.dense import Dense
from chainrule.nn.dropout import Dropout
from chainrule.nn.flatten import Flatten
from chainrule.nn.init import as_rng
from chainrule.nn.layer import Layer
from chainrule.nn.pool import MaxPool2D

__all__ = ["lenet", "cnn1d"]


def lenet(
    input_shape: tuple[int, int, int] = (1, 28, 28),
    channels: Sequence[int] = (8, 16),
    kernel_size: int = 5,
    hidden: int = 128,
    n_classes: int = 10,
    dropout: float = 0.0,
    batchnorm: bool = False,
    seed: int | None = None,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """[Conv2D (same padding) -> (BatchNorm) -> ReLU -> MaxPool2D(2)] per entry of ``channels``,
    then Flatten -> Dense(hidden) -> ReLU -> (Dropout) -> Dense(n_classes) -> Softmax.

    >>> net = lenet(seed=0)
    >>> net.output_shape
    (10,)
    """
    rng = as_rng(seed)
    C, H, W = input_shape
    layers: list[Layer] = []
    for out in channels:
        layers.append(Conv2D(C, out, kernel_size, padding=kernel_size // 2, seed=rng))
        if batchnorm:
            layers.append(BatchNorm(out))
        layers += [ReLU(), MaxPool2D(2)]
        C, H, W = out, H // 2, W // 2
    layers += [Flatten(), Dense(C * H * W, hidden, init="he", seed=rng), ReLU()]
    if dropout > 0:
        layers.append(Dropout(dropout, seed=rng))
    layers += [Dense(hidden, n_classes, init="xavier", seed=rng), Softmax()]
    net = Sequential(layers, input_shape=tuple(input_shape), dtype=dtype)
    net.seed = seed
    return net


def cnn1d(
    input_shape: tuple[int, int] = (1, 40),
    channels: Sequence[int] = (25, 25, 25),
    kernel_size: int | Sequence[int] = (5, 3, 3),
    stride: int = 2,
    padding: int = 1,
    n_classes: int = 10,
    seed: int | None = None,
    dtype: np.dtype | type = np.float32,
    init: str | None = None,
) -> Sequential:
    """The MNIST-1D paper's CNN: [Conv1D(k, stride, padding) -> ReLU] per entry of ``channels``,
    then Flatten -> Dense(n_classes) -> Softmax. ``kernel_size`` is one int for every layer or
    one per layer: the paper's (5, 3, 3) takes 40 positions to 19, 10, 5 (125 features).
    ``init`` applies one scheme to every layer (``"torch"``: PyTorch's defaults, as the paper's
    runs); None keeps He for the convolutions and Xavier for the output layer."""
    rng = as_rng(seed)
    C, L = input_shape
    kernels = [kernel_size] * len(channels) if isinstance(kernel_size, int) else list(kernel_size)
    if len(kernels) != len(channels):
        raise ValueError(f"kernel_size needs one size per layer ({len(channels)}), got {kernels}")
    layers: list[Layer] = []
    for out, k in zip(channels, kernels):
        conv = Conv1D(C, out, k, stride=stride, padding=padding, init=init or "he", seed=rng)
        layers += [conv, ReLU()]
        C, L = out, (L + 2 * padding - k) // stride + 1
    layers += [Flatten(), Dense(C * L, n_classes, init=init or "xavier", seed=rng), Softmax()]
    net = Sequential(layers, input_shape=tuple(input_shape), dtype=dtype)
    net.seed = seed
    return net
