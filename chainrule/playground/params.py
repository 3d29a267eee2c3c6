"""Every parameter the playground page can send, checked with bounds and clear messages.

The page keeps its whole set-up in the URL, so anything here may arrive from a hand-edited link:
each value is checked once, here, and a bad one raises ValueError/TypeError naming the parameter,
what was expected and what was received. The server turns those into a 400 JSON reply.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from chainrule.validation import check_int

__all__ = [
    "Config",
    "parse_config",
    "parse_batches",
    "DATASETS",
    "FEATURES",
    "ACTIVATIONS",
    "OPTIMIZERS",
    "MAX_HIDDEN_LAYERS",
    "MAX_NEURONS",
]

DATASETS = ("toy", "xor", "moons", "circles", "spirals", "gaussians", "csv")
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2")
ACTIVATIONS = ("relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "momentum", "adam")
MAX_HIDDEN_LAYERS = 6
MAX_NEURONS = 8
MAX_BATCHES_PER_STEP = 1000
MAX_SEED = 2**31 - 1


@dataclass
class Config:
    """One playground set-up: the data, the input features, the network and its training."""

    data: str = "moons"
    noise: float = 0.15
    points: int = 400
    ratio: float = 0.5  # fraction of the examples used for training; the rest is the test set
    classes: int = 3  # for spirals and gaussians
    seed: int = 0
    features: list[str] = field(default_factory=lambda: ["x1", "x2"])
    layers: list[int] = field(default_factory=lambda: [4, 4])
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 0.03
    batch: int = 10
    l2: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    """A finite float in [low, high] (or (low, high] with ``low_open``); numeric strings too."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise TypeError(f"{name} must be a number, got the text {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    below = value <= low if low_open else value < low
    if not math.isfinite(value) or below or value > high:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{low:g}, {high:g}], got {value!r}")
    return value


def _integer(name: str, value: Any, low: int, high: int) -> int:
    """An int in [low, high]; a string of digits is accepted (values from the URL are text)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        value = check_int(name, value, low)
    except TypeError:
        raise TypeError(
            f"{name} must be an int in [{low}, {high}], got {type(value).__name__} {value!r}"
        ) from None
    except ValueError:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value}") from None
    if value > high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value}")
    return value


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def _list(name: str, value: Any) -> list[Any]:
    """A JSON list, or a comma-separated string ("4,4"; "" is the empty list)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")] if value.strip() else []
    if not isinstance(value, list):
        raise TypeError(f"{name} must be a list, got {type(value).__name__} {value!r}")
    return value


def _features(value: Any) -> list[str]:
    names = _list("features", value)
    if not names:
        raise ValueError(f"features must name at least one of {', '.join(FEATURES)}; got none")
    out = [_choice("feature", n, FEATURES) for n in names]
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise ValueError(f"features must not repeat; {', '.join(dupes)} appears twice")
    return [f for f in FEATURES if f in out]  # a fixed order: the same set is the same network


def _layers(value: Any) -> list[int]:
    sizes = _list("layers", value)
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise ValueError(
            f"layers must list at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(sizes)}"
        )
    return [_integer(f"layers[{i}]", n, 1, MAX_NEURONS) for i, n in enumerate(sizes)]


_CHECKS = {
    "data": lambda v: _choice("data", v, DATASETS),
    "noise": lambda v: _number("noise", v, 0.0, 1.0),
    "points": lambda v: _integer("points", v, 20, 2000),
    "ratio": lambda v: _number("ratio", v, 0.1, 0.9),
    "classes": lambda v: _integer("classes", v, 2, 5),
    "seed": lambda v: _integer("seed", v, 0, MAX_SEED),
    "features": _features,
    "layers": _layers,
    "activation": lambda v: _choice("activation", v, ACTIVATIONS),
    "optimizer": lambda v: _choice("optimizer", v, OPTIMIZERS),
    "lr": lambda v: _number("lr", v, 0.0, 10.0, low_open=True),
    "batch": lambda v: _integer("batch", v, 1, 1000),
    "l2": lambda v: _number("l2", v, 0.0, 1.0),
}


def parse_config(raw: Any) -> Config:
    """A :class:`Config` from the page's JSON object; missing keys keep their defaults.

    >>> parse_config({"data": "xor", "layers": "3,2"}).layers
    [3, 2]
    """
    if not isinstance(raw, dict):
        raise TypeError(f"the set-up must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_CHECKS))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"expected some of: {', '.join(_CHECKS)}"
        )
    values = {key: check(raw[key]) for key, check in _CHECKS.items() if key in raw}
    return Config(**values)


def parse_batches(raw: Any) -> int:
    """How many batches one step request trains: 1..MAX_BATCHES_PER_STEP (default 1)."""
    if raw is None:
        return 1
    if not isinstance(raw, dict):
        raise TypeError(f"the step request must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"batches"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; expected batches")
    return _integer("batches", raw.get("batches", 1), 1, MAX_BATCHES_PER_STEP)
