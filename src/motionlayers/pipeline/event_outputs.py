"""What an event segmentation keeps as it goes: the log of finished windows (so that a stopped
run resumes) and the key that names a run's resumable state."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from motionlayers import __version__

LOG_NAME = ".windows.jsonl"
"""The finished windows' records in a (resumable) staging folder, one JSON line per window."""


def resume_key(source: str | Path, checkpoint: str | Path | None, settings: dict) -> str:
    """A name for a run's resumable state: the same recording (path, size, modification time),
    model file and settings give the same key, anything else another."""

    def stamp(path: str | Path) -> list:
        info = os.stat(path)
        return [str(Path(path).resolve()), info.st_size, info.st_mtime_ns]

    identity = {
        "source": stamp(source),
        "checkpoint": stamp(checkpoint) if checkpoint else None,
        "version": __version__,
        **settings,
    }
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


class WindowLog:
    """The windows a run has finished, kept in its staging folder so that a stopped run resumes.

    Each finished window is its mask (``masks/<index>.png``, written atomically) and then one
    line of ``.windows.jsonl`` (flushed and synced): a line implies its mask. A line cut short
    by a kill, and the writers' temporary files, are dropped when the log is opened again.
    """

    def __init__(self, stage: Path):
        self.masks = stage / "masks"
        self.masks.mkdir(exist_ok=True)
        for partial in self.masks.glob(".*"):
            partial.unlink()
        self.path = stage / LOG_NAME
        self.done: dict[int, dict[str, Any]] = {}
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                break
            if self.mask_path(record["index"]).is_file():
                self.done[int(record["index"])] = record
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.done.values()))
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - see __exit__

    def __enter__(self) -> WindowLog:
        return self

    def __exit__(self, *_: object) -> None:
        self._handle.close()

    def mask_path(self, index: int) -> Path:
        return self.masks / f"{index:05d}.png"

    def append(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.done[int(record["index"])] = record

    def ordered(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` records in window order."""
        return [self.done[index] for index in range(count)]
