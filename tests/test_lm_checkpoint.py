"""fit_lm checkpoints: stop a language model's run at any step and resume it bit-identically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr

IDS = np.random.default_rng(0).integers(0, 9, 3000)


def _gpt() -> cr.Sequential:
    return cr.models.gpt(9, 8, n_layer=1, n_head=2, n_embd=8, dropout=0.1, seed=0, dtype=np.float64)


def _kw(**extra: Any) -> dict[str, Any]:
    schedule = cr.optim.CosineLR(total=40, warmup=5)
    return {
        "steps": 40,
        "batch_size": 4,
        "eval_every": 10,
        "verbose": False,
        "schedule": schedule,
        **extra,
    }


def _same(a: cr.Sequential, b: cr.Sequential) -> bool:
    return all(
        np.array_equal(P, Q) for (_, P, _, _), (_, Q, _, _) in zip(a.parameters(), b.parameters())
    )


def test_stop_and_resume_is_bit_identical(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    straight = _gpt()
    h1 = straight.fit_lm(IDS, IDS[:500], **_kw())
    half = _gpt()
    half.fit_lm(IDS, IDS[:500], **_kw(steps=20), checkpoint=path, checkpoint_every=10)
    resumed = _gpt()
    h2 = resumed.fit_lm(IDS, IDS[:500], **_kw(), resume=path, checkpoint=path)
    assert _same(straight, resumed)  # weights, optimizer moments, dropout masks, batches: all
    for key in ("step", "train_loss", "val_loss", "lr"):
        assert h1[key] == h2[key], key
    assert cr.load(path).is_fitted  # the checkpoint is an ordinary model file


def _advance_dropout_generators(net: cr.Sequential) -> None:
    for _, layer in net.named_layers():
        if isinstance(getattr(layer, "rng", None), np.random.Generator):
            layer.rng.random(17)  # as if other masks had been drawn since


def test_resume_restores_the_dropout_generators(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "run.npz"
    straight = _gpt()
    straight.fit_lm(IDS, IDS[:500], **_kw())
    half = _gpt()
    half.fit_lm(IDS, IDS[:500], **_kw(steps=20), checkpoint=path, checkpoint_every=10)
    _advance_dropout_generators(half)
    half.fit_lm(IDS, IDS[:500], **_kw(), resume=path)
    assert _same(straight, half)  # the file's generator states replaced the advanced ones
    # negative control: a resume that does not restore them trains differently
    from chainrule.train import checkpoint as ck

    monkeypatch.setattr(ck, "_layer_rngs", lambda net: {})
    again = _gpt()
    again.fit_lm(IDS, IDS[:500], **_kw(steps=20))
    _advance_dropout_generators(again)
    again.fit_lm(IDS, IDS[:500], **_kw(), resume=path)
    assert not _same(straight, again)


def test_resume_refuses_other_settings_and_other_runs(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    _gpt().fit_lm(IDS, IDS[:500], **_kw(steps=10), checkpoint=path, checkpoint_every=10)
    with pytest.raises(ValueError, match="batch_size was 4 in the checkpoint but is 8 now"):
        _gpt().fit_lm(IDS, IDS[:500], **_kw(batch_size=8), resume=path)
    with pytest.raises(ValueError, match="differ from the data"):
        _gpt().fit_lm(IDS[::-1].copy(), IDS[:500], **_kw(), resume=path)
    with pytest.raises(ValueError, match="steps=5 is the total"):
        _gpt().fit_lm(IDS, IDS[:500], **_kw(steps=5), resume=path)
    epochs = tmp_path / "fit.npz"  # a fit() checkpoint is not a language model's run
    X, y = np.random.default_rng(1).random((30, 4)), np.arange(30) % 2
    cr.mlp([4, 3, 1], output="sigmoid", seed=0).fit(
        X, y, epochs=2, verbose=False, checkpoint=epochs
    )
    with pytest.raises(ValueError, match="cannot resume"):
        _gpt().fit_lm(IDS, IDS[:500], **_kw(), resume=epochs)
