"""Atomic writes: an output is either complete or absent, never half-written.

Files are written to a temporary sibling and renamed into place (``os.replace`` is atomic on one
filesystem). Folders of outputs are built in a temporary sibling folder and renamed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from motionlayers.errors import InputError


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not thread-safe, and
# outputs are written from worker threads. mkstemp/mkdtemp create 0600/0700 entries; the final
# files and folders get the permissions a plain open()/mkdir() would give them.
_UMASK = _process_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix so that writers that pick a format from the
    extension (OpenCV, NumPy) still work.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(path, f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(path, f"output folder {parent} is not writable")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; it replaces ``path`` when the block succeeds.

    On any error the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(path, f"cannot create output folder: {error.strerror}") from error
    if not os.access(parent, os.W_OK):
        raise InputError(path, f"output folder {parent} is not writable")
    if path.exists() and not path.is_dir():
        raise InputError(path, "exists and is not a folder")
    if path.exists() and not overwrite and any(path.iterdir()):
        raise InputError(path, "output folder exists and is not empty")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
