"""Region similarity J: the Jaccard index (intersection over union) of binary masks.

Convention (DAVIS): when the prediction and the ground truth are both empty the frame scores 1;
pixels marked void (optional) count in neither the intersection nor the union.

Masks are NumPy arrays: binary masks ``(H, W)`` or ``(N, H, W)`` (any dtype, non-zero is
foreground), label maps ``(H, W)`` with non-negative integer labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from motionlayers.errors import ShapeError


def jaccard(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> np.ndarray:
    """J of binary masks, frame by frame.

    Args:
        pred: ``(H, W)`` or ``(N, H, W)`` prediction, non-zero is foreground.
        gt: ground truth of the same shape.
        void: optional mask of the same shape; its pixels are left out.

    Returns:
        float64 array of shape ``pred.shape[:-2]`` (a 0-d array for one frame), in ``[0, 1]``.

    Example:
        >>> a = np.zeros((4, 4), bool); a[:2] = True
        >>> float(jaccard(a, a))
        1.0
    """
    _check_same_shape(pred, gt, "pred", "gt")
    pred = np.asarray(pred).astype(bool, copy=False)
    gt = np.asarray(gt).astype(bool, copy=False)
    inter = pred & gt
    union = pred | gt
    if void is not None:
        _check_same_shape(pred, void, "pred", "void")
        keep = ~np.asarray(void).astype(bool, copy=False)
        inter &= keep
        union &= keep
    inter_count = np.count_nonzero(inter, axis=(-2, -1))
    union_count = np.count_nonzero(union, axis=(-2, -1))
    return _ratio(np.asarray(inter_count), np.asarray(union_count))


def joint_histogram(
    pred_labels: np.ndarray, gt_labels: np.ndarray, void: np.ndarray | None = None
) -> np.ndarray:
    """Pixel counts of every (predicted label, ground-truth label) pair in one frame.

    Args:
        pred_labels: ``(H, W)`` non-negative integer labels.
        gt_labels: ``(H, W)`` non-negative integer labels.
        void: optional ``(H, W)`` mask of pixels to leave out.

    Returns:
        ``(max(pred) + 1, max(gt) + 1)`` int64: entry ``[p, g]`` counts the pixels labelled
        ``p`` in the prediction and ``g`` in the ground truth (one pass over the pixels).
    """
    _check_same_shape(pred_labels, gt_labels, "pred_labels", "gt_labels")
    pred_flat = np.asarray(pred_labels).reshape(-1)
    gt_flat = np.asarray(gt_labels).reshape(-1)
    if void is not None:
        keep = ~np.asarray(void).astype(bool).reshape(-1)
        pred_flat, gt_flat = pred_flat[keep], gt_flat[keep]
    n_pred = int(pred_flat.max(initial=0)) + 1
    n_gt = int(gt_flat.max(initial=0)) + 1
    joint = pred_flat.astype(np.int64) * n_gt + gt_flat
    return np.bincount(joint, minlength=n_pred * n_gt).reshape(n_pred, n_gt)


def counts_from_histogram(
    table: np.ndarray, pred_ids: Sequence[int], gt_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(intersection (P, G), pred_area (P,), gt_area (G,))`` of chosen labels from a
    `joint_histogram`; labels beyond the table count 0."""
    rows = np.asarray(pred_ids, dtype=np.int64)
    cols = np.asarray(gt_ids, dtype=np.int64)
    size = (
        max(table.shape[0], rows.max(initial=-1) + 1),
        max(table.shape[1], cols.max(initial=-1) + 1),
    )
    full = np.zeros(size, dtype=np.int64)
    full[: table.shape[0], : table.shape[1]] = table
    return full[np.ix_(rows, cols)], full.sum(axis=1)[rows], full.sum(axis=0)[cols]


def jaccard_from_counts(
    inter: np.ndarray, pred_area: np.ndarray, gt_area: np.ndarray
) -> np.ndarray:
    """``(P, G)`` J from `counts_from_histogram` output (1 where both are empty)."""
    return _ratio(inter, pred_area[:, None] + gt_area[None, :] - inter)


def overlap_counts(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    pred_ids: Sequence[int],
    gt_ids: Sequence[int],
    void: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel counts of every (predicted segment, ground-truth object) pair in one frame.

    Args:
        pred_labels: ``(H, W)`` non-negative integer labels.
        gt_labels: ``(H, W)`` non-negative integer labels.
        pred_ids: the P predicted labels to count (labels absent from the frame count 0).
        gt_ids: the G ground-truth labels to count.
        void: optional ``(H, W)`` mask of pixels to leave out.

    Returns:
        ``(intersection (P, G), pred_area (P,), gt_area (G,))`` int64.
    """
    return counts_from_histogram(joint_histogram(pred_labels, gt_labels, void), pred_ids, gt_ids)


def pairwise_jaccard(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    pred_ids: Sequence[int],
    gt_ids: Sequence[int],
    void: np.ndarray | None = None,
) -> np.ndarray:
    """J between each predicted segment ``pred_labels == p`` and each object ``gt_labels == g``.

    Returns:
        ``(P, G)`` float64; a pair absent from both label maps scores 1 (DAVIS convention).
    """
    return jaccard_from_counts(*overlap_counts(pred_labels, gt_labels, pred_ids, gt_ids, void))


def _ratio(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """inter / union with 1 where the union is empty."""
    inter = inter.astype(np.float64)
    union = union.astype(np.float64)
    out = np.ones_like(union)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    a_shape, b_shape = np.shape(a), np.shape(b)
    if a_shape != b_shape:
        raise ShapeError(f"{name_a} {a_shape} and {name_b} {b_shape} must have the same shape")
    if len(a_shape) < 2:
        raise ShapeError(f"{name_a}: expected (H, W) or (N, H, W), got {a_shape}")
