"""One file written atomically: to a temporary sibling, then renamed into place (``os.replace``
is atomic on one filesystem), so that a reader sees the whole file or none of it."""

from __future__ import annotations

import contextlib
import os
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
UMASK = _process_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The temporary name (``.<stem>.<random><suffix>``) keeps ``path``'s suffix so that writers
    that pick a format from the extension (OpenCV, NumPy) still work.
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
    os.chmod(tmp, 0o666 & ~UMASK)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


__all__ = ["UMASK", "atomic_path"]
