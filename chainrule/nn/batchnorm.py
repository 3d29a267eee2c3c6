"""Batch normalization for dense (n, m) and convolutional (C, H, W, m) / (C, L, m) inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.layer import Layer, register_layer
from chainrule.validation import check_int

__all__ = ["BatchNorm"]


@register_layer
class BatchNorm(Layer):
    """Normalize each feature (dense) or channel (conv) over the batch, then scale and shift.

    For feature/channel c, over its N values (N = m for (n, m) input; N = H*W*m for
    (C, H, W, m); N = L*m for (C, L, m)):

        mu = mean(x),  var = mean((x - mu)^2)            (biased, as in the paper and PyTorch)
        x_hat = (x - mu) / sqrt(var + eps)
        A = gamma * x_hat + beta                         gamma, beta: (C, 1), trainable

    Training uses the batch's mu and var and updates the running statistics (PyTorch's
    convention: running = (1 - momentum) * running + momentum * batch, with the unbiased batch
    variance for running_var); prediction (``net.eval()``) uses running_mean/running_var, which
    are buffers saved with the model.
    """

    param_names = ("gamma", "beta")
    buffer_names = ("running_mean", "running_var")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        super().__init__()
        self.num_features = check_int("num_features", num_features)
        if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and eps > 0):
            raise ValueError(f"BatchNorm eps must be a number > 0, got {eps!r}")
        if not (isinstance(momentum, (int, float)) and not isinstance(momentum, bool)):
            raise TypeError(f"BatchNorm momentum must be a number in [0, 1], got {momentum!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum}")
        self.eps = float(eps)
        self.momentum = float(momentum)
        C = self.num_features
        self.gamma = np.ones((C, 1), dtype=dtype)
        self.beta = np.zeros((C, 1), dtype=dtype)
        self.running_mean = np.zeros((C, 1), dtype=dtype)
        self.running_var = np.ones((C, 1), dtype=dtype)
        self.dC_dgamma: np.ndarray | None = None
        self.dC_dbeta: np.ndarray | None = None
        self.x_hat: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None
        self.cache_training = True

    def _shape(self, A: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(reduction axes, broadcast shape of a (C, 1) statistic) for input A."""
        if A.ndim < 2 or A.shape[0] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) expects input of shape ({self.num_features}, m) "
                f"or ({self.num_features}, H, W, m), got {A.shape}"
            )
        return tuple(range(1, A.ndim)), (self.num_features,) + (1,) * (A.ndim - 1)

    def forward(self, A_prev: np.ndarray) -> np.ndarray:
        """A = gamma * (A_prev - mu) / sqrt(var + eps) + beta, statistics per row/channel."""
        axes, bshape = self._shape(A_prev)
        if self.training:
            mu = A_prev.mean(axis=axes, keepdims=True)  # (C, 1, ..., 1)
            xc = A_prev - mu
            var = np.mean(xc * xc, axis=axes, keepdims=True)  # biased batch variance
            N = A_prev.size // self.num_features
            mom = self.momentum
            unbiased = var.reshape(-1, 1) * (N / max(N - 1, 1))
            self.running_mean *= 1 - mom
            self.running_mean += mom * mu.reshape(-1, 1)
            self.running_var *= 1 - mom
            self.running_var += mom * unbiased
        else:
            xc = A_prev - self.running_mean.reshape(bshape)
            var = self.running_var.reshape(bshape)
        self.inv_std = (1.0 / np.sqrt(var + self.eps)).astype(A_prev.dtype)  # (C, 1, ..., 1)
        self.x_hat = xc * self.inv_std
        self.cache_training = self.training
        return self.gamma.reshape(bshape) * self.x_hat + self.beta.reshape(bshape)

    def backward(self, dC_dA: np.ndarray) -> np.ndarray:
        """Chain rule through the normalization, per channel c over its N values.

        Forward: x_hat = (x - mu) * inv_std, inv_std = 1/sqrt(var + eps), A = gamma x_hat + beta.
        All of x, x_hat, dC_dA have the input's shape ((C, m) or (C, H, W, m)); gamma, beta,
        mu, var, inv_std are one number per channel ((C, 1), broadcast as (C, 1, 1, 1)).

        1. dC_dbeta  = sum_N dC_dA                 : (C, 1)
        2. dC_dgamma = sum_N dC_dA * x_hat         : (C, 1)
        3. dC_dx_hat = dC_dA * gamma               : input shape
        4. In training mu and var depend on every x of the channel; differentiating through
           them and simplifying (see docs/conv.md) gives

               dC_dx = inv_std / N * (N dC_dx_hat - sum_N dC_dx_hat - x_hat sum_N dC_dx_hat x_hat)
                     = gamma inv_std / N * (N dC_dA - dC_dbeta - x_hat dC_dgamma)

           In prediction mu, var are constants (running stats): dC_dx = gamma inv_std dC_dA.
        """
        if self.x_hat is None or self.inv_std is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        axes, bshape = self._shape(dC_dA)
        x_hat = self.x_hat
        dbeta = dC_dA.sum(axis=axes, keepdims=True)  # (C, 1, ..., 1)
        dgamma = (dC_dA * x_hat).sum(axis=axes, keepdims=True)
        self.dC_dbeta = dbeta.reshape(-1, 1)
        self.dC_dgamma = dgamma.reshape(-1, 1)
        g = self.gamma.reshape(bshape) * self.inv_std  # gamma * inv_std, (C, 1, ..., 1)
        if not self.cache_training:
            return dC_dA * g
        N = dC_dA.size // self.num_features
        return (g / N) * (N * dC_dA - dbeta - x_hat * dgamma)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape or input_shape[0] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) expects {self.num_features} features/channels, "
                f"got input shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}
