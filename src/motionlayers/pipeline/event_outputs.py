"""What `segment_events` keeps as it goes and writes at the end: the log of finished windows
(so that a stopped run resumes), the key that names a run's resumable state, and the
``windows.csv`` and ``overlay.mp4`` made from the windows' masks."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from motionlayers import __version__
from motionlayers.io import read_mask
from motionlayers.io.atomic import atomic_path
from motionlayers.io.event_container import Events
from motionlayers.pipeline.outputs import LAYER_COLOURS_BGR, VideoSink


def event_frame(window: Events, labels: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR: black, and each pixel with events in its layer's colour (DAVIS
    palette entry label + 1), brighter with more events."""
    height, width = labels.shape
    counts = np.bincount(
        window.y.astype(np.int64) * width + window.x, minlength=height * width
    ).reshape(height, width)
    hit = counts > 0
    level = np.zeros((height, width), np.float32)
    if hit.any():
        level[hit] = np.clip(0.35 + 0.65 * counts[hit] / np.percentile(counts[hit], 95), 0, 1)
    colours = LAYER_COLOURS_BGR[labels.astype(np.uint8)].astype(np.float32)
    return (colours * level[..., None]).astype(np.uint8)


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


def write_event_outputs(
    root: Path,
    windows: Iterator[tuple[int, int, Events]],
    records: list[dict[str, Any]],
    fps: float,
    sensor_size: tuple[int, int],
) -> None:
    """``root/windows.csv`` and ``root/overlay.mp4`` from the windows' records and masks
    (``windows``: the recording's windows again, `event_windows`, for the overlay's events)."""
    width, height = sensor_size
    with atomic_path(root / "windows.csv") as tmp, open(tmp, "w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(["index", "t_start_us", "t_end_us", "events"])
        for record in records:
            writer.writerow([record[k] for k in ("index", "t_start_us", "t_end_us", "events")])
    video = VideoSink(root / "overlay.mp4", fps, (height, width))
    try:
        for record, (_, _, window) in zip(records, windows):
            labels = read_mask(root / "masks" / f"{record['index']:05d}.png")
            video.write(event_frame(window, labels))
    finally:
        video.close()
