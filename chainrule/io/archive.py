"""The model archive: one .npz holding a JSON header and named arrays, never pickled.

Layout of the archive:

* ``__chainrule__``: a 0-d unicode array with the JSON header: format version, the layer tree
  (``{"type": "Dense", "config": {...}}``, composites with ``"children": [...]``), cost, input
  shape, dtype and any extra metadata.
* ``layers/<path>/<name>``: parameter or buffer ``name`` of the layer at that path of the tree
  (``layers/0/W``; ``layers/1/block/0/W`` inside a residual block), see :mod:`chainrule.io.tree`.
* ``standardizer/mean``, ``standardizer/scale``: the input scaling, when the model has one.
* anything else under ``extra/``: checkpoint state (optimizer moments, ...).

Writing is atomic: the archive goes to a temporary file in the same folder, which is renamed
over the target, so a crash mid-save leaves the previous file intact. Reading uses
``allow_pickle=False`` and checks the archive's structure before NumPy reads any entry.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_archive", "read_archive", "FORMAT", "VERSION", "HEADER_KEY"]

FORMAT = "chainrule-model"
VERSION = 1
HEADER_KEY = "__chainrule__"


def write_archive(
    path: str | os.PathLike[str], header: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Write ``header`` (JSON, no NaN) and ``arrays`` to ``path`` (.npz), atomically."""
    path = Path(path)
    arrays = {HEADER_KEY: np.array(json.dumps(header, allow_nan=False)), **arrays}
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot save to {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        _set_mode(fd, path)  # mkstemp makes 0600 files; a model file gets an ordinary file's mode
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (/proc), else set back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _set_mode(fd: int, path: Path) -> None:
    """Give the temporary file the mode the target keeps (when it exists) or the mode any new
    file of the user gets (0666 minus the umask), as an ordinary open() would."""
    if not hasattr(os, "fchmod"):  # Windows: no POSIX modes
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    os.fchmod(fd, mode)


#: np.savez stores arrays uncompressed, so an archive declaring far more bytes than it holds is a
#: zip bomb or a corrupt directory, not a model: reject it before decompressing anything
MAX_EXPANSION = 64
EXPANSION_SLACK = 1 << 20


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ValueError(f"model file {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} is not a file")
    try:
        return path.read_bytes()  # read once: np.load never holds (or leaks) a file handle
    except OSError as exc:
        raise ValueError(f"cannot read model file {str(path)!r}: {exc.strerror}") from None


def _check_zip(data: bytes, path: Path) -> None:
    """Structural checks on the archive's directory before numpy reads any entry."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > MAX_EXPANSION * len(data) + EXPANSION_SLACK:
            raise ValueError(
                f"{path}: the archive declares {declared} bytes of arrays in a "
                f"{len(data)}-byte file; it is corrupt or a zip bomb"
            )
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(
                    f"{path}: unexpected entry {info.filename!r} (a chainrule .npz holds .npy "
                    "arrays only)"
                )


def read_archive(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) from a model file, or ValueError saying what is wrong with it."""
    path = Path(path)
    data = _read_bytes(path)
    if data.startswith(b"\x93NUMPY"):
        raise ValueError(f"{path} is a single .npy array, not a chainrule .npz model")
    if not data.startswith(b"PK"):
        raise ValueError(
            f"{path} is not a chainrule model file: expected an .npz (zip) archive, "
            f"got a file starting with {data[:8]!r}"
        )
    try:
        _check_zip(data, path)
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError(f"{path} is not a chainrule .npz model")
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc).lower():
            raise ValueError(
                f"{path} holds pickled/object arrays; chainrule never unpickles model files"
            ) from None
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a valid chainrule model file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a valid chainrule model file (.npz): {type(exc).__name__}: {exc}"
        ) from None
    except Exception as exc:  # zlib.error, struct.error, MemoryError, ... from a corrupt archive
        raise ValueError(
            f"{path} is not a valid chainrule model file (corrupt archive: {type(exc).__name__})"
        ) from None
    if HEADER_KEY not in arrays:
        raise ValueError(
            f"{path} is an .npz file but not a chainrule model (no {HEADER_KEY} entry)"
        )
    raw = arrays.pop(HEADER_KEY)
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ValueError(f"{path}: the model header must be a JSON string, got {raw.dtype}")
    try:
        header = json.loads(str(raw))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a 5000-digit int, [[[[...
        raise ValueError(f"{path}: the model header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a chainrule model (format field is missing or wrong)")
    if header.get("version") != VERSION:
        raise ValueError(
            f"{path}: model format version {header.get('version')!r} is not supported "
            f"(this chainrule reads version {VERSION})"
        )
    return header, arrays
