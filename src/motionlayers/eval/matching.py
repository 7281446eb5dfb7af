"""Matching predicted segments to ground-truth objects, for multi-object protocols.

- **Hungarian matching per sequence** (DAVIS-2017 unsupervised): each ground-truth object gets
  one predicted segment, one-to-one, maximising the sum over objects of the sequence-mean of
  ``(J + F) / 2``; if there are fewer segments than objects, empty segments are added (they
  score 1 on frames where the object is absent, 0 elsewhere), so every object is scored.
- **Linear assignment per sequence** (thesis Table 4.5): the same with J alone.
- **Bootstrap IoU** (Lian et al. 2023, DivA): each object, in each frame, takes the segment with
  the best J in that frame; segments may be reused and nothing ties frames together.

Scores of all (segment, object) pairs in a frame come from one joint histogram (J) and one
boundary dilation per label (F), see `frame_pair_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from motionlayers.errors import ShapeError
from motionlayers.eval.contours import BOUNDARY_TOLERANCE, pairwise_f_measure
from motionlayers.eval.regions import pairwise_jaccard


def frame_pair_scores(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    pred_ids: Sequence[int],
    gt_ids: Sequence[int],
    void: np.ndarray | None = None,
    with_f: bool = True,
    tolerance: float = BOUNDARY_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(J (P, G), F (P, G) or None)`` of every (segment, object) pair in one ``(H, W)`` frame.

    A label listed in ``pred_ids`` but absent from the frame is an empty segment.
    """
    j = pairwise_jaccard(pred_labels, gt_labels, pred_ids, gt_ids, void)
    if not with_f:
        return j, None
    f = pairwise_f_measure(pred_labels, gt_labels, pred_ids, gt_ids, void, tolerance)
    return j, f


def assign(score: np.ndarray) -> np.ndarray:
    """One-to-one assignment maximising the total score of a ``(P, G)`` matrix.

    Returns:
        ``(G,)`` int64: the row matched to each column, or -1 when ``P < G`` leaves it unmatched.
    """
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 2:
        raise ShapeError(f"score: expected shape (P, G), got {score.shape}")
    rows, cols = linear_sum_assignment(score, maximize=True)
    matched = np.full(score.shape[1], -1, dtype=np.int64)
    matched[cols] = rows
    return matched


@dataclass(frozen=True)
class SequenceMatch:
    """Result of matching a sequence's segments to its objects.

    Attributes:
        gt_ids: the G ground-truth object labels.
        pred_ids: ``(G,)`` the segment label matched to each object; -1 means an added empty
            segment (fewer segments than objects).
        j: ``(T, G)`` per-frame J of each object with its segment.
        f: ``(T, G)`` per-frame F, or None when matching on J alone.
    """

    gt_ids: tuple[int, ...]
    pred_ids: tuple[int, ...]
    j: np.ndarray
    f: np.ndarray | None


def match_pair_scores(
    j: np.ndarray,
    f: np.ndarray | None,
    pred_ids: Sequence[int],
    gt_ids: Sequence[int],
) -> SequenceMatch:
    """Hungarian matching from stacked per-frame pair scores.

    Args:
        j: ``(T, P', G)`` per-frame J, where the first ``P`` rows are ``pred_ids`` and any extra
            rows are empty segments added to reach ``P' >= G``.
        f: ``(T, P', G)`` per-frame F (criterion ``(J + F) / 2``) or None (criterion J).
        pred_ids: the P segment labels of the first rows.
        gt_ids: the G object labels.
    """
    if j.ndim != 3 or j.shape[2] != len(gt_ids) or (f is not None and f.shape != j.shape):
        raise ShapeError(f"j {j.shape} / f {None if f is None else f.shape}: expected (T, P, G)")
    if j.shape[1] < len(gt_ids):
        raise ShapeError(
            f"{j.shape[1]} segments for {len(gt_ids)} objects: add empty ones (`padded_ids`)"
        )
    criterion = j.mean(axis=0) if f is None else (j.mean(axis=0) + f.mean(axis=0)) / 2
    rows = assign(criterion)
    columns = np.arange(len(gt_ids))
    labels = tuple(int(pred_ids[r]) if 0 <= r < len(pred_ids) else -1 for r in rows)
    return SequenceMatch(
        gt_ids=tuple(int(g) for g in gt_ids),
        pred_ids=labels,
        j=j[:, rows, columns],
        f=None if f is None else f[:, rows, columns],
    )


