"""The reference engine: layers, costs and stable functions, each one readable implementation.

Every layer is a differentiable step with ``forward(A_prev)`` and ``backward(dC_dA)``; composite
layers (``Sequential``, ``Residual``) hold child layers and walk them.
"""

from chainrule.nn.activation import (
    ACTIVATIONS,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    make_activation,
)
from chainrule.nn.batchnorm import BatchNorm
from chainrule.nn.conv import Conv1D, Conv2D
from chainrule.nn.dense import Dense
from chainrule.nn.dropout import Dropout
from chainrule.nn.flatten import Flatten
from chainrule.nn.layer import (
    LAYER_REGISTRY,
    Layer,
    ParamGrad,
    check_no_shared_layers,
    register_layer,
)
from chainrule.nn.pool import AvgPool1D, AvgPool2D, MaxPool1D, MaxPool2D
from chainrule.nn.residual import Residual
from chainrule.nn.sequential import Sequential

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm",
    "Conv1D",
    "Conv2D",
    "Dropout",
    "Flatten",
    "MaxPool1D",
    "MaxPool2D",
    "ACTIVATIONS",
    "Activation",
    "Dense",
    "Identity",
    "LAYER_REGISTRY",
    "Layer",
    "LeakyReLU",
    "ParamGrad",
    "Residual",
    "Sequential",
    "check_no_shared_layers",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "make_activation",
    "register_layer",
]
