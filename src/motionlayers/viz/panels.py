"""Side-by-side panels of images, colour-wheel flows and label maps, with captions.

Images are ``(H, W, 3)`` uint8 **RGB**; flows ``(2, H, W)`` or ``(H, W, 2)`` (u first, pixels);
labels ``(H, W)`` integers coloured with the DAVIS palette (0 black, 1 dark red, 2 green, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from motionlayers.errors import ShapeError
from motionlayers.flow import flow_to_color
from motionlayers.io import DAVIS_PALETTE


def color_labels(labels: np.ndarray) -> np.ndarray:
    """Label map ``(H, W)`` in ``[0, 255]`` -> ``(H, W, 3)`` uint8 RGB with the DAVIS palette."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ShapeError(f"labels: expected shape (H, W), got {labels.shape}")
    return DAVIS_PALETTE[np.clip(labels.astype(np.int64), 0, 255)]


def color_flow(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Flow ``(2, H, W)`` or ``(H, W, 2)`` -> colour-wheel ``(H, W, 3)`` uint8 RGB."""
    flow = np.asarray(flow)
    if flow.ndim == 3 and flow.shape[0] == 2 and flow.shape[2] != 2:
        flow = flow.transpose(1, 2, 0)
    return flow_to_color(flow, max_magnitude)


def overlay_labels(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the coloured non-zero labels over an RGB image: ``(H, W, 3)`` uint8."""
    colours = color_labels(labels).astype(np.float32)
    mixed = image.astype(np.float32)
    inside = np.asarray(labels) > 0
    mixed[inside] = (1 - alpha) * mixed[inside] + alpha * colours[inside]
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def side_by_side(
    images: Sequence[np.ndarray],
    captions: Sequence[str] | None = None,
    gap: int = 4,
    background: int = 255,
) -> np.ndarray:
    """Concatenate RGB images of one height horizontally, with optional captions above.

    Args:
        images: ``(H, W_i, 3)`` uint8 RGB (or ``(H, W_i)`` grey) images of the same ``H``.
        captions: one short text per image, written in black above it.
        gap: pixels between images.

    Returns:
        ``(H [+ caption band], sum W_i + gaps, 3)`` uint8 RGB.
    """
    if not images:
        raise ShapeError("side_by_side: no images")
    tiles = [np.repeat(i[:, :, None], 3, axis=2) if i.ndim == 2 else i for i in images]
    height = tiles[0].shape[0]
    if any(t.shape[0] != height or t.ndim != 3 or t.shape[2] != 3 for t in tiles):
        raise ShapeError(f"side_by_side: images differ in height: {[t.shape for t in tiles]}")
    spacer = np.full((height, gap, 3), background, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for tile in tiles:
        parts.extend([tile.astype(np.uint8), spacer])
    row = np.concatenate(parts[:-1], axis=1)
    if not captions:
        return row
    band = np.full((18, row.shape[1], 3), background, dtype=np.uint8)
    left = 0
    for tile, caption in zip(tiles, captions):
        cv2.putText(
            band, caption, (left + 2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
        )
        left += tile.shape[1] + gap
    return np.concatenate([band, row], axis=0)
