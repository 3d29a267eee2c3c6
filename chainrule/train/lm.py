"""Training a language model on a token stream: random windows, counted in steps, not epochs.

A text is one long array of token ids. Each step draws ``batch_size`` random windows of
``block_size + 1`` consecutive tokens; the first ``block_size`` are the input and the same
window shifted by one is the target, so every position learns to predict its next token:

    window   = ids[s : s + T + 1]
    X[j]     = window[:-1]            (T,)  the tokens the model sees
    Y[j]     = window[1:]             (T,)  the token that comes after each of them

Every ``eval_every`` steps the mean cost is measured on fixed batches of the training and the
validation stream (the same windows every time, in prediction mode), as nanoGPT's
``estimate_loss`` does, so the curves compare like with like.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from chainrule.fast.sequence import SequencePlan, why_not_sequence_plan
from chainrule.optim.optimizer import Optimizer
from chainrule.train.checkpoint import Checkpointer
from chainrule.train.documents import document_starts
from chainrule.train.fit import resolve_optimizer
from chainrule.train.step import recompute_gradients, restore_if_not_finite, train_step
from chainrule.validation import check_ids, check_int, check_positive_float, check_positive_int

__all__ = ["fit_lm", "sample_windows", "one_hot_targets"]


def sample_windows(
    ids: np.ndarray,
    block_size: int,
    batch_size: int,
    rng: np.random.Generator,
    starts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y), both (batch_size, block_size): random windows of ``ids`` and their next tokens.

    A window starts anywhere, or, given ``starts`` (allowed start positions), at one of those.
    """
    if starts is None:
        starts = rng.integers(0, ids.shape[0] - block_size, size=batch_size)  # (B,)
    else:
        starts = starts[rng.integers(0, starts.shape[0], size=batch_size)]  # (B,)
    window = ids[starts[:, None] + np.arange(block_size + 1)]  # (B, T + 1)
    return window[:, :-1], window[:, 1:]


def one_hot_targets(Y: np.ndarray, vocab_size: int, dtype: np.dtype) -> np.ndarray:
    """Next-token ids Y (B, T) -> the engine's one-hot targets (V, T, B)."""
    B, T = Y.shape
    out = np.zeros((vocab_size, T, B), dtype=dtype)
    out[Y.T, np.arange(T)[:, None], np.arange(B)[None, :]] = 1
    return out


def _stream(ids: Any, name: str, vocab_size: int, block_size: int) -> np.ndarray:
    arr = check_ids(np.asarray(ids).reshape(1, -1), None, vocab_size, name=name)[0]
    if arr.shape[0] <= block_size:
        raise ValueError(
            f"{name} has {arr.shape[0]} tokens: a window of block_size {block_size} plus its "
            "next token needs more"
        )
    return arr


