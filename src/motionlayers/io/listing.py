"""Listing a folder's files of some kinds by stem, in natural order (``2`` before ``10``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from motionlayers.errors import InputError


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``frame2`` before ``frame10`` (digit runs compare as numbers).

    Each part is tagged (0 for numbers, 1 for text) so that keys always compare.
    """
    parts = [part for part in re.split(r"(\d+)", name) if part]
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in parts)


def list_by_stem(
    folder: str | Path, extensions: Sequence[str], what: str
) -> list[tuple[str, Path]]:
    """List the files of ``folder`` whose suffix is in ``extensions`` as ``(stem, path)``.

    Args:
        folder: the folder to list.
        extensions: lower-case suffixes with the dot (``".png"``); matched case-insensitively.
        what: how to name the files in errors (``"image frames"``, ``"mask images"``).

    Raises:
        InputError: the folder is missing, holds no such file, or two files share a stem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "folder does not exist" if not folder.exists() else "not a folder")
    paths = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions]
    if not paths:
        raise InputError(folder, f"holds no {what} ({', '.join(extensions)})")
    paths.sort(key=lambda p: natural_key(p.name))
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise InputError(path, f"has the same stem as {stems[path.stem].name}")
        stems[path.stem] = path
    return [(p.stem, p) for p in paths]
