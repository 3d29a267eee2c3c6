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
from chainrule.layers.dense import Dense

__all__ = [
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
