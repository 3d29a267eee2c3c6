"""The train, predict and gradcheck subcommands (their flags are checked in ``flags``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.cli.flags import check_train_args, flag_advice, parse_layers, resumed_epoch
from chainrule.cli.lm_cmd import add_lm_args, is_text_request, train_lm
from chainrule.train.callbacks import Callback
from chainrule.train.progress import EpochReporter

__all__ = [
    "cmd_train",
    "cmd_predict",
    "cmd_gradcheck",
    "add_train_args",
    "add_predict_args",
    "add_gradcheck_args",
    "parse_layers",
    "load_data",
    "epoch_line",
    "EpochLines",
]


def load_data(args: argparse.Namespace) -> cr.datasets.Dataset:
    """A named dataset, or a CSV file (``--data file.csv --target column``)."""
    if args.data.lower().endswith(".csv"):
        from chainrule.data.csv import load_csv

        return load_csv(args.data, getattr(args, "target", None))
    if getattr(args, "target", None) is not None:
        raise ValueError(
            f"--target names the label column of a .csv file, but --data {args.data!r} is a "
            "built-in dataset with its own labels; drop --target"
        )
    return cr.datasets.load(args.data, seed=getattr(args, "seed", 0) or 0)


# --- options ----------------------------------------------------------------------------------
def add_train_args(p: argparse.ArgumentParser) -> None:
    names = ", ".join(cr.datasets.names())
    p.add_argument(
        "--data",
        default="moons",
        help=f"a dataset ({names}), a .csv file (with --target) or a .txt file (default: moons)",
    )
    p.add_argument(
        "--target",
        help="the label column of a --data .csv file (required for a "
        "CSV, refused otherwise; default: none)",
    )
    p.add_argument(
        "--layers",
        help="layer sizes n[0],...,n[L], e.g. 2,3,3,1 (default: n[0],16,16,n[L] from the data)",
    )
    p.add_argument(
        "--activation",
        default="relu",
        help="hidden activation: relu, tanh, sigmoid, leaky_relu, identity (default: relu)",
    )
    p.add_argument(
        "--output",
        help="output activation, which picks the cost: sigmoid (BCE), "
        "softmax (CE), identity or tanh (MSE) (default: sigmoid for two classes, "
        "softmax for more, identity for regression)",
    )
    p.add_argument(
        "--init",
        help="weight init: he, xavier, normal or torch (default: he for "
        "ReLU layers, xavier for the others)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=100,
        help="passes over the training set; with --resume, the total (default: 100)",
    )
    p.add_argument("--lr", type=float, help="learning rate (default: 0.1; language models: 1e-3)")
    p.add_argument(
        "--batch-size", type=int, default=32, help="examples per gradient step (default: 32)"
    )
    p.add_argument(
        "--optimizer",
        default="sgd",
        help="sgd, momentum, rmsprop, adam or adamw "
        "(default: sgd; language models always use adamw)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="L2 weight decay (default: 0, none; language models: 0.1)",
    )
    p.add_argument(
        "--clip-grad-norm",
        type=float,
        help="rescale each step's gradients to at "
        "most this global norm (default: no clipping; language models: 1.0)",
    )
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "reference", "fast"),
        help="reference: every layer's own backward; fast: the compiled MLP plan (same numbers); "
        "auto: fast where it applies (default: auto)",
    )
    p.add_argument(
        "--no-standardize",
        action="store_true",
        help="feed the raw inputs (default: "
        "standardize each feature by the training set's mean and std)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights and the shuffling (default: 0)",
    )
    p.add_argument("--save", help="write the trained model to this .npz file (default: not saved)")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="print only the final accuracy "
        "(default: also the network, a line per epoch and predictions)",
    )
    p.add_argument(
        "--plot",
        help="write cost/accuracy curves (train and test split), plus the "
        "decision boundary for 2-D data, to this image file: .png, .pdf, .svg, ... "
        "(needs matplotlib; default: no plot)",
    )
    p.add_argument(
        "--checkpoint",
        help="save a resumable checkpoint (.npz) during training "
        "(default: none; with --resume, the file resumed from)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="epochs between checkpoints (default: 1; language models: every --eval-every steps)",
    )
    p.add_argument(
        "--resume",
        help="continue the run in this checkpoint: rerun the same command "
        "with --resume FILE; --epochs is the total (default: start afresh)",
    )
    add_lm_args(p)


def _default_output(data: cr.datasets.Dataset) -> str:
    return {"binary": "sigmoid", "multiclass": "softmax"}.get(data.task, "identity")


def _default_layers(data: cr.datasets.Dataset) -> list[int]:
    n_out = 1 if data.task in ("binary", "regression") else data.n_classes
    return [data.n_features, 16, 16, n_out]


def epoch_line(epoch: int, epochs: int, logs: dict[str, Any], held_out: str = "test") -> str:
    """One epoch of ``chainrule train``: the cost and the RUNNING accuracy over the epoch's
    batches (the weights changed as it went), then the held-out split measured after it."""
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}"]
    for key, label in (
        ("cost", "cost"),
        ("accuracy", "running accuracy"),
        ("val_cost", f"{held_out} cost"),
        ("val_accuracy", f"{held_out} accuracy"),
    ):
        if logs.get(key) is not None:
            parts.append(f"{label} {logs[key]:.4f}")
    return "  ".join(parts)


class EpochLines(Callback):
    """The CLI's progress lines (or tqdm bar): :class:`EpochReporter` with :func:`epoch_line`."""

    def __init__(self, epochs: int, held_out: str = "test") -> None:
        self.reporter, self.held_out = EpochReporter(epochs), held_out

    def on_epoch_end(self, net: Any, epoch: int, logs: dict[str, Any]) -> None:
        r = self.reporter
        line = epoch_line(epoch, r.epochs, logs, self.held_out)
        if r.bar is not None:
            r.bar.update(1)
            r.bar.set_postfix_str(f"cost {logs['cost']:.4f}", refresh=False)
        if epoch == 1 or epoch == r.epochs or epoch % r.every == 0:
            write: Callable[..., Any] = r.bar.write if r.bar is not None else print
            write(line, file=r.stream)

    def on_train_end(self, net: Any, logs: dict[str, Any]) -> None:
        self.reporter.close()


