"""Layers: each one a differentiable step with forward(A_prev) and backward(dC_dA)."""

from chainrule.layers.activation import (
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
from chainrule.layers.base import LAYER_REGISTRY, Layer, register_layer
from chainrule.layers.batchnorm import BatchNorm
from chainrule.layers.conv import Conv1D, Conv2D
from chainrule.layers.dense import Dense
from chainrule.layers.dropout import Dropout
from chainrule.layers.flatten import Flatten
from chainrule.layers.pool import AvgPool1D, AvgPool2D, MaxPool1D, MaxPool2D

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
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "make_activation",
    "register_layer",
]
