"""Files a run writes and reads: atomic writes with their SHA-256, stale temporaries, and errors that name the file."""

import hashlib
import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from bannet.errors import DamagedFile, MissingFile

T = TypeVar("T")
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile, pickle.UnpicklingError)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> str:
    """Write `path` through write(buffer) all at once (temporary file, fsync, rename); returns its SHA-256."""
    buffer = io.BytesIO()
    write(buffer)
    data = buffer.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries that a killed atomic_write left in `folder`; returns them."""
    stale = sorted(Path(folder).glob(".*.tmp")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_file(path: Path, read: Callable[[Path], T], what: str, fix: str) -> T:
    """read(path), or a one-line MissingFile / DamagedFile naming the file, `what` it should be, and the `fix`."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"{path} is missing ({what}); {fix}")
    try:
        return read(path)
    except READ_ERRORS as error:  # what json, numpy and torch raise on truncated or altered bytes
        raise DamagedFile(f"{path} cannot be read as {what} ({type(error).__name__}: {error}); {fix}") from error
