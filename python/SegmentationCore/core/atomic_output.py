"""Atomic, non-clobbering output files.

A result file appears under its final name only once it is complete: it is
written to a hidden temporary name in the same folder, flushed to disk, then
renamed over the final name with :func:`os.replace` (atomic on POSIX and
Windows within one file system). A crash leaves at most a stray ``.tmp``
file, never a half-written frame that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Iterator

from . import errors


def check_writable(path: str | os.PathLike, overwrite: bool) -> str:
    """Return ``path`` as a string; refuse an existing file unless asked."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise errors.OutputError(f"{path} is a folder; give a file name to write the frame to")
    if os.path.lexists(path) and not overwrite:
        raise errors.OutputError(
            f"{path} already exists; refusing to overwrite it (pass overwrite=True / --overwrite to replace it)"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise errors.OutputError(f"cannot write {path}: folder {folder} does not exist")
    return path


def _fsync(path: str) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; on success it is synced
    and renamed to ``path``, on error it is removed."""
    path = check_writable(path, overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    # os.open with 0o666 honours the umask (mkstemp would make it 0600)
    temporary = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise errors.OutputError(f"cannot write {path}: {error}") from error
    try:
        yield temporary
        _fsync(temporary)
        if not overwrite and os.path.lexists(path):
            raise errors.OutputError(f"{path} appeared while it was being written; refusing to overwrite it")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> None:
    """Atomically write ``data`` to ``path`` (see module docstring)."""
    with atomic_path(path, overwrite) as temporary:
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise errors.OutputError(f"cannot write {os.fspath(path)}: {error}") from error
