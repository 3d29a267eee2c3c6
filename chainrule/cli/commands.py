"""The train, predict and gradcheck subcommands."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.cli.lm_cmd import add_lm_args, is_text_request, train_lm

__all__ = [
    "cmd_train",
    "cmd_predict",
    "cmd_gradcheck",
    "add_train_args",
    "add_predict_args",
    "add_gradcheck_args",
    "parse_layers",
    "load_data",
]


#: more parameters than this cannot be initialised on an ordinary machine: refuse up front
MAX_PARAMS = 2**28


def parse_layers(text: str) -> list[int]:
    """ "2,3,3,1" -> [2, 3, 3, 1], with a clear error for anything else."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--layers must be comma-separated ints like 2,3,3,1, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise ValueError(f"--layers needs at least an input and an output size, got {text!r}")
    n_params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    if n_params > MAX_PARAMS:
        raise ValueError(
            f"--layers {text} means {n_params:,} parameters ({n_params * 8 / 2**30:,.0f} GiB in "
            f"float64); expected at most {MAX_PARAMS:,}"
        )
    return sizes


def load_data(args: argparse.Namespace) -> cr.datasets.Dataset:
    """A named dataset, or a CSV file (``--data file.csv --target column``)."""
    if args.data.lower().endswith(".csv"):
        from chainrule.data.csv import load_csv

        return load_csv(args.data, getattr(args, "target", None))
    return cr.datasets.load(args.data, seed=getattr(args, "seed", 0) or 0)


def _accuracy(net: cr.Sequential, X: np.ndarray, y: np.ndarray) -> float:
    return float(net.score(X, y))


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="moons", help="dataset name or a .csv file (default: moons)")
    p.add_argument("--target", help="target column of a CSV file")
    p.add_argument("--layers", help="layer sizes n[0],...,n[L]; default: n[0],16,16,K")
    p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    p.add_argument("--output", help="output activation (default: sigmoid/softmax/identity by task)")
    p.add_argument("--init", help="he, xavier or normal (default: suits the activation)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", default="sgd", help="sgd, momentum, rmsprop, adam or adamw")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument(
        "--clip-grad-norm", type=float, help="rescale each step's gradients to this norm"
    )
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "reference", "fast"),
        help="reference: every layer's own backward; fast: the compiled MLP plan (same numbers); "
        "auto (default): fast where it applies",
    )
    p.add_argument("--no-standardize", action="store_true", help="feed the raw inputs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", help="write the trained model to this .npz file")
    p.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    p.add_argument(
        "--plot",
        help="write cost/accuracy curves (train and test split), plus the decision boundary "
        "for 2-D data, to this PNG (needs matplotlib)",
    )
    p.add_argument("--checkpoint", help="save a resumable checkpoint (.npz) during training")
    p.add_argument(
        "--checkpoint-every", type=int, default=1, help="epochs between checkpoints (default 1)"
    )
    p.add_argument(
        "--resume",
        help="continue from this checkpoint: rerun the same command with --resume FILE; "
        "--epochs is the total",
    )
    add_lm_args(p)


def _default_output(data: cr.datasets.Dataset) -> str:
    return {"binary": "sigmoid", "multiclass": "softmax"}.get(data.task, "identity")


def _default_layers(data: cr.datasets.Dataset) -> list[int]:
    n_out = 1 if data.task in ("binary", "regression") else data.n_classes
    return [data.n_features, 16, 16, n_out]


def cmd_train(args: argparse.Namespace) -> int:
    if args.plot:
        from chainrule.plots import check_plot_path

        check_plot_path(args.plot)  # before training, not after
    if args.seed < 0:
        raise ValueError(f"--seed must be an int >= 0, got {args.seed}")
    if is_text_request(args):
        return train_lm(args)
    data = load_data(args)
    sizes = parse_layers(args.layers) if args.layers else _default_layers(data)
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
    net.fit(
        X_train,
        data.y_train,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        clip_grad_norm=args.clip_grad_norm,
        engine=args.engine,
        standardize=not args.no_standardize,
        verbose=not args.quiet,
        seed=args.seed,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        **({"validation_data": (X_test, data.y_test)} if args.plot else {}),
    )
    _report(net, data, X_train, X_test)
    if args.plot:
        from chainrule.plots import plot_training

        plot_training(net.history, args.plot, net, X_test, data.y_test)
        print(f"saved plot to {args.plot}")
    if args.save:
        net.save(args.save)
        print(f"saved model to {args.save}")
    return 0


def _report(net: cr.Sequential, data: cr.datasets.Dataset, X_train: Any, X_test: Any) -> None:
    what = "R^2" if net.loss.name == "mse" else "accuracy"
    train = _accuracy(net, X_train, data.y_train)
    test = _accuracy(net, X_test, data.y_test)
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
    p.add_argument("--model", required=True, help="a .npz file written by train --save")
    p.add_argument("--data", default="toy", help="dataset name or .csv file")
    p.add_argument("--target", help="target column of a CSV file")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--limit", type=int, default=20, help="print at most this many predictions")


def cmd_predict(args: argparse.Namespace) -> int:
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
    p.add_argument("--layers", default="4,5,3", help="layer sizes (default 4,5,3)")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--output", default="softmax")
    p.add_argument("--examples", type=int, default=8, help="batch size m of the random batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-entries", type=int, default=200, help="entries checked per parameter")


def cmd_gradcheck(args: argparse.Namespace) -> int:
    sizes = parse_layers(args.layers)
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
