"""chainrule: neural networks from scratch in NumPy, in the notation of the chain rule.

>>> import chainrule as cr
>>> data = cr.datasets.load("toy")
>>> net = cr.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", seed=0)
>>> history = net.fit(data.X_train, data.y_train, epochs=500, lr=0.5, batch_size=10,
...                   optimizer="sgd", standardize=True, verbose=False)
>>> float((net.predict(data.X_train) == data.y_train).mean())
1.0
"""

from chainrule import activations, datasets, losses, optimizers
from chainrule.builders import mlp
from chainrule.gradcheck import GradcheckReport, gradcheck
from chainrule.layers import (
    Activation,
    AvgPool1D,
    AvgPool2D,
    BatchNorm,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    Layer,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from chainrule.network import Sequential
from chainrule.serialization import load
from chainrule.standardize import Standardizer
from chainrule.training import DivergenceWarning

__version__ = "0.1.0"

__all__ = [
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
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Standardizer",
    "Tanh",
    "activations",
    "datasets",
    "gradcheck",
    "load",
    "losses",
    "mlp",
    "optimizers",
    "__version__",
]
