"""Building networks from a list of layer sizes, the notebook's ``n = [2, 3, 3, 1]``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.model.network import Sequential
from chainrule.nn.activation import make_activation
from chainrule.nn.dense import Dense
from chainrule.nn.init import as_rng, default_init
from chainrule.nn.layer import Layer
from chainrule.nn.losses import Loss, make_loss
from chainrule.validation import check_positive_int

__all__ = ["mlp"]


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    output: str = "softmax",
    loss: str | Loss | None = None,
    init: str | None = None,
    seed: int | None = None,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """A multilayer perceptron n[0] -> n[1] -> ... -> n[L].

    Hidden layers use ``activation``; the last uses ``output`` ("sigmoid", "softmax",
    "identity", ...). The cost defaults to the one matching the output (sigmoid -> binary
    cross-entropy, softmax -> cross-entropy, identity -> mean squared error). ``init`` defaults
    to He for ReLU networks and Xavier otherwise. Equal seeds give bit-identical networks.

    >>> net = mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
    >>> [layer.W.shape for layer in net.layers[::2]]
    [(3, 2), (3, 3), (1, 3)]
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a list of ints like [2, 3, 3, 1], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
    sizes = [check_positive_int(f"layer size n[{i}]", n) for i, n in enumerate(sizes)]
    hidden = make_activation(activation)  # validates the name early
    output_layer = make_activation(output)
    if loss is not None:
        make_loss(loss)  # validate the name before the shapes
    rng = as_rng(seed)
    layers: list[Layer] = []
    L = len(sizes) - 1
    for l in range(1, L + 1):
        act_name = output if l == L else hidden.name
        scheme = init or default_init(hidden.name if l < L else act_name)
        layers.append(Dense(sizes[l - 1], sizes[l], init=scheme, seed=rng))
        layers.append(make_activation(act_name))
    net = Sequential(layers, loss=loss, dtype=dtype)
    if output_layer.name == "softmax" and sizes[-1] < 2:
        raise ValueError(
            f"a softmax output needs n[L] >= 2 classes, got n[L] = {sizes[-1]}; "
            "for two classes use output='sigmoid' with one output unit"
        )
    net.seed = seed
    return net
