"""Training checkpoints: stop a run at any epoch and resume it with bit-identical results.

``fit(net, X, y, checkpoint="run.npz", checkpoint_every=N)`` writes a checkpoint every N epochs
(and after the last epoch, or when a callback stops training). ``fit(..., resume="run.npz")``
continues from it: with the same data, network and hyper-parameters, "3 epochs, stop, resume for
3 more" ends with exactly the same weights as "6 epochs in one go".

A checkpoint is an ordinary model file (see :mod:`chainrule.model.files`; ``chainrule.load``
reads it as the network trained so far) whose ``extra`` section also holds everything that the
rest of the run depends on:

* the epoch count and the history lists so far;
* the optimizer: name, hyper-parameters, step count t, and its state arrays (momentum V, Adam's
  moments M and S, ...) under ``extra/optimizer/<key>``;
* the state of the random generator that shuffles the examples each epoch, and of every layer's
  own generator (any layer of the tree with an ``rng`` attribute, e.g. Dropout's masks), by its
  tree path;
* the settings that must not change between the two halves of a run (batch size, shuffling,
  standardization, number of examples) and a CRC-32 fingerprint of the prepared training data.

Resuming with a different network, optimizer, batch size or data raises ValueError saying what
differs, instead of silently training something else. ``epochs`` on resume is the TOTAL number of
epochs: a checkpoint written after epoch 3 and ``epochs=6`` trains epochs 4, 5 and 6.

Writing is atomic (``serialization.save`` writes a temporary file and renames it), so a run killed
while saving still leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.io.archive import read_archive
from chainrule.io.tree import array_key, layer_spec, spec_repr, take_array
from chainrule.optim.optimizer import Optimizer
from chainrule.validation import check_positive_int

__all__ = ["Checkpointer", "fingerprint", "checkpoint_meta", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1
#: the fit settings that must be equal when a run is resumed
RESUME_SETTINGS = (
    "batch_size",
    "shuffle",
    "standardize",
    "schedule",
    "clip_grad_norm",
    "m",
    "data_crc32",
)


def fingerprint(*arrays: np.ndarray) -> int:
    """CRC-32 of the arrays' bytes (shape and dtype included): a cheap "same data?" check."""
    crc = 0
    for a in arrays:
        a = np.ascontiguousarray(a)
        crc = zlib.crc32(f"{a.dtype.str}{a.shape}".encode(), crc)
        crc = zlib.crc32(memoryview(a).cast("B"), crc)
    return crc


def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays -> Python numbers/lists; non-finite floats -> None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def check_path(path: Any, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; expected a file name like run.npz")
    return path


def _layer_rngs(net: Any) -> dict[str, np.random.Generator]:
    """Every layer's own random generator (Dropout masks, ...), by tree path ("3", "1.block.2")."""
    return {
        prefix.rstrip("."): layer.rng
        for prefix, layer in net.named_layers()
        if prefix and isinstance(getattr(layer, "rng", None), np.random.Generator)
    }


def _set_rng_state(rng: np.random.Generator, state: Any, where: str) -> None:
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ValueError(f"{where}: the saved random-generator state is invalid ({exc})") from None


def _architecture(net: Any) -> list[Any]:
    return [_jsonable(layer_spec(la)) for la in net.layers]


def checkpoint_meta(header: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``checkpoint`` section of a model file's header, checked, or ValueError."""
    extra = header.get("extra") if isinstance(header.get("extra"), dict) else {}
    ck = extra.get("checkpoint")
    if not isinstance(ck, dict):
        raise ValueError(
            f"{where} is a model file but not a training checkpoint; write one with "
            "fit(..., checkpoint='run.npz') or 'chainrule train --checkpoint run.npz'"
        )
    if ck.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{where}: checkpoint version {ck.get('version')!r} is not supported "
            f"(this chainrule reads version {CHECKPOINT_VERSION})"
        )
    epoch = ck.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"{where}: checkpoint epoch must be an int >= 0, got {epoch!r}")
    for key in ("history", "settings", "optimizer", "layer_rngs"):
        if not isinstance(ck.get(key), dict):
            raise ValueError(f"{where}: checkpoint field {key!r} is missing or not an object")
    return ck