def cmd_train(args: argparse.Namespace) -> int:
    check_train_args(args)  # before loading data or training, not after
    if is_text_request(args):
        return train_lm(args)
    data = load_data(args)
    sizes = parse_layers(args.layers) if args.layers is not None else _default_layers(data)
    if data.image_shape is not None and len(data.X_train.shape) > 2:
        X_train = data.X_train.reshape(len(data.X_train), -1)
        X_test = data.X_test.reshape(len(data.X_test), -1)
    else:
        X_train, X_test = data.X_train, data.X_test
    if sizes[0] != X_train.shape[1]:
        raise ValueError(
            f"--layers starts with n[0] = {sizes[0]}, but dataset {data.name!r} has "
            f"{X_train.shape[1]} features"
        )
    with flag_advice():
        net = cr.mlp(
            sizes,
            activation=args.activation,
            output=args.output or _default_output(data),
            init=args.init,
            seed=args.seed,
        )
    if not args.quiet:
        print(f"data: {data.name}: {data.description}")
        print(net.summary())
    done = resumed_epoch(args.resume) if args.resume else 0
    note = ""
    if args.resume and done >= args.epochs:
        note = (
            f"note: {args.resume} already held {done} epochs (--epochs {args.epochs}), so "
            "nothing was trained; rerun with a larger --epochs to train on"
        )
    elif not args.quiet:
        print(
            "(cost and running accuracy: over each epoch's batches as the weights changed"
            + ("; test: after the epoch)" if args.plot else ")")
        )
    with flag_advice():
        net.fit(
            X_train,
            data.y_train,
            epochs=args.epochs,
            lr=args.lr if args.lr is not None else 0.1,
            batch_size=args.batch_size,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            clip_grad_norm=args.clip_grad_norm,
            engine=args.engine,
            standardize=not args.no_standardize,
            verbose=False,
            callbacks=[] if args.quiet else [EpochLines(args.epochs, "test")],
            seed=args.seed,
            checkpoint=args.checkpoint or args.resume,  # --resume alone keeps checkpointing there
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            **({"validation_data": (X_test, data.y_test)} if args.plot else {}),
        )
    _report(net, data, X_train, X_test)
    if args.plot:
        from chainrule.plots import plot_training

        plot_training(
            net.history,
            args.plot,
            net,
            X_test,
            data.y_test,
            held_out="test",
            feature_names=data.feature_names or None,
        )
        print(f"saved plot to {args.plot}")
    if args.save:
        net.save(args.save)
        print(f"saved model to {args.save}")
    if note:
        print(note)
    return 0


