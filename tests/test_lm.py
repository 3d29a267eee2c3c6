"""Language models at the user boundary: token ids in, next-token targets, the averaged cost,
random training windows, fit_lm (learning, history, schedule, clipping, errors, interrupts),
makemore's context windows with the char MLP, and sampling with generate.

Token ids are (m, T) at the user boundary and (T, m) in the engine; next-token targets become
the one-hot Y (V, T, m), and the cost is the mean over every (position, example).
"""

from __future__ import annotations

import math
import signal
import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.data.text import Vocabulary, load_text
from chainrule.data.windows import context_windows
from chainrule.model.generate import generate, next_token_logits
from chainrule.train import lm as lm_module
from chainrule.train.lm import one_hot_targets, sample_windows

F64 = np.float64


def _gpt(V: int = 11, T: int = 7, dtype: type = F64, seed: int = 0, **kw: Any) -> cr.Sequential:
    args = dict(n_layer=1, n_head=2, n_embd=8, seed=seed, dtype=dtype)
    return cr.models.gpt(V, block_size=T, **{**args, **kw})


def _scaled(net: cr.Sequential, factor: float = 20.0) -> cr.Sequential:
    """O(1) weights instead of GPT-2's 0.02: peaked next-token distributions."""
    for key, P, _, _ in net.parameters():
        if key.rsplit(".", 1)[-1].startswith("W"):
            P *= factor
    return net


