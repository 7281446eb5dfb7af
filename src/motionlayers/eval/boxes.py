"""Bounding-box IoU, as MoCA is scored (Lamdouar et al. 2020; protocol of Yang et al. 2021).

MoCA annotates boxes, not masks. A prediction is scored by the box around its **largest
8-connected region** against the ground-truth box; when the ground truth comes as a mask, its box
is the box of all its foreground pixels.

Boxes are ``(x0, y0, x1, y1)`` in pixels with **inclusive** ends (a single pixel at column 3,
row 5 is ``(3, 5, 3, 5)``), so a box's area is ``(x1 - x0 + 1) (y1 - y0 + 1)`` and the IoU of
two boxes equals the J of the two filled rectangles. An empty mask has no box (``None``); two
missing boxes score 1 (as two empty masks do), one missing box scores 0.
"""

from __future__ import annotations

import cv2
import numpy as np

from motionlayers.errors import ShapeError

Box = tuple[int, int, int, int]


def mask_box(mask: np.ndarray) -> Box | None:
    """Inclusive box ``(x0, y0, x1, y1)`` of the non-zero pixels of ``(H, W)`` mask, or None."""
    if np.ndim(mask) != 2:
        raise ShapeError(f"mask: expected shape (H, W), got {np.shape(mask)}")
    mask = np.asarray(mask).astype(bool, copy=False)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def largest_component(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool mask of the largest 8-connected region of ``mask`` (ties: lowest label).

    An empty mask gives an empty mask.
    """
    if np.ndim(mask) != 2:
        raise ShapeError(f"mask: expected shape (H, W), got {np.shape(mask)}")
    binary = np.asarray(mask).astype(bool).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return np.zeros(binary.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def box_iou(a: Box | None, b: Box | None) -> float:
    """IoU of two inclusive boxes; 1 when both are None, 0 when only one is."""
    if a is None or b is None:
        return 1.0 if a is None and b is None else 0.0
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(ix, 0) * max(iy, 0)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / float(area_a + area_b - inter)


def largest_region_box_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """MoCA score of one frame: box of the largest region of ``pred`` vs the box of ``gt``.

    Args:
        pred: ``(H, W)`` predicted binary mask (non-zero is foreground).
        gt: ``(H, W)`` ground-truth binary mask (its whole foreground makes the box).
    """
    if np.shape(pred) != np.shape(gt):
        raise ShapeError(f"pred {np.shape(pred)} and gt {np.shape(gt)} must have the same shape")
    return box_iou(mask_box(largest_component(pred)), mask_box(gt))
