"""Atomic writes: complete or absent, and with the permissions of a plain write."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_directory, atomic_path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_path_writes_on_success_only_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert target.read_text() == "done" and _mode(target) == _mode(plain)
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "plain.txt"]
    with pytest.raises(InputError, match="does not exist"):
        with atomic_path(tmp_path / "missing" / "c.txt"):
            pass


def test_atomic_directory_replaces_the_old_folder_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_directory(out) as tmp:
        (tmp / "x").write_text("1")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (out / "x").read_text() == "1" and _mode(out) == _mode(plain)
    with pytest.raises(RuntimeError), atomic_directory(out) as tmp:
        (tmp / "y").write_text("2")
        raise RuntimeError("segmentation failed")
    assert os.listdir(out) == ["x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "plain"]