# --- the token-id boundary ------------------------------------------------------------------------
def test_prepare_X_accepts_token_ids() -> None:
    net = _gpt()
    X = np.random.default_rng(0).integers(0, 11, (3, 7))
    for given in (X, X.astype(np.int32), X.astype(np.uint8), X.tolist(), X.astype(F64)):
        out = net.prepare_X(given)
        assert out.dtype == np.int64 and out.shape == (3, 7)
        np.testing.assert_array_equal(out, X)
    np.testing.assert_array_equal(net.prepare_X(X[0]), X[:1])  # 1-D: one sequence
    rnn = cr.models.rnn_lm(5, n_embd=3, n_hidden=4, block_size=4)
    assert rnn.prepare_X(np.full((2, 4), 4.0)).dtype == np.int64


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros((3, 5), dtype=int), ValueError, "7 tokens per example, got 5"),
        (np.zeros((3, 8), dtype=int), ValueError, "7 tokens per example, got 8"),
        (
            np.arange(5, 12)[None],
            ValueError,
            r"5\.\.11, but the vocabulary has 11 tokens \(ids 0\.\.10\)",
        ),
        (np.full((2, 7), -1), ValueError, r"-1\.\.-1, but the vocabulary has 11"),
        (np.full((2, 7), 0.5), TypeError, "integer token ids, got dtype float64"),
        (np.full((2, 7), np.nan), TypeError, "integer token ids, got dtype float64"),
        (np.array([["a"] * 7]), TypeError, "integer token ids, got dtype <U1"),
        ("abcdefg", TypeError, "array of token ids, got str"),
        (None, TypeError, "array of token ids, got NoneType"),
        (np.zeros((2, 7, 1), dtype=int), ValueError, r"shape \(m, T\), got shape \(2, 7, 1\)"),
        (np.zeros((0, 7), dtype=int), ValueError, r"shape \(m, T\), got shape \(0, 7\)"),
        ([[1, 2], [3]], ValueError, "could not be converted"),
    ],
)
def test_prepare_X_refuses_bad_ids(X: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _gpt().prepare_X(X)


def test_prepare_Y_builds_the_one_hot_next_token_targets_by_hand() -> None:
    """V = 3, T = 2, m = 2, y = [[2, 0], [1, 1]]: Y[y[j, t], t, j] = 1, (V, T, m)."""
    net = _gpt(V=3, T=2)
    Y = net.prepare_Y(np.array([[2, 0], [1, 1]]), 2)
    expected = np.zeros((3, 2, 2))
    expected[2, 0, 0] = 1  # example 0, position 0 -> token 2
    expected[0, 1, 0] = 1  # example 0, position 1 -> token 0
    expected[1, 0, 1] = 1  # example 1, position 0 -> token 1
    expected[1, 1, 1] = 1  # example 1, position 1 -> token 1
    assert Y.shape == (3, 2, 2) and Y.dtype == F64
    np.testing.assert_array_equal(Y, expected)
    np.testing.assert_array_equal(net.prepare_Y([[2.0, 0.0], [1.0, 1.0]], 2), expected)
    np.testing.assert_array_equal(Y, one_hot_targets(np.array([[2, 0], [1, 1]]), 3, F64))
    assert _gpt(V=3, T=2, dtype=np.float32).prepare_Y([[0, 1]], 1).dtype == np.float32


@pytest.mark.parametrize(
    "y, m, error, match",
    [
        (
            np.zeros((3, 7), dtype=int),
            2,
            ValueError,
            r"one row of 7 targets per example of X \(2\)",
        ),
        (np.zeros((2, 6), dtype=int), 2, ValueError, "7 tokens per example, got 6"),
        (np.full((2, 7), 11), 2, ValueError, "vocabulary has 11 tokens"),
        (np.full((2, 7), 1.5), 2, TypeError, "integer token ids"),
        (np.zeros(2, dtype=int), 2, ValueError, "7 tokens per example, got 2"),
    ],
)
def test_prepare_Y_refuses_bad_targets(y: Any, m: int, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _gpt().prepare_Y(y, m)


def test_loss_and_gradients_rejects_mismatched_targets() -> None:
    net = _gpt()
    X = np.zeros((2, 7), dtype=int)
    with pytest.raises(ValueError, match="per example of X"):
        net.loss_and_gradients(X, np.zeros((3, 7), dtype=int))


def test_next_token_cost_is_averaged_over_every_position_and_example() -> None:
    """A head with W = 0 and b = log(1, 2, 5) gives p = (1/8, 2/8, 5/8) at every position.

    Targets y = [[0, 1], [2, 2]] (m = 2, T = 2): four (position, example) terms,
        C = -(log 1/8 + log 2/8 + 2 log 5/8) / 4     (the mean over T * m = 4, not over m)
    and dC/db = mean over the four of (p - onehot) = p - (1/4, 1/4, 2/4) = (-1/8, 0, 1/8).
    """
    net = _gpt(V=3, T=2, n_embd=4, n_head=1)
    head = net.layers[-2]
    head.W[...] = 0.0
    head.b[...] = np.log([[1.0], [2.0], [5.0]])
    X, y = np.array([[0, 1], [2, 0]]), np.array([[0, 1], [2, 2]])
    expected = -(math.log(1 / 8) + math.log(2 / 8) + 2 * math.log(5 / 8)) / 4
    assert net.loss_and_gradients(X, y) == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(head.dC_db[:, 0], [-1 / 8, 0.0, 1 / 8], atol=1e-15)
    assert net.cost(X, y) == pytest.approx(expected, rel=1e-13)
    # the cost itself on logits (V, T, m): the same mean over T * m columns
    Z = np.broadcast_to(head.b[:, :, None], (3, 2, 2))
    assert net.loss.cost_from_logits(Z, net.prepare_Y(y, 2)) == pytest.approx(expected, rel=1e-13)
    # a network with one position per example averages over m only: the same formula
    P = np.array([[0.5, 0.25], [0.5, 0.75]])
    assert net.loss.cost(P, np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(
        -(math.log(0.5) + math.log(0.75)) / 2
    )


# --- random windows of a token stream -------------------------------------------------------------
def test_sample_windows_are_shifted_by_one_and_within_bounds() -> None:
    ids = np.arange(100, 150)  # N = 50: each window's tokens tell where it starts
    X, Y = sample_windows(ids, 8, 400, np.random.default_rng(0))
    assert X.shape == Y.shape == (400, 8)
    np.testing.assert_array_equal(Y[:, :-1], X[:, 1:])  # Y is X shifted by one
    np.testing.assert_array_equal(Y, X + 1)
    np.testing.assert_array_equal(X, X[:, :1] + np.arange(8))  # consecutive tokens
    starts = X[:, 0] - 100
    assert starts.min() >= 0 and starts.max() <= 50 - 8 - 1
    assert set(starts.tolist()) == set(range(42))  # every start 0..N-T-1 is drawn
    X1, Y1 = sample_windows(np.arange(9), 8, 5, np.random.default_rng(1))  # N = T + 1
    np.testing.assert_array_equal(X1, np.tile(np.arange(8), (5, 1)))
    np.testing.assert_array_equal(Y1, np.tile(np.arange(1, 9), (5, 1)))


def test_sample_windows_is_deterministic_with_a_seed() -> None:
    ids = np.random.default_rng(3).integers(0, 5, 200)
    a = sample_windows(ids, 6, 10, np.random.default_rng(7))
    b = sample_windows(ids, 6, 10, np.random.default_rng(7))
    c = sample_windows(ids, 6, 10, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_one_hot_targets_layout() -> None:
    """Y (B=2, T=3) = [[2, 0, 1], [1, 1, 0]] -> (V=3, T=3, B=2), out[Y[b, t], t, b] = 1."""
    out = one_hot_targets(np.array([[2, 0, 1], [1, 1, 0]]), 3, np.float32)
    assert out.shape == (3, 3, 2) and out.dtype == np.float32
    ones = {(2, 0, 0), (0, 1, 0), (1, 2, 0), (1, 0, 1), (1, 1, 1), (0, 2, 1)}
    for idx in np.ndindex(out.shape):
        assert out[idx] == (1.0 if idx in ones else 0.0), idx


# --- fit_lm ---------------------------------------------------------------------------------------
def _val_cost(net: cr.Sequential, ids: np.ndarray, seed: int = 5) -> float:
    X, Y = sample_windows(ids, net.input_shape[0], 32, np.random.default_rng(seed))
    return net.cost(X, Y)


def test_fit_lm_gpt_learns_a_short_text_from_load_text(tmp_path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text("hello world. " * 40, encoding="utf-8")
    ds = load_text(path)
    V = ds.vocab_size
    assert V == len(set("hello world. "))
    net = _gpt(V=V, T=8, n_embd=16, dtype=np.float32)
    before = _val_cost(net, ds.val_ids)
    assert abs(before - math.log(V)) < 0.1
    hist = net.fit_lm(
        ds.train_ids, ds.val_ids, steps=250, batch_size=8, lr=1e-2, eval_every=50,
        eval_batches=2, verbose=False,
    )  # fmt: skip
    assert hist["step"] == [50, 100, 150, 200, 250]
    assert set(hist) == {"step", "train_loss", "val_loss", "lr", "tokens_per_s"}
    assert all(len(v) == 5 for v in hist.values())
    assert hist["val_loss"][-1] < 0.5 * before and hist["val_loss"][-1] < hist["val_loss"][0]
    assert _val_cost(net, ds.val_ids) < 0.5 * before
    assert net.is_fitted and net.history is hist and not net.training


def test_fit_lm_gru_learns_a_repeated_pattern() -> None:
    ids = np.tile(np.array([0, 1, 2, 1, 3]), 80)
    net = cr.models.gru_lm(4, n_embd=6, n_hidden=12, block_size=8, seed=1, dtype=np.float32)
    before = _val_cost(net, ids[350:])
    hist = net.fit_lm(
        ids[:350], ids[350:], steps=150, batch_size=8, lr=1e-2, eval_every=25, eval_batches=2,
        verbose=False,
    )  # fmt: skip
    assert hist["val_loss"][-1] < 0.3 * before
    assert hist["val_loss"][-1] < hist["val_loss"][0]


def test_fit_lm_history_without_val_and_the_printout(capsys) -> None:
    ids = np.tile(np.arange(5), 20)
    net = _gpt(V=5, T=4)
    hist = lm_module.fit_lm(net, ids, steps=7, batch_size=2, eval_every=3, eval_batches=1)
    assert set(hist) == {"step", "train_loss", "lr", "tokens_per_s"}
    assert hist["step"] == [3, 6, 7] and hist["lr"] == [1e-3] * 3
    assert all(np.isfinite(hist["train_loss"])) and all(t >= 0 for t in hist["tokens_per_s"])
    out = capsys.readouterr().out
    assert out.count("\n") == 3 and "step 7/7" in out and "train " in out


def test_fit_lm_is_deterministic_with_a_seed() -> None:
    ids = np.random.default_rng(0).integers(0, 5, 120)
    a, b = _gpt(V=5, T=4), _gpt(V=5, T=4)
    ha = a.fit_lm(ids, steps=5, batch_size=3, seed=4, verbose=False, eval_batches=1)
    hb = b.fit_lm(ids, steps=5, batch_size=3, seed=4, verbose=False, eval_batches=1)
    assert ha["train_loss"] == hb["train_loss"]
    for (_, Pa, _, _), (_, Pb, _, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(Pa, Pb)


def test_fit_lm_schedule_and_clip_grad_norm() -> None:
    ids = np.tile(np.arange(6), 30)
    net = _gpt(V=6, T=5)
    schedule = cr.optim.CosineLR(total=20, warmup=5, min_lr=1e-4)
    hist = net.fit_lm(
        ids, steps=20, batch_size=4, lr=1e-2, schedule=schedule, clip_grad_norm=0.5,
        eval_every=5, eval_batches=1, verbose=False,
    )  # fmt: skip
    assert hist["step"] == [5, 10, 15, 20]
    expected = [schedule.lr(1e-2, s - 1) for s in hist["step"]]
    np.testing.assert_allclose(hist["lr"], expected, rtol=1e-12)
    assert hist["lr"][0] == pytest.approx(1e-2 * 5 / 6)  # step 5 is t = 4, still warming up
    assert hist["lr"][1] < 1e-2 and hist["lr"][-1] < 1e-3
    assert net.optimizer.lr == pytest.approx(1e-2)  # the base rate is restored afterwards
    net.fit_lm(ids, steps=2, batch_size=4, clip_grad_norm=None, verbose=False, eval_batches=1)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="clip_grad_norm"):
            net.fit_lm(ids, steps=1, clip_grad_norm=bad, verbose=False)


def test_fit_lm_clipping_bounds_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    real = lm_module.train_step

    def recording(net: Any, A0: Any, Y: Any, opt: Any, clip: Any, run: Any = None) -> Any:
        out = real(net, A0, Y, opt, clip, run)
        seen.append(cr.optim.global_norm(net.parameters()))  # after clipping, before next step
        return out

    monkeypatch.setattr(lm_module, "train_step", recording)
    net = _scaled(_gpt(V=6, T=5))
    net.fit_lm(np.tile(np.arange(6), 30), steps=6, clip_grad_norm=0.1, verbose=False)
    assert len(seen) == 6 and max(seen) <= 0.1 * (1 + 1e-9)


def test_fit_lm_errors() -> None:
    ids = np.tile(np.arange(5), 10)
    net = _gpt(V=5, T=7)
    with pytest.raises(ValueError, match="language model"):
        cr.mlp([4, 3, 2], seed=0).fit_lm(ids, verbose=False)
    with pytest.raises(ValueError, match="language model"):
        cr.models.char_mlp(5, context=3, n_embd=2, n_hidden=4).fit_lm(ids, verbose=False)
    with pytest.raises(ValueError, match="train_ids has 7 tokens"):
        net.fit_lm(ids[:7], verbose=False)
    with pytest.raises(ValueError, match="val_ids has 3 tokens"):
        net.fit_lm(ids, ids[:3], verbose=False)
    with pytest.raises(ValueError, match="vocabulary has 5 tokens"):
        net.fit_lm(np.arange(20), verbose=False)
    with pytest.raises(TypeError, match="integer token ids"):
        net.fit_lm(ids + 0.5, verbose=False)
    for kw, error in [
        ({"steps": 0}, ValueError),
        ({"steps": -3}, ValueError),
        ({"steps": 2.5}, TypeError),
        ({"steps": True}, TypeError),
        ({"batch_size": 0}, ValueError),
        ({"eval_every": 0}, ValueError),
        ({"eval_batches": 0}, ValueError),
        ({"seed": -1}, ValueError),
    ]:
        with pytest.raises(error, match=next(iter(kw))):
            net.fit_lm(ids, verbose=False, **kw)
    assert not net.is_fitted  # nothing was trained by any refused call


def _gradients_are_of(net: cr.Sequential, batch: tuple[np.ndarray, np.ndarray]) -> bool:
    """The stored gradients equal a fresh forward_backward's on ``batch`` (A0, Y), now."""
    twin = net.copy()
    twin.train()
    twin.forward_backward(*batch)
    return all(
        np.allclose(G, H, rtol=1e-9, atol=1e-13)
        for (_, _, G, _), (_, _, H, _) in zip(net.parameters(), twin.parameters())
    )


def test_an_interrupt_mid_fit_lm_leaves_a_consistent_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KeyboardInterrupt at a random moment of a long fit_lm: finite parameters, and stored
    gradients equal to a fresh forward_backward's at the parameters as they are, on the last
    completed batch (recorded here around train_step), and fit_lm works again."""
    completed: list[tuple[np.ndarray, np.ndarray]] = []
    real = lm_module.train_step

    def recording(net: Any, A0: Any, Y: Any, opt: Any, clip: Any, run: Any = None) -> Any:
        out = real(net, A0, Y, opt, clip, run)
        completed.append((A0.copy(), Y.copy()))
        del completed[:-2]  # the interrupt may land before fit_lm records this batch as done
        return out

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lm_module, "train_step", recording)
    ids = np.random.default_rng(0).integers(0, 7, 300)
    for delay in (0.05, 0.12, 0.19):
        completed.clear()
        net = _scaled(_gpt(V=7, T=6), 5.0)
        old = signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, delay)
        try:
            with pytest.raises(KeyboardInterrupt):
                net.fit_lm(ids, steps=10**7, batch_size=4, lr=1e-2, eval_every=10**8, verbose=False)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert completed, "the interrupt came before the first step"
        for _, P, G, _ in net.parameters():
            assert np.all(np.isfinite(P)) and G is not None and np.all(np.isfinite(G))
        assert not net.training and net.is_fitted
        assert any(_gradients_are_of(net, b) for b in completed), delay
        X, Y = sample_windows(ids, 6, 4, np.random.default_rng(99))  # another batch: no match
        assert not _gradients_are_of(net, (X.T, one_hot_targets(Y, 7, F64)))
        hist = net.fit_lm(ids, steps=3, batch_size=4, verbose=False, eval_batches=1)
        assert np.all(np.isfinite(hist["train_loss"]))


# --- makemore's context windows and the char MLP --------------------------------------------------
def test_context_windows_for_emma_by_hand() -> None:
    """'.' = 0, 'a' = 1, 'e' = 2, 'm' = 3:  ... -> e, ..e -> m, .em -> m, emm -> a, mma -> ."""
    vocab = Vocabulary(".aem")
    X, y = context_windows(["emma"], vocab.encode, context=3)
    np.testing.assert_array_equal(X, [[0, 0, 0], [0, 0, 2], [0, 2, 3], [2, 3, 3], [3, 3, 1]])
    np.testing.assert_array_equal(y, [2, 3, 3, 1, 0])
    assert X.dtype == y.dtype == np.int64
    shown = [("".join(vocab.decode(r)), vocab.decode(y[i : i + 1])) for i, r in enumerate(X)]
    assert shown == [("...", "e"), ("..e", "m"), (".em", "m"), ("emm", "a"), ("mma", ".")]
    X2, y2 = context_windows(["emma", "ae"], vocab.encode, context=2)
    assert X2.shape == (8, 2) and y2.tolist() == [2, 3, 3, 1, 0, 1, 2, 0]
    np.testing.assert_array_equal(X2[5:], [[0, 0], [0, 1], [1, 2]])  # a fresh context per word
    Xe, ye = context_windows([], vocab.encode, context=3)
    assert Xe.shape == (0, 3) and ye.shape == (0,)
    with pytest.raises(ValueError):
        context_windows(["emma"], vocab.encode, context=0)


WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "ella", "anna", "lena"]


def test_char_mlp_on_context_windows_learns_with_fit() -> None:
    vocab = Vocabulary("." + "".join(WORDS))
    X, y = context_windows(WORDS, vocab.encode, context=3)
    net = cr.models.char_mlp(vocab.size, context=3, n_embd=4, n_hidden=32, seed=0)
    before = net.cost(X, y)
    assert abs(before - math.log(vocab.size)) < 1.5
    hist = net.fit(X, y, epochs=40, lr=0.01, optimizer="adam", batch_size=16, verbose=False, seed=0)
    assert hist["cost"][-1] < 0.6 * hist["cost"][0] and net.cost(X, y) < 0.6 * before
    pred = net.predict(X)
    assert pred.shape == (len(y),) and np.mean(pred == y) > 0.5


# --- generate -------------------------------------------------------------------------------------
def _greedy(
    net: cr.Sequential, prompt: np.ndarray, n: int, pad: int = 0
) -> tuple[np.ndarray, float]:
    """(prompt + n argmax tokens (m, t + n), the smallest top-1 / top-2 logit gap seen)."""
    T = net.input_shape[0]
    per_position = len(net.output_shape) == 2
    ids, gap = np.array(prompt, dtype=np.int64), np.inf
    for _ in range(n):
        ctx = ids[:, -T:]
        if not per_position and ctx.shape[1] < T:
            ctx = np.concatenate([np.full((ctx.shape[0], T - ctx.shape[1]), pad), ctx], axis=1)
        z = next_token_logits(net, ctx)  # (V, m)
        top2 = np.sort(z, axis=0)[-2:]
        gap = min(gap, float(np.min(top2[1] - top2[0])))
        ids = np.concatenate([ids, np.argmax(z, axis=0)[:, None]], axis=1)
    return ids, gap


def test_generate_shapes_and_determinism() -> None:
    net = _gpt()
    one = net.generate([1, 2, 3], 9, seed=0)
    assert one.shape == (12,) and one.dtype == np.int64 and one[:3].tolist() == [1, 2, 3]
    assert one.min() >= 0 and one.max() < 11
    many = net.generate(np.array([[1, 2, 3], [4, 5, 6]]), 9, seed=0)
    assert many.shape == (2, 12)
    np.testing.assert_array_equal(many[:, :3], [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(net.generate([1, 2, 3], 9, seed=0), one)
    assert not np.array_equal(
        net.generate([1, 2, 3], 20, seed=1), net.generate([1, 2, 3], 20, seed=2)
    )
    assert net.generate([[4, 5]], 3, seed=0).shape == (1, 5)  # (1, t) is a batch of one
    np.testing.assert_array_equal(net.generate([1, 2], 0), [1, 2])
    long = net.generate(np.arange(10), 4, seed=0)  # longer than block_size: the last 7 tokens
    assert long.shape == (14,)
    rnn = cr.models.gru_lm(11, n_embd=4, n_hidden=6, block_size=5)
    assert rnn.generate([3], 8, seed=0).shape == (9,)


def test_generate_low_temperature_and_top_k_1_are_greedy() -> None:
    net = _scaled(_gpt(seed=7))
    prompt = np.array([[1, 2], [7, 0], [10, 10]])
    greedy, gap = _greedy(net, prompt, 8)
    assert gap > 0.02  # no near tie: at temperature 1e-3 the runner-up has p < exp(-20)
    for seed in range(3):
        np.testing.assert_array_equal(generate(net, prompt, 8, temperature=1e-3, seed=seed), greedy)
        np.testing.assert_array_equal(generate(net, prompt, 8, top_k=1, seed=seed), greedy)
        np.testing.assert_array_equal(
            generate(net, prompt, 8, top_k=1, temperature=50.0, seed=seed), greedy
        )
    assert not np.array_equal(generate(net, prompt, 8, temperature=50.0, seed=0), greedy)


def test_generate_top_k_samples_only_among_the_k_most_likely() -> None:
    net = _gpt(seed=3)
    out = net.generate([5], 30, top_k=2, temperature=5.0, seed=1)
    for i in range(1, out.size):
        z = next_token_logits(net, out[None, max(0, i - 7) : i])[:, 0]
        assert out[i] in np.argsort(z)[-2:], i
    assert len(set(out[1:].tolist())) > 2  # several tokens overall, two per step


def test_generate_stop_token_stops_early() -> None:
    net = _scaled(_gpt(seed=2))
    prompt = np.array([[1, 2], [7, 0]])
    greedy, _ = _greedy(net, prompt, 8)
    stop = int(greedy[0, 2])  # row 0's first new token
    one = generate(net, prompt[0], 8, top_k=1, stop_token=stop)
    np.testing.assert_array_equal(one, greedy[0, :3])  # stopped at once, prompt + 1 token
    both = generate(net, prompt, 8, top_k=1, stop_token=stop)
    row1 = greedy[1, 2:]
    first = int(np.argmax(row1 == stop)) if np.any(row1 == stop) else None
    n_new = 8 if first is None else first + 1
    assert both.shape == (2, 2 + n_new)
    assert np.all(both[0, 2:] == stop)  # a row that stopped repeats the stop token
    np.testing.assert_array_equal(both[1], greedy[1, : 2 + n_new])


def test_generate_char_mlp_pads_its_context_on_the_left() -> None:
    net = cr.models.char_mlp(6, context=3, n_embd=3, n_hidden=16, seed=4, dtype=F64)
    runs = {}
    for pad in (0, 5):
        greedy, gap = _greedy(net, np.array([[2]]), 5, pad=pad)
        assert gap > 1e-3
        runs[pad] = generate(net, [2], 5, top_k=1, pad_token=pad)
        np.testing.assert_array_equal(runs[pad], greedy[0])
    assert not np.array_equal(runs[0], runs[5])  # the pad token does reach the model
    first = {
        pad: int(np.argmax(next_token_logits(net, np.array([[pad, pad, 2]])))) for pad in (0, 5)
    }
    assert generate(net, [2], 1, top_k=1, pad_token=0)[1] == first[0]
    assert generate(net, [2], 1, top_k=1, pad_token=5)[1] == first[5]
    assert not np.allclose(
        next_token_logits(net, np.array([[0, 0, 2]])), next_token_logits(net, np.array([[5, 5, 2]]))
    )
    assert net.generate([1, 2, 3, 4], 2, seed=0).shape == (6,)  # longer: the last 3 tokens


def test_generate_from_an_empty_prompt() -> None:
    net = _gpt(seed=1)
    out = generate(net, [], 6, seed=3)
    assert out.shape == (6,) and out.dtype == np.int64
    np.testing.assert_array_equal(out, generate(net, [0], 6, seed=3)[1:])  # a pad start, dropped
    np.testing.assert_array_equal(generate(net, np.array([], dtype=int), 6, seed=3), out)
    np.testing.assert_array_equal(
        generate(net, [], 6, seed=3, pad_token=4), generate(net, [4], 6, seed=3)[1:]
    )
    mlp = cr.models.char_mlp(6, context=3, n_embd=3, n_hidden=8, seed=0)
    assert generate(mlp, [], 4, seed=0, pad_token=0).shape == (4,)


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"max_new_tokens": -1}, ValueError, "max_new_tokens"),
        ({"max_new_tokens": 1.5}, TypeError, "max_new_tokens"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"temperature": -1.0}, ValueError, "temperature"),
        ({"temperature": float("nan")}, ValueError, "temperature"),
        ({"temperature": "hot"}, TypeError, "temperature"),
        ({"top_k": 0}, ValueError, "top_k"),
        ({"top_k": 2.0}, TypeError, "top_k"),
        ({"prompt_ids": [3, 11]}, ValueError, "prompt_ids holds token ids in 3..11"),
        ({"prompt_ids": [-1]}, ValueError, "prompt_ids"),
        ({"prompt_ids": [0.5]}, TypeError, "prompt_ids must hold integer token ids"),
        ({"prompt_ids": "abc"}, TypeError, "prompt_ids"),
    ],
)
def test_generate_bad_arguments(kw: dict[str, Any], error: type, match: str) -> None:
    args = {"prompt_ids": [1, 2], "max_new_tokens": 3, **kw}
    with pytest.raises(error, match=match):
        generate(_gpt(), **args)


def test_generate_needs_a_language_model() -> None:
    with pytest.raises(ValueError, match="language model"):
        generate(cr.mlp([4, 3], seed=0), [1, 2], 3)


# --- whole-number floats are range-checked before the cast (1e20 would wrap around) -------------
def test_prepare_X_refuses_huge_whole_number_floats_with_a_value_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="vocabulary has 11 tokens") as info:
            _gpt().prepare_X(np.full((2, 7), 1e20))
    assert "-9223372036854775808" not in str(info.value)


def test_the_generate_method_forwards_pad_token() -> None:
    net = cr.models.char_mlp(6, context=3, n_embd=3, n_hidden=16, seed=4, dtype=F64)
    np.testing.assert_array_equal(
        net.generate([2], 3, top_k=1, pad_token=5), generate(net, [2], 3, top_k=1, pad_token=5)
    )
