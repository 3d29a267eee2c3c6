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
from chainrule.nn.attention import CausalSelfAttention
from chainrule.nn.batchnorm import BatchNorm
from chainrule.nn.conv import Conv1D, Conv2D
from chainrule.nn.dense import Dense
from chainrule.nn.dropout import Dropout
from chainrule.nn.embedding import Embedding
from chainrule.nn.flatten import Flatten
from chainrule.nn.gelu import GELU
from chainrule.nn.gru import GRU
from chainrule.nn.layer import (
    LAYER_REGISTRY,
    Layer,
    ParamGrad,
    check_no_shared_layers,
    register_layer,
)
from chainrule.nn.layernorm import LayerNorm
from chainrule.nn.lstm import LSTM
from chainrule.nn.pool import AvgPool1D, AvgPool2D, MaxPool1D, MaxPool2D
from chainrule.nn.positional import PositionalEmbedding
from chainrule.nn.residual import Residual
from chainrule.nn.rnn import RNN
from chainrule.nn.sequential import Sequential
from chainrule.nn.transformer import TransformerBlock

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm",
    "CausalSelfAttention",
    "Conv1D",
    "Conv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "LSTM",
    "GELU",
    "MaxPool1D",
    "MaxPool2D",
    "ACTIVATIONS",
    "Activation",
    "Dense",
    "Identity",
    "LAYER_REGISTRY",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "ParamGrad",
    "Residual",
    "RNN",
    "Sequential",
    "PositionalEmbedding",
    "TransformerBlock",
    "check_no_shared_layers",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "make_activation",
    "register_layer",
]