def _progress_bar(steps: int) -> Any:
    """A tqdm bar on a terminal (tqdm is an optional extra); None elsewhere: plain lines."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    if not sys.stdout.isatty():
        return None
    return tqdm(total=steps, unit="step", leave=False, file=sys.stderr)


def _estimate(net: Any, batches: tuple[np.ndarray, np.ndarray]) -> float:
    X, Y = batches
    return net.cost_in_batches(X.T, one_hot_targets(Y, net.vocab_size, net.dtype))


def fit_lm(
    net: Any,
    train_ids: Any,
    val_ids: Any = None,
    *,
    steps: int = 1000,
    batch_size: int = 12,
    lr: float | None = None,
    optimizer: str | Optimizer = "adamw",
    weight_decay: float | None = None,
    beta2: float | None = None,
    schedule: Any = None,
    clip_grad_norm: float | None = 1.0,
    eval_every: int = 100,
    eval_batches: int = 20,
    seed: int | None = 0,
    verbose: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 500,
    resume: str | os.PathLike[str] | None = None,
    engine: str = "auto",
    start_token: int | None = None,
) -> dict[str, list[Any]]:
    """Train a language model ``net`` (Embedding first, an output at every position) for
    ``steps`` steps on random windows of ``train_ids`` (a 1-D array of token ids).

    Defaults follow nanoGPT: AdamW (lr 1e-3 unless given), gradient clipping at 1.0; pass
    ``schedule=cr.optim.CosineLR(total=steps, warmup=100, min_lr=1e-4)`` for its warmup and
    cosine decay. Returns the history: ``step``, ``train_loss``, ``val_loss`` (when
    ``val_ids`` is given), ``lr``, ``tokens_per_s``, measured every ``eval_every`` steps and
    after the last. ``net.fit_lm(...)`` is the same function.

    ``checkpoint="run.npz"`` saves the model, the optimizer state, the random generators and
    the history every ``checkpoint_every`` steps and after the last; ``resume="run.npz"``
    continues such a run (``steps`` is then the total), bit-identical to an uninterrupted run
    with the same arguments (:mod:`chainrule.train.checkpoint`).

    ``engine``: ``"reference"`` runs every layer's own forward and backward; ``"fast"`` runs a
    GPT through :class:`chainrule.fast.sequence.SequencePlan` (its tanh GELUs in place, the
    same numbers); ``"auto"`` (default) takes the fast plan where it applies.

    ``start_token``: for a stream of documents separated by that token (the names' ``.``,
    id 0), every window, in training and in the estimates, starts at a separator: each
    document is read from its beginning, as makemore trains (:mod:`chainrule.train.documents`).
    """
    V = net.vocab_size
    if V is None or len(net.output_shape) != 2:
        raise ValueError(
            "fit_lm trains a language model: a network that reads token ids (Embedding first) "
            f"and predicts a token at every position, output (V, T); got output {net.output_shape}"
        )
    T = net.input_shape[0]
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    eval_every = check_positive_int("eval_every", eval_every)
    eval_batches = check_positive_int("eval_batches", eval_batches)
    seed = None if seed is None else check_int("seed", seed, 0)
    opt = resolve_optimizer(
        optimizer, 1e-3 if lr is None and isinstance(optimizer, str) else lr,
        weight_decay=weight_decay, beta2=beta2,
    )  # fmt: skip
    if clip_grad_norm is not None:
        clip_grad_norm = check_positive_float("clip_grad_norm", clip_grad_norm)
    if engine not in ("auto", "reference", "fast"):
        raise ValueError(f"engine must be 'auto', 'reference' or 'fast', got {engine!r}")
    reason = why_not_sequence_plan(net)
    if engine == "fast" and reason is not None:
        raise ValueError(f"engine='fast' does not support this network: {reason}")
    plan = SequencePlan(net) if engine != "reference" and reason is None else None
    step_fn = None if plan is None else plan.forward_backward
    train = _stream(train_ids, "train_ids", V, T)
    val = None if val_ids is None else _stream(val_ids, "val_ids", V, T)
    starts = val_starts = None
    if start_token is not None:
        start_token = check_int("start_token", start_token, 0)
        if start_token >= V:
            raise ValueError(
                f"start_token must be a token id below vocab_size {V}, got {start_token}"
            )
        starts = document_starts(train, T, start_token)
        val_starts = None if val is None else document_starts(val, T, start_token)
    rng = np.random.default_rng(seed)
    fixed = np.random.default_rng(None if seed is None else seed + 1)  # the evaluation windows
    n_eval = eval_batches * batch_size
    evals = {"train_loss": sample_windows(train, T, n_eval, fixed, starts)}
    if val is not None:
        evals["val_loss"] = sample_windows(val, T, n_eval, fixed, val_starts)
    history: dict[str, list[Any]] = {"step": [], **{k: [] for k in evals}, "lr": []}
    history["tokens_per_s"] = []
    start = 0
    ckpt = None
    if checkpoint is not None or resume is not None:
        settings = {
            "batch_size": batch_size,
            "block_size": T,
            "eval_every": eval_every,
            "eval_batches": eval_batches,
            "seed": seed,
            "schedule": repr(schedule) if schedule is not None else None,
            "clip_grad_norm": clip_grad_norm,
        }
        if start_token is not None:  # (absent from the files of runs without it)
            settings["start_token"] = start_token
        other = val if val is not None else np.zeros(0, dtype=np.int64)
        ckpt = Checkpointer(
            net, opt, rng, train, other, path=checkpoint, every=checkpoint_every, settings=settings
        )
        ckpt.history_per_epoch = False
        if resume is not None:
            start = ckpt.resume(resume, history)
            if start > steps:
                raise ValueError(f"cannot resume at step {start}: steps={steps} is the total")
    base_lr, done, t0, tokens = opt.lr, start, time.perf_counter(), 0
    snapshot = [(P, P.copy()) for _, P, _, _ in net.parameters()]  # refreshed at every estimate
    last: tuple[np.ndarray, np.ndarray] | None = None
    finished = False
    bar = _progress_bar(steps) if verbose else None
    try:
        for step in range(start + 1, steps + 1):
            if schedule is not None:
                opt.lr = schedule.lr(base_lr, step - 1)
            X, Y = sample_windows(train, T, batch_size, rng, starts)  # (B, T) each
            net.train()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                cost, _ = train_step(
                    net, X.T, one_hot_targets(Y, V, net.dtype), opt, clip_grad_norm, step_fn
                )
            if not np.isfinite(cost):
                raise FloatingPointError(
                    f"the training cost became {cost} at step {step}; try a smaller lr than {opt.lr:g}"
                )
            done, tokens, last = step, tokens + X.size, (X, Y)
            if bar is not None:  # step, loss and tokens/s, live
                rate = tokens / max(time.perf_counter() - t0, 1e-9)
                bar.update(1)
                bar.set_postfix_str(f"loss {cost:.4f}  {rate:,.0f} tok/s", refresh=False)
            if step % eval_every == 0 or step == steps:
                elapsed = time.perf_counter() - t0
                history["step"].append(step)
                for key, batches in evals.items():
                    history[key].append(_estimate(net, batches))
                history["lr"].append(opt.lr)
                history["tokens_per_s"].append(tokens / elapsed if elapsed > 0 else 0.0)
                if verbose:
                    parts = [f"step {step:>{len(str(steps))}}/{steps}"]
                    parts += [f"{k.split('_')[0]} {history[k][-1]:.4f}" for k in evals]
                    parts.append(f"lr {opt.lr:.2e}  {history['tokens_per_s'][-1]:,.0f} tok/s")
                    line = "  ".join(parts)
                    if bar is not None:
                        bar.write(line, file=sys.stdout)
                    else:
                        print(line, file=sys.stdout, flush=True)
                for P, saved in snapshot:
                    saved[...] = P
                t0, tokens = time.perf_counter(), 0
            if ckpt is not None:
                scheduled, opt.lr = opt.lr, base_lr  # the file holds the base learning rate
                ckpt.epoch_end(step, history, last=step == steps)
                opt.lr = scheduled
        finished = True
    finally:
        if bar is not None:
            bar.close()
        opt.lr = base_lr
        if not finished:  # an interrupt or a diverged step: a consistent network all the same
            restore_if_not_finite(net, snapshot)
            if last is not None:  # gradients of one whole pass, at the parameters as they are
                recompute_gradients(net, last[0].T, one_hot_targets(last[1], V, net.dtype))
        net.eval()
        net.is_fitted = net.is_fitted or done > 0
        net.optimizer = opt
        net.history = history
    return history