class Checkpointer:
    """Saves checkpoints at epoch ends and restores one into a fresh ``fit``.

    ``fit`` builds one after preparing the data (``X`` as (m, features) in the network's dtype,
    ``Y`` as (n[L], m)), calls :meth:`resume` before the first epoch when resuming and
    :meth:`epoch_end` after every epoch.
    """

    def __init__(
        self,
        net: Any,
        optimizer: Optimizer,
        rng: np.random.Generator,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        path: str | os.PathLike[str] | None,
        every: int = 1,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.net = net
        self.optimizer = optimizer
        self.rng = rng
        self.every = check_positive_int("checkpoint_every", every)
        self.path = None if path is None else check_path(path, "checkpoint")
        if self.path is not None:
            folder = self.path.parent if str(self.path.parent) else Path(".")
            if not folder.is_dir():
                raise ValueError(f"checkpoint folder {str(folder)!r} does not exist")
        #: fit's history has one entry per epoch; fit_lm's one per estimate (set it False)
        self.history_per_epoch = True
        self.settings = {
            **_jsonable(settings or {}),
            "m": int(X.shape[0]),
            "data_crc32": fingerprint(X, Y),
        }

    # --- saving -------------------------------------------------------------------------------
    def epoch_end(self, epoch: int, history: dict[str, list[Any]], last: bool = False) -> None:
        """Write a checkpoint after every ``every``-th epoch and after the last one."""
        if self.path is not None and (last or epoch % self.every == 0):
            self.save(self.path, epoch, history)

    def save(self, path: Path, epoch: int, history: dict[str, list[Any]]) -> None:
        opt_meta, opt_arrays = self.optimizer.state_dict()
        meta = {
            "checkpoint": {
                "version": CHECKPOINT_VERSION,
                "epoch": int(epoch),
                "history": _jsonable(history),
                "settings": self.settings,
                "optimizer": _jsonable(opt_meta),
                "rng": _jsonable(self.rng.bit_generator.state),
                "layer_rngs": {
                    str(i): _jsonable(g.bit_generator.state)
                    for i, g in _layer_rngs(self.net).items()
                },
            }
        }
        arrays = {f"optimizer/{k}": np.asarray(v) for k, v in opt_arrays.items()}
        was_fitted = self.net.is_fitted
        self.net.is_fitted = True  # the file holds a network trained for `epoch` epochs
        try:
            self.net.save(path, extra_meta=meta, extra_arrays=arrays)
        finally:
            self.net.is_fitted = was_fitted

    # --- resuming -----------------------------------------------------------------------------
    def resume(self, path: str | os.PathLike[str], history: dict[str, list[Any]]) -> int:
        """Restore weights, optimizer, generators and ``history`` (in place); return the epoch."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"resume must be a file path (str or Path), got {type(path).__name__}")
        path = check_path(path, "resume")
        where = f"cannot resume from {path}"
        header, arrays = read_archive(path)
        ck = checkpoint_meta(header, str(path))
        net = self.net
        saved_specs = header.get("layers")
        saved_shape = tuple(header.get("input_shape") or ())
        if saved_specs != _architecture(net) or saved_shape != tuple(net.input_shape):
            described = ", ".join(spec_repr(s) for s in saved_specs or [])
            raise ValueError(
                f"{where}: it holds Sequential([{described}]) on input shape {saved_shape}, but "
                f"fit was called on {net!r} on input shape {net.input_shape}"
            )
        if header.get("loss") != net.loss.name or header.get("dtype") != net.dtype.name:
            raise ValueError(
                f"{where}: it was trained with cost {header.get('loss')!r} in "
                f"{header.get('dtype')}, this network uses {net.loss.name!r} in {net.dtype}"
            )
        opt_arrays = {
            k[len("extra/optimizer/") :]: v
            for k, v in arrays.items()
            if k.startswith("extra/optimizer/")
        }
        self._check_settings(ck["settings"], where)
        self._check_optimizer(ck["optimizer"], opt_arrays, where)
        epoch = int(ck["epoch"])
        stored = [
            (getattr(layer, name), take_array(arrays, array_key(key), getattr(layer, name), path))
            for key, layer, name in net.named_arrays()
        ]  # every array checked before any is changed
        for mine, theirs in stored:
            mine[...] = theirs  # in place: views of the parameters stay valid
        self.optimizer.load_state(ck["optimizer"], opt_arrays)
        _set_rng_state(self.rng, ck.get("rng"), where)
        layer_states = ck["layer_rngs"]
        for i, gen in _layer_rngs(net).items():
            if str(i) not in layer_states:
                raise ValueError(f"{where}: no saved random-generator state for layer {i}")
            _set_rng_state(gen, layer_states[str(i)], where)
        if self.history_per_epoch:
            self._restore_history(ck["history"], history, epoch, where)
        else:  # a language model's history: one entry per estimate, not per step
            self._restore_estimates(ck["history"], history, where)
        return epoch

    def _check_settings(self, saved: dict[str, Any], where: str) -> None:
        for key in RESUME_SETTINGS:
            if key in self.settings and saved.get(key) != self.settings[key]:
                if key == "m":
                    raise ValueError(
                        f"{where}: it was trained on {saved.get(key)!r} examples, the training "
                        f"data (X, y) now has {self.settings[key]}; resume with the same data"
                    )
                if key == "data_crc32":
                    raise ValueError(
                        f"{where}: the training data (X, y) differ from the data it was "
                        "trained on; resume with the same data"
                    )
                raise ValueError(
                    f"{where}: {key} was {saved.get(key)!r} in the checkpoint but is "
                    f"{self.settings[key]!r} now; resume with the same settings"
                )

    def _check_optimizer(
        self, saved: dict[str, Any], arrays: dict[str, np.ndarray], where: str
    ) -> None:
        opt = self.optimizer
        mine = _jsonable(opt.config())
        theirs = {k: saved.get(k) for k in mine}
        if saved.get("name") != opt.name or theirs != mine:
            raise ValueError(
                f"{where}: it was trained with optimizer {saved.get('name')!r} {theirs}, "
                f"but fit was called with {opt.name!r} {mine}"
            )
        t = saved.get("t")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ValueError(f"{where}: optimizer step count must be an int >= 0, got {t!r}")
        shapes = {key: P.shape for key, P, _, _ in self.net.parameters()}
        for key, arr in arrays.items():
            param = key.split(":", 1)[-1]
            if param not in shapes or arr.shape != shapes[param] or arr.dtype != self.net.dtype:
                raise ValueError(
                    f"{where}: optimizer state {key!r} ({arr.dtype} {arr.shape}) does not fit "
                    "the network's parameters"
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{where}: optimizer state {key!r} contains NaN or inf")

    @staticmethod
    def _restore_estimates(
        saved: dict[str, Any], history: dict[str, list[Any]], where: str
    ) -> None:
        lengths = {len(v) if isinstance(v, list) else -1 for v in saved.values()}
        if set(history) - set(saved) or len(lengths) != 1 or -1 in lengths:
            raise ValueError(f"{where}: the saved history is not a language model's")
        for key in history:
            history[key] = list(saved[key])

    @staticmethod
    def _restore_history(
        saved: dict[str, Any], history: dict[str, list[Any]], epoch: int, where: str
    ) -> None:
        for key in [*history, *(k for k in saved if k not in history)]:
            values = saved.get(key)
            if values is None:  # e.g. validation added on resume: no values for earlier epochs
                values = [None] * epoch
            if not isinstance(values, list) or len(values) != epoch:
                raise ValueError(f"{where}: history {key!r} does not have {epoch} entries")
            history[key] = list(values)
