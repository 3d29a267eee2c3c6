"""Fashion-MNIST, read offline from the idx files of the Debian package dataset-fashion-mnist.

``apt-get install -y dataset-fashion-mnist`` installs train-images-idx3-ubyte.gz,
train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz under
/usr/share/datasets/fashion-mnist/. The idx format is parsed here: a big-endian header
(magic 0x00000803 for uint8 3-D images, 0x00000801 for uint8 1-D labels, then the sizes) and the
raw bytes; magic numbers, sizes and the byte count are all checked.

Images are (m, 1, 28, 28) float32 in [0, 1] (uint8 / 255) at the boundary; 60,000 train /
10,000 test; 10 classes (see ``CLASSES``).
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np

from chainrule.data.base import Dataset, register

__all__ = ["load_fashion_mnist", "read_idx", "CLASSES", "FASHION_DIR"]

INSTALL = "apt-get install -y dataset-fashion-mnist"
FASHION_DIR = Path(
    os.environ.get("CHAINRULE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
)
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
IMAGE_SHAPE = (1, 28, 28)


def read_idx(path: str | os.PathLike[str], expected_ndim: int) -> np.ndarray:
    """Parse one (optionally gzipped) idx file holding uint8 data of ``expected_ndim`` dims."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an idx file ({len(raw)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08 or ndim != expected_ndim:
        magic = int.from_bytes(raw[:4], "big")
        raise ValueError(
            f"{path}: bad idx magic number 0x{magic:08x}, expected "
            f"0x{0x0800 + expected_ndim:08x} (uint8, {expected_ndim}-D)"
        )
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise ValueError(
            f"{path}: idx header says shape {dims} ({size} bytes of data) but the file holds "
            f"{len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _file(name: str) -> Path:
    path = FASHION_DIR / name
    if not path.is_file():
        raise ImportError(
            f"the 'fashion-mnist' dataset needs {path} from the Debian package "
            f"dataset-fashion-mnist; install it with: {INSTALL}"
        )
    return path


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for prefix, m in (("train", 60_000), ("t10k", 10_000)):
        images = read_idx(_file(f"{prefix}-images-idx3-ubyte.gz"), 3)
        labels = read_idx(_file(f"{prefix}-labels-idx1-ubyte.gz"), 1)
        if images.shape != (m, 28, 28) or labels.shape != (m,):
            raise ValueError(
                f"fashion-mnist {prefix}: expected {m} images of 28x28 and {m} labels, got "
                f"{images.shape} and {labels.shape}"
            )
        if labels.max() > 9:
            raise ValueError(f"fashion-mnist {prefix}: label {labels.max()} is not in 0..9")
        X = (images.astype(np.float32) / np.float32(255.0)).reshape((m, *IMAGE_SHAPE))
        X.setflags(write=False)
        y = labels.astype(np.int64)
        y.setflags(write=False)
        out += [X, y]
    return out[0], out[1], out[2], out[3]


@register("fashion-mnist")
def load_fashion_mnist(seed: int = 0) -> Dataset:
    """Zalando's Fashion-MNIST: 60,000 train / 10,000 test 28x28 grey images, 10 classes."""
    Xtr, ytr, Xte, yte = _arrays()
    return Dataset(
        name="fashion-mnist",
        X_train=Xtr.copy(),
        y_train=ytr.copy(),
        X_test=Xte.copy(),
        y_test=yte.copy(),
        description="Fashion-MNIST (Zalando; Debian dataset-fashion-mnist): 60,000 train / "
        "10,000 test; X is (m, 1, 28, 28) float32 in [0, 1] (uint8/255); 10 classes: "
        + ", ".join(CLASSES),
        task="multiclass",
        n_classes=10,
        feature_names=[],
        image_shape=IMAGE_SHAPE,
    )
