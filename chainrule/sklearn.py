"""scikit-learn estimators around chainrule networks: use them in Pipeline, GridSearchCV, ...

>>> from chainrule.sklearn import NeuralNetClassifier
>>> clf = NeuralNetClassifier(hidden_layer_sizes=(16,), epochs=50, random_state=0)  # doctest: +SKIP
>>> clf.fit(X, y).predict_proba(X).shape  # (m, K)                                 # doctest: +SKIP

Like every scikit-learn estimator, X is (m, features) and y is (m,). The classifier accepts any
labels (ints, strings, ...): ``classes_`` holds them sorted, and they are mapped to 0..K-1 inside
(two classes: one sigmoid output with binary cross-entropy; more: a softmax output with
cross-entropy). The trained :class:`~chainrule.model.network.Sequential` is ``net_``, its training
history ``history_`` (``loss_curve_`` is the cost per epoch, as in ``MLPClassifier``).

scikit-learn is an optional extra: ``pip install 'chainrule[sklearn]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule.model.builders import mlp
from chainrule.model.network import Sequential
from chainrule.validation import check_int, check_positive_int

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "chainrule.sklearn needs scikit-learn >= 1.6; install it with: "
        "pip install 'chainrule[sklearn]'  (or: pip install scikit-learn)"
    ) from None

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]


class _NeuralNetBase(BaseEstimator):
    """Shared hyperparameters and the training call. Parameters are only stored in __init__
    (scikit-learn's rule); they are validated when ``fit`` runs."""

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        optimizer: str = "adam",
        lr: float = 0.001,
        epochs: int = 200,
        batch_size: int = 32,
        weight_decay: float = 0.0,
        standardize: bool = True,
        init: str | None = None,
        dtype: str = "float32",
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.init = init
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # --- helpers ------------------------------------------------------------------------------
    def _sizes(self, n_in: int, n_out: int) -> list[int]:
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, (int, np.integer)):
            hidden = (check_positive_int("hidden_layer_sizes", hidden),)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(
                f"hidden_layer_sizes must be a tuple of ints like (16, 16), got {hidden!r}"
            )
        return [n_in, *list(hidden), n_out]

    def _seed(self) -> int | None:
        rs = self.random_state
        if rs is None:
            return None
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        if isinstance(rs, (bool, int, np.integer)):
            return check_int("random_state", rs, 0)
        raise TypeError(f"random_state must be None, an int or a RandomState, got {rs!r}")

    def _train(self, X: np.ndarray, y: np.ndarray, n_out: int, output: str) -> None:
        seed = self._seed()
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        net = mlp(
            self._sizes(X.shape[1], n_out),
            activation=self.activation,
            output=output,
            init=self.init,
            seed=seed,
            dtype=np.dtype(self.dtype),
        )
        self.history_ = net.fit(
            X,
            y,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            standardize=bool(self.standardize),
            verbose=bool(self.verbose),
            seed=seed,
        )
        self.net_: Sequential = net
        # Predictions use a float64 copy: in float32, BLAS rounding of the last bit depends on
        # how many rows a batch has, and scikit-learn requires predict(X[batch]) == predict(X)[batch].
        self._predictor = net.astype(np.float64)
        self.loss_curve_ = list(self.history_["cost"])
        self.n_iter_ = len(self.loss_curve_)

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._predictor.predict_proba(X)

    def to_onnx(self, path: str | Path | None = None) -> Any:
        """Export the trained network (outputs A[L]: probabilities or values) to ONNX."""
        check_is_fitted(self, "net_")
        return self.net_.to_onnx(path)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class NeuralNetClassifier(ClassifierMixin, _NeuralNetBase):
    """A multilayer perceptron classifier trained with chainrule.

    Parameters
    ----------
    hidden_layer_sizes:
        n[1], ..., n[L-1]; n[0] and n[L] come from the data.
    activation:
        hidden activation: "relu", "tanh", "sigmoid", "leaky_relu".
    optimizer, lr, epochs, batch_size, weight_decay:
        passed to :func:`chainrule.train.fit.fit`.
    standardize:
        learn a per-feature Standardizer on the training X (strongly recommended).
    init:
        "he", "xavier", "normal", "torch" or None (suits the activation).
    dtype:
        "float32" (fast) or "float64" for training; predictions are always computed in float64.
    random_state:
        seeds both the initial weights and the shuffling; equal seeds give equal models.
    """

    def fit(self, X: Any, y: Any) -> NeuralNetClassifier:
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K < 2:
            raise ValueError(
                f"a classifier needs at least 2 classes in y, got 1 class ({self.classes_[0]!r})"
            )
        self._train(X, encoded, 1 if K == 2 else K, "sigmoid" if K == 2 else "softmax")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (m, K), columns in the order of ``classes_``."""
        P = self._outputs(X).astype(np.float64)
        if P.shape[1] == 1:  # sigmoid output: P(class 1); class 0 gets the rest
            P = np.hstack([1.0 - P, P])
        return P

    def predict_log_proba(self, X: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each example, from ``classes_``."""
        check_is_fitted(self, "net_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNetBase):
    """A multilayer perceptron regressor (identity output, mean squared error) trained with
    chainrule. Parameters as for :class:`NeuralNetClassifier`; y may be (m,) or (m, k)."""

    def fit(self, X: Any, y: Any) -> NeuralNetRegressor:
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        k = 1 if y.ndim == 1 else y.shape[1]
        if y.ndim == 2 and k == 1:
            y = y[:, 0]
        self._train(X, y, k, "identity")
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values: (m,) for a 1-D y at fit time, (m, k) for a 2-D y."""
        out = self._outputs(X).astype(np.float64)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
