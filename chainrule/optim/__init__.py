"""Optimizers and learning-rate schedules: the hyper-parameters of gradient descent, as objects.

>>> import chainrule as cr
>>> opt = cr.optim.Adam(lr=1e-3)
"""

from chainrule.optim.adamw import AdamW
from chainrule.optim.clip import clip_grad_norm, global_norm
from chainrule.optim.optimizer import (
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    Optimizer,
    ParamGrad,
    RMSProp,
    make_optimizer,
)
from chainrule.optim.schedules import (
    SCHEDULES,
    CosineLR,
    ExponentialLR,
    Schedule,
    StepLR,
    make_schedule,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "AdamW",
    "CosineLR",
    "ExponentialLR",
    "Momentum",
    "Optimizer",
    "ParamGrad",
    "RMSProp",
    "Schedule",
    "StepLR",
    "clip_grad_norm",
    "global_norm",
    "make_optimizer",
    "make_schedule",
]
