"""Writers of the pipeline's outputs (inside the temporary output folder)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from motionlayers.errors import InputError
from motionlayers.io import DAVIS_PALETTE, write_image, write_mask
from motionlayers.io.atomic import atomic_path

LAYER_COLOURS_BGR = np.ascontiguousarray(np.roll(DAVIS_PALETTE, -1, axis=0)[:, ::-1])
"""``(256, 3)`` uint8 BGR colour of label ``l``: DAVIS palette entry ``l + 1`` (so that layer 0,
often the background, is coloured too)."""


def overlay(frame_bgr: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend ``(H, W, 3)`` BGR frame with the layer colours (DAVIS palette entry label + 1, so
    that layer 0 is coloured too); returns ``(H, W, 3)`` uint8 BGR."""
    colours = LAYER_COLOURS_BGR[labels.astype(np.uint8)]
    return cv2.addWeighted(frame_bgr, 1 - alpha, colours, alpha, 0.0)


class VideoSink:
    """An mp4 (mp4v) writer that fails with `InputError` instead of silently writing nothing."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        height, width = size
        self.path = path
        self.writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height)
        )
        if not self.writer.isOpened():
            raise InputError(path, "OpenCV cannot write an mp4v video here")

    def write(self, frame_bgr: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(frame_bgr))

    def close(self) -> None:
        self.writer.release()


def write_frame_outputs(
    root: Path, stem: str, labels: np.ndarray, foreground: np.ndarray, flow_rgb: np.ndarray
) -> None:
    """``root/masks/<stem>.png`` (indexed labels), ``root/foreground/<stem>.png`` (0/255) and
    ``root/flow/<stem>.png`` (colour wheel, RGB)."""
    write_mask(root / "masks" / f"{stem}.png", labels)
    write_image(root / "foreground" / f"{stem}.png", foreground)
    write_image(root / "flow" / f"{stem}.png", flow_rgb)


def write_motion_json(path: Path, record: dict[str, object]) -> None:
    """Write ``record`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


def full_frames(frames: Iterator[tuple[str, np.ndarray]] | None) -> Iterator[np.ndarray | None]:
    """The input frames at full size, or None forever when there are none (flow input)."""
    if frames is None:
        while True:
            yield None
    for _, frame in frames:
        yield frame
