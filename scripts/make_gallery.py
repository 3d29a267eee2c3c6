"""Generate the README gallery: docs/gallery/*.png, small (palette PNGs of a few tens of KB).

    python scripts/make_gallery.py            # or --out FOLDER

Everything is trained here, offline, in well under a minute; the images are deterministic up to
BLAS rounding. A picture whose pixels did not change is not rewritten (and the PNGs carry no
date or version metadata), so a rerun leaves the git tree clean.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import plots

OUT = Path(__file__).resolve().parent.parent / "docs" / "gallery"
DPI = 72


def same_pixels(path: Path, image) -> bool:  # noqa: ANN001
    """True when ``path`` is an image with exactly ``image``'s size and RGB pixels."""
    from PIL import Image

    if not path.is_file():
        return False
    try:
        with Image.open(path) as old:
            return (
                old.size == image.size
                and old.convert("RGB").tobytes() == image.convert("RGB").tobytes()
            )
    except OSError:  # not an image (any more): rewrite it
        return False


def save(fig, name: str, out: Path | None = None) -> Path:  # noqa: ANN001
    """Write ``fig`` as an optimized 128-colour palette PNG (a fraction of matplotlib's size),
    unless the file already holds the same pixels."""
    from PIL import Image

    out = OUT if out is None else out
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    path = out / name
    if same_pixels(path, image):
        print(f"{path}: unchanged")
        return path
    image.save(path, optimize=True)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Draw the README's gallery.")
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default: {OUT})")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)

    # 1. learning curves and 2. decision boundary: spirals, 2 ReLU layers, Adam
    spirals = cr.datasets.load("spirals")
    net = cr.mlp([2, 64, 64, 3], activation="relu", output="softmax", seed=0)
    history = net.fit(
        spirals.X_train,
        spirals.y_train,
        epochs=150,
        lr=0.01,
        optimizer="adam",
        standardize=True,
        verbose=False,
        validation_data=(spirals.X_test, spirals.y_test),
    )
    save(plots.plot_history(history), "curves.png", out)
    save(
        plots.plot_decision_boundary(
            net, spirals.X_train, spirals.y_train, resolution=150, title="spirals: 3 classes"
        ),
        "boundary_spirals.png",
        out,
    )

    moons = cr.datasets.load("moons")
    net = cr.mlp([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
    net.fit(moons.X_train, moons.y_train, epochs=100, lr=0.1, standardize=True, verbose=False)
    save(
        plots.plot_decision_boundary(
            net, moons.X_train, moons.y_train, resolution=150, title="moons: P(y = 1)"
        ),
        "boundary_moons.png",
        out,
    )

    # 3. vanishing gradients: 8 hidden sigmoid layers vs 8 ReLU layers
    deep = {}
    for act in ("sigmoid", "relu"):
        net = cr.mlp([2] + [32] * 8 + [1], activation=act, output="sigmoid", seed=0)
        deep[act] = net.fit(
            moons.X_train,
            moons.y_train,
            epochs=30,
            lr=0.05,
            standardize=True,
            verbose=False,
            diagnostics=True,
        )
    save(plots.plot_gradient_norms(deep), "gradient_norms.png", out)

    # 4. confusion matrix and 5. misclassified digits (8x8 images): the README's digits run,
    # `chainrule train --data digits --layers 64,64,10 --optimizer adam --lr 0.003
    # --weight-decay 0.001 --epochs 30` (the CLI's defaults: ReLU, batch 32, standardized, seed
    # 0; tests/test_training_core.py's recipe), so the picture shows the README's figure
    digits = cr.datasets.load("digits")
    net = cr.mlp([64, 64, 10], activation="relu", output="softmax", seed=0)
    net.fit(
        digits.X_train,
        digits.y_train,
        epochs=30,
        lr=0.003,
        batch_size=32,
        optimizer="adam",
        weight_decay=1e-3,
        standardize=True,
        verbose=False,
        seed=0,
    )
    pred = net.predict(digits.X_test)
    accuracy = float(np.mean(pred == digits.y_test))
    title = f"digits, MLP 64-64-10, Adam (decay 1e-3), 30 epochs: test accuracy {accuracy:.1%}"
    save(plots.plot_confusion_matrix(digits.y_test, pred, title=title), "confusion_digits.png", out)
    save(
        plots.plot_misclassified(
            digits.X_test, digits.y_test, pred, image_shape=(8, 8), max_images=18
        ),
        "misclassified_digits.png",
        out,
    )
    print(f"digits test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
