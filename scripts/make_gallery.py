"""Generate the README gallery: docs/gallery/*.png, small (palette PNGs of a few tens of KB).

    python scripts/make_gallery.py

Everything is trained here, offline, in well under a minute; the images are deterministic up to
BLAS rounding.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import plots

OUT = Path(__file__).resolve().parent.parent / "docs" / "gallery"
DPI = 72


def save(fig, name: str) -> Path:  # noqa: ANN001
    """Write ``fig`` as an optimized 128-colour palette PNG (a fraction of matplotlib's size)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    path = OUT / name
    image.save(path, optimize=True)
    print(f"{path.relative_to(OUT.parent.parent)}: {path.stat().st_size / 1024:.0f} KB")
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)

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
    save(plots.plot_history(history), "curves.png")
    save(
        plots.plot_decision_boundary(
            net, spirals.X_train, spirals.y_train, resolution=150, title="spirals: 3 classes"
        ),
        "boundary_spirals.png",
    )

    moons = cr.datasets.load("moons")
    net = cr.mlp([2, 16, 16, 1], activation="tanh", output="sigmoid", seed=0)
    net.fit(moons.X_train, moons.y_train, epochs=100, lr=0.1, standardize=True, verbose=False)
    save(
        plots.plot_decision_boundary(
            net, moons.X_train, moons.y_train, resolution=150, title="moons: P(y = 1)"
        ),
        "boundary_moons.png",
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
    save(plots.plot_gradient_norms(deep), "gradient_norms.png")

    # 4. confusion matrix and 5. misclassified digits (8x8 images)
    digits = cr.datasets.load("digits")
    net = cr.mlp([64, 32, 10], activation="relu", output="softmax", seed=0)
    net.fit(digits.X_train, digits.y_train, epochs=10, lr=0.05, verbose=False)
    pred = net.predict(digits.X_test)
    save(plots.plot_confusion_matrix(digits.y_test, pred), "confusion_digits.png")
    save(
        plots.plot_misclassified(
            digits.X_test, digits.y_test, pred, image_shape=(8, 8), max_images=18
        ),
        "misclassified_digits.png",
    )
    print(f"digits test accuracy: {np.mean(pred == digits.y_test):.3f}")


if __name__ == "__main__":
    main()