def match_sequence(
    pred_frames: Sequence[np.ndarray],
    gt_frames: Sequence[np.ndarray],
    pred_ids: Sequence[int] | None = None,
    gt_ids: Sequence[int] | None = None,
    void_label: int | None = None,
    with_f: bool = True,
    tolerance: float = BOUNDARY_TOLERANCE,
) -> SequenceMatch:
    """Match a sequence's predicted segments to its ground-truth objects (Hungarian).

    Args:
        pred_frames: T label maps ``(H, W)``.
        gt_frames: T ground-truth label maps ``(H, W)``; 0 is background.
        pred_ids: candidate segment labels; default: every label in ``pred_frames``.
        gt_ids: object labels; default: every non-zero label (but ``void_label``) in ``gt_frames``.
        void_label: ground-truth label of pixels left out of J and F (e.g. 255), or None.
        with_f: criterion ``(J + F) / 2`` (DAVIS-2017) if True, else J (linear assignment).
    """
    if len(pred_frames) != len(gt_frames) or not gt_frames:
        raise ShapeError(f"{len(pred_frames)} predicted vs {len(gt_frames)} ground-truth frames")
    present = labels_present(pred_frames)
    if pred_ids is None:
        pred_ids = present
    if gt_ids is None:
        gt_ids = [g for g in labels_present(gt_frames) if g != 0 and g != void_label]
    rows = padded_ids(pred_ids, len(gt_ids), avoid=present)
    js, fs = [], []
    for pred, gt in zip(pred_frames, gt_frames):
        void = None if void_label is None else gt == void_label
        j, f = frame_pair_scores(pred, gt, rows, gt_ids, void, with_f, tolerance)
        js.append(j)
        fs.append(f)
    f_stack = np.stack(fs) if with_f else None  # type: ignore[arg-type]
    return match_pair_scores(np.stack(js), f_stack, pred_ids, gt_ids)


def bootstrap_iou(j: np.ndarray) -> np.ndarray:
    """Per-frame best J of each object over all segments: ``(T, P, G)`` -> ``(T, G)``."""
    if j.ndim != 3:
        raise ShapeError(f"j: expected shape (T, P, G), got {j.shape}")
    if j.shape[1] == 0:
        return np.zeros((j.shape[0], j.shape[2]))
    return j.max(axis=1)


def labels_present(frames: Sequence[np.ndarray] | np.ndarray) -> list[int]:
    """Sorted distinct labels of label maps (a list of ``(H, W)`` or one ``(T, H, W)``)."""
    present: np.ndarray = np.zeros(0, dtype=bool)
    for frame in frames:
        counts = np.bincount(np.asarray(frame).reshape(-1).astype(np.int64, copy=False))
        if counts.size > present.size:
            present = np.pad(present, (0, counts.size - present.size))
        present[: counts.size] |= counts > 0
    return [int(i) for i in np.flatnonzero(present)]


def padded_ids(pred_ids: Sequence[int], n_objects: int, avoid: Sequence[int] = ()) -> list[int]:
    """``pred_ids`` plus unused labels (empty segments) so that there are >= ``n_objects``.

    The added labels are above every label of ``pred_ids`` and ``avoid`` (the labels present in
    the frames), so they are absent from the frames.
    """
    ids = [int(p) for p in pred_ids]
    spare = max([*ids, *(int(a) for a in avoid)], default=-1) + 1
    while len(ids) < n_objects:
        ids.append(spare)
        spare += 1
    return ids