def _report(net: cr.Sequential, data: cr.datasets.Dataset, X_train: Any, X_test: Any) -> None:
    what = "R^2" if net.loss.name == "mse" else "accuracy"
    train = float(net.score(X_train, data.y_train))
    test = float(net.score(X_test, data.y_test))
    print(f"train {what}: {train:.4f}")
    print(f"test {what}:  {test:.4f}")
    if len(data.y_test) <= 20 and np.ndim(X_test) == 2:
        _show_predictions(net, data, np.asarray(X_test))


def _show_predictions(net: cr.Sequential, data: cr.datasets.Dataset, X: np.ndarray) -> None:
    """What the network learned, example by example (small datasets such as toy)."""
    names = data.feature_names or [f"x{j + 1}" for j in range(X.shape[1])]
    out = net.predict_proba(X)
    pred = net.predict(X)
    head = "".join(f"{n:>10}" for n in names) + f"{'output':>10}{'predicted':>11}{'true':>6}"
    print(head)
    for i in range(len(X)):
        cells = "".join(f"{v:>10.4g}" for v in X[i])
        print(f"{cells}{out[i, 0]:>10.4f}{pred[i]!s:>11}{data.y_test[i]!s:>6}")


def add_predict_args(p: argparse.ArgumentParser) -> None:
    names = ", ".join(cr.datasets.names())
    p.add_argument("--model", required=True, help="a .npz file written by train --save (required)")
    p.add_argument(
        "--data", default="toy", help=f"a dataset ({names}) or a .csv file (default: toy)"
    )
    p.add_argument("--target", help="the label column of a --data .csv file (default: none)")
    p.add_argument(
        "--split",
        choices=("train", "test"),
        default="test",
        help="which split to predict (default: test)",
    )
    p.add_argument(
        "--limit", type=int, default=20, help="print at most this many predictions (default: 20)"
    )


def cmd_predict(args: argparse.Namespace) -> int:
    for name in ("model", "data", "target"):
        if getattr(args, name) is not None and not getattr(args, name).strip():
            raise ValueError(f"--{name} needs a value, got an empty string")
    net = cr.load(args.model)
    data = load_data(args)
    if not hasattr(data, "X_test"):
        raise ValueError(
            f"predict takes examples with labels; {args.data!r} is a text: continue it with "
            "'chainrule generate --model FILE --prompt TEXT'"
        )
    X = data.X_test if args.split == "test" else data.X_train
    y = data.y_test if args.split == "test" else data.y_train
    X = X.reshape(len(X), -1) if X.ndim > 2 and len(net.input_shape) == 1 else X
    pred = net.predict(X)
    shown = min(len(pred), max(args.limit, 0))
    for i in range(shown):
        print(f"{i:>5}  predicted {pred[i]}  true {y[i]}")
    if shown < len(pred):
        print(f"... ({len(pred) - shown} more)")
    what = "R^2" if net.loss.name == "mse" else "accuracy"
    print(f"{args.split} {what}: {net.score(X, y):.4f} on {len(y)} examples")
    return 0


def add_gradcheck_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", default="4,5,3", help="layer sizes (default: 4,5,3)")
    p.add_argument("--activation", default="tanh", help="hidden activation (default: tanh)")
    p.add_argument("--output", default="softmax", help="output activation (default: softmax)")
    p.add_argument(
        "--examples", type=int, default=8, help="batch size m of the random batch (default: 8)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights and batch (default: 0)")
    p.add_argument(
        "--max-entries", type=int, default=200, help="entries checked per parameter (default: 200)"
    )


def cmd_gradcheck(args: argparse.Namespace) -> int:
    sizes = parse_layers(args.layers)
    with flag_advice():
        net = cr.mlp(sizes, activation=args.activation, output=args.output, seed=args.seed)
    if args.examples < 1:
        raise ValueError(f"--examples must be >= 1, got {args.examples}")
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.examples, sizes[0]))
    if net.loss.name == "ce":
        y = rng.integers(0, sizes[-1], size=args.examples)
    elif net.loss.name == "bce":
        y = rng.integers(0, 2, size=(args.examples, sizes[-1]))
        y = y[:, 0] if sizes[-1] == 1 else y
    else:
        y = rng.standard_normal((args.examples, sizes[-1]))
        y = y[:, 0] if sizes[-1] == 1 else y
    report = cr.gradcheck(net, X, y, max_entries=args.max_entries)
    print(f"gradient check of {net!r} on m={args.examples} random examples (float64)")
    print(report)
    return 0 if report.passed else 1
