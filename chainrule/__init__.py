"""chainrule: neural networks from scratch in NumPy, in the notation of the chain rule.

>>> import chainrule as cr
>>> data = cr.datasets.load("toy")
>>> net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
>>> history = net.fit(data.X_train, data.y_train, epochs=500, lr=0.5, batch_size=10,
...                   optimizer="sgd", standardize=True, verbose=False)
>>> float((net.predict(data.X_train) == data.y_train).mean())
1.0
"""

from chainrule import _compat

_compat.install()  # old import paths (chainrule.losses, chainrule.network, ...) keep working

from chainrule import data, nn, optim  # noqa: E402
from chainrule import data as datasets  # noqa: E402
from chainrule import optim as optimizers  # noqa: E402
from chainrule.data.standardize import Standardizer  # noqa: E402
from chainrule.learn.gradcheck import GradcheckReport, gradcheck  # noqa: E402
from chainrule.model import zoo as models  # noqa: E402
from chainrule.model.builders import mlp  # noqa: E402
from chainrule.model.files import load  # noqa: E402
from chainrule.model.network import Sequential  # noqa: E402
from chainrule.nn import (  # noqa: E402
    GELU,
    GRU,
    LSTM,
    RNN,
    Activation,
    AvgPool1D,
    AvgPool2D,
    BatchNorm,
    CausalSelfAttention,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
    PositionalEmbedding,
    ReLU,
    Residual,
    Sigmoid,
    Softmax,
    Tanh,
    TransformerBlock,
    losses,  # noqa: E402
)
from chainrule.nn import functional as activations  # noqa: E402
from chainrule.train import callbacks  # noqa: E402
from chainrule.train.fit import DivergenceWarning, fit  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "GELU",
    "GRU",
    "LSTM",
    "RNN",
    "CausalSelfAttention",
    "Embedding",
    "LayerNorm",
    "PositionalEmbedding",
    "TransformerBlock",
    "models",
    "Activation",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm",
    "Conv1D",
    "Conv2D",
    "Dropout",
    "Flatten",
    "MaxPool1D",
    "MaxPool2D",
    "Dense",
    "DivergenceWarning",
    "GradcheckReport",
    "Identity",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Standardizer",
    "Tanh",
    "activations",
    "callbacks",
    "data",
    "fit",
    "nn",
    "optim",
    "datasets",
    "gradcheck",
    "load",
    "losses",
    "mlp",
    "optimizers",
    "__version__",
]
