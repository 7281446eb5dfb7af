"""Contour accuracy F: boundary precision and recall within a small tolerance (DAVIS benchmark).

Definitions, as the DAVIS benchmark (Perazzi et al., CVPR 2016) defines them:

- **Boundary** of a binary mask: the pixels whose value differs from their right, lower or
  lower-right neighbour; the image is extended past its last row and column by repeating them,
  so the frame border itself is never a boundary (a mask covering the whole frame has none).
- **Tolerance**: a disk of radius ``ceil(0.008 * sqrt(H^2 + W^2))`` pixels (8 for 854 x 480),
  the Euclidean disk ``{(dy, dx): dx^2 + dy^2 <= r^2}``. It is built explicitly and passed to
  ``cv2.dilate``; OpenCV's own ``MORPH_ELLIPSE`` kernel is not that disk (16 pixels differ
  at ``r = 8``).
- **Precision**: the fraction of predicted boundary pixels within the disk of a ground-truth
  boundary pixel; **recall**: the converse. ``F = 2 P R / (P + R)`` (0 when ``P + R = 0``).
- **Empty cases**: no boundary in either mask gives ``F = 1``; a boundary in only one of them
  gives ``F = 0``.
- **Void** pixels (optional) are cleared from both masks before the boundaries are taken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from motionlayers.defaults import BOUNDARY_TOLERANCE
from motionlayers.errors import InputError, ShapeError

MAX_TOLERANCE_FRACTION = 0.05
"""Largest tolerance given as a fraction of the diagonal (6x DAVIS's; 49 pixels at 854x480)."""
MAX_TOLERANCE_PIXELS = 50
"""Largest tolerance given in pixels: a dilation's cost grows with the disk's area (one of an
854x480 boundary map takes 0.04 s at 50 pixels, 16 s at 980, the diagonal)."""


def check_tolerance(tolerance: float) -> float:
    """``tolerance`` if it is a fraction of the diagonal in ``[0, MAX_TOLERANCE_FRACTION]`` or a
    pixel radius in ``[1, MAX_TOLERANCE_PIXELS]``, else `InputError` (NaN included)."""
    if not (0 <= tolerance <= MAX_TOLERANCE_FRACTION or 1 <= tolerance <= MAX_TOLERANCE_PIXELS):
        raise InputError(
            "tolerance",
            f"must be a fraction of the image diagonal in [0, {MAX_TOLERANCE_FRACTION}] or a "
            f"radius in pixels in [1, {MAX_TOLERANCE_PIXELS}], got {tolerance}",
        )
    return tolerance


def boundary_radius(height: int, width: int, tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """Matching radius in pixels: ``tolerance`` itself when it is >= 1, else a diagonal fraction.

    Example:
        >>> boundary_radius(480, 854)
        8
    """
    if tolerance >= 1:
        return int(math.ceil(tolerance))
    return int(math.ceil(tolerance * math.hypot(height, width)))


@lru_cache(maxsize=32)
def disk_kernel(radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` uint8 structuring element of the Euclidean disk of radius ``radius``."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    kernel = (x * x + y * y <= radius * radius).astype(np.uint8)
    kernel.flags.writeable = False
    return kernel


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool boundary of a binary mask (non-zero is foreground); see the module doc."""
    if np.ndim(mask) != 2:
        raise ShapeError(f"mask: expected shape (H, W), got {np.shape(mask)}")
    seg = np.asarray(mask).astype(bool, copy=False)
    padded = np.pad(seg, ((0, 1), (0, 1)), mode="edge")
    right = padded[:-1, 1:]
    down = padded[1:, :-1]
    down_right = padded[1:, 1:]
    return (seg != right) | (seg != down) | (seg != down_right)


def dilate(boundary: np.ndarray, radius: int) -> np.ndarray:
    """Bool map of the pixels within ``radius`` (Euclidean disk) of a ``True`` pixel."""
    if radius <= 0:
        return boundary.copy()
    out = cv2.dilate(boundary.view(np.uint8), disk_kernel(radius))
    return out.view(bool)


def boundary_counts(
    pred_boundary: np.ndarray, gt_boundary: np.ndarray, pred_near: np.ndarray, gt_near: np.ndarray
) -> tuple[int, int, int, int]:
    """``(matched_pred, n_pred, matched_gt, n_gt)`` from boundaries and their dilations."""
    matched_pred = int(np.count_nonzero(pred_boundary & gt_near))
    matched_gt = int(np.count_nonzero(gt_boundary & pred_near))
    return (
        matched_pred,
        int(np.count_nonzero(pred_boundary)),
        matched_gt,
        int(np.count_nonzero(gt_boundary)),
    )


def f_from_counts(matched_pred: int, n_pred: int, matched_gt: int, n_gt: int) -> float:
    """F from boundary pixel counts, with the DAVIS empty cases (see the module doc)."""
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    precision = matched_pred / n_pred
    recall = matched_gt / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def f_measure(
    pred: np.ndarray,
    gt: np.ndarray,
    void: np.ndarray | None = None,
    tolerance: float = BOUNDARY_TOLERANCE,
) -> float:
    """Contour accuracy F of one frame.

    Args:
        pred: ``(H, W)`` predicted binary mask (non-zero is foreground).
        gt: ``(H, W)`` ground-truth binary mask.
        void: optional ``(H, W)`` mask of pixels cleared from both masks first.
        tolerance: fraction of the image diagonal (< 1) or a radius in pixels (>= 1).

    Example:
        >>> a = np.zeros((20, 20), bool); a[5:15, 5:15] = True
        >>> f_measure(a, a)
        1.0
    """
    if np.shape(pred) != np.shape(gt) or np.ndim(pred) != 2:
        raise ShapeError(f"pred {np.shape(pred)} and gt {np.shape(gt)}: expected one (H, W)")
    pred_b, gt_b = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    if void is not None:
        keep = ~np.asarray(void).astype(bool)
        pred_b, gt_b = pred_b & keep, gt_b & keep
    radius = boundary_radius(pred_b.shape[0], pred_b.shape[1], tolerance)
    pred_boundary, gt_boundary = boundary_map(pred_b), boundary_map(gt_b)
    counts = boundary_counts(
        pred_boundary, gt_boundary, dilate(pred_boundary, radius), dilate(gt_boundary, radius)
    )
    return f_from_counts(*counts)


def f_measure_frames(
    pred: np.ndarray, gt: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE
) -> np.ndarray:
    """F of ``(N, H, W)`` masks, frame by frame: float64 ``(N,)``."""
    if np.shape(pred) != np.shape(gt) or np.ndim(pred) != 3:
        raise ShapeError(f"pred {np.shape(pred)} and gt {np.shape(gt)}: expected one (N, H, W)")
    return np.array([f_measure(p, g, tolerance=tolerance) for p, g in zip(pred, gt)])


def pairwise_f_measure(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    pred_ids: Sequence[int],
    gt_ids: Sequence[int],
    void: np.ndarray | None = None,
    tolerance: float = BOUNDARY_TOLERANCE,
) -> np.ndarray:
    """F between each predicted segment ``pred_labels == p`` and each object ``gt_labels == g``.

    Each boundary and its dilation is computed once, so the cost is ``P + G`` dilations.

    Returns:
        ``(P, G)`` float64.
    """
    if np.shape(pred_labels) != np.shape(gt_labels) or np.ndim(pred_labels) != 2:
        raise ShapeError(
            f"pred_labels {np.shape(pred_labels)} and gt_labels {np.shape(gt_labels)}: "
            "expected one (H, W)"
        )
    keep = None if void is None else ~np.asarray(void).astype(bool)
    radius = boundary_radius(np.shape(pred_labels)[0], np.shape(pred_labels)[1], tolerance)

    def boundaries(labels: np.ndarray, ids: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for label in ids:
            mask = labels == label
            if keep is not None:
                mask &= keep
            boundary = boundary_map(mask)
            out.append((boundary, dilate(boundary, radius)))
        return out

    pred_maps = boundaries(np.asarray(pred_labels), pred_ids)
    gt_maps = boundaries(np.asarray(gt_labels), gt_ids)
    scores = np.zeros((len(pred_maps), len(gt_maps)))
    for i, (pred_boundary, pred_near) in enumerate(pred_maps):
        for j, (gt_boundary, gt_near) in enumerate(gt_maps):
            counts = boundary_counts(pred_boundary, gt_boundary, pred_near, gt_near)
            scores[i, j] = f_from_counts(*counts)
    return scores
