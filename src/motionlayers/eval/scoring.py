"""Scoring one sequence under a protocol, its frames read and scored by a thread pool.

Binary protocols: the prediction's foreground comes from a segment selection; selections that
decide frame by frame run entirely in the workers (read, select, score), the others on the
stacked sequence. ``davis17``: per-frame pair scores in the workers, Hungarian matching on the
sequence. FBMS also gets bootstrap IoU and linear-assignment J from per-frame joint histograms of
the labels, every predicted label (0 included) being a candidate segment. Predictions are read
by a `PredictionReader` (label 0 is the background: a segment output's is renamed so).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from motionlayers.errors import InputError
from motionlayers.eval.boxes import largest_region_box_iou
from motionlayers.eval.contours import f_measure
from motionlayers.eval.matching import (
    assign,
    bootstrap_iou,
    frame_pair_scores,
    labels_present,
    match_pair_scores,
    padded_ids,
)
from motionlayers.eval.predictions import PredictionReader
from motionlayers.eval.protocols import Protocol
from motionlayers.eval.records import FrameRecord, SequenceFiles
from motionlayers.eval.regions import (
    counts_from_histogram,
    jaccard,
    jaccard_from_counts,
    joint_histogram,
)
from motionlayers.eval.selection import SegmentSelection
from motionlayers.io.masks import read_mask_compact, resize_mask

VOID_LABEL = 255
"""Ground-truth label of void pixels in multi-object (DAVIS-2017) annotations."""

ASPECT_TOLERANCE = 0.05
"""A prediction is resized to its ground truth only when their aspect ratios (W / H) differ by
at most this fraction (a working-size prediction); otherwise (a transposed or foreign mask) the
frame is an error."""

Scores = dict[str, float]
Frame = tuple[str, Path, Path]


def _load_pair(frame: Frame, reader: PredictionReader) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and prediction of one frame, the prediction resized to the ground truth."""
    stem, gt_path, pred_path = frame
    gt = read_mask_compact(gt_path)
    pred = reader.read(stem)
    if pred.shape != gt.shape:
        _check_aspect(pred_path, pred.shape, gt_path, gt.shape)
    return gt, resize_mask(pred, *gt.shape)


def _check_aspect(
    pred_path: Path, pred_shape: tuple[int, ...], gt_path: Path, gt_shape: tuple[int, ...]
) -> None:
    (ph, pw), (gh, gw) = pred_shape, gt_shape
    if min(ph, pw, gh, gw) > 0 and abs(math.log(pw * gh / (ph * gw))) <= math.log1p(
        ASPECT_TOLERANCE
    ):
        return
    raise InputError(
        pred_path,
        f"{ph}x{pw} (HxW) mask for a {gh}x{gw} ground truth ({gt_path}): another aspect ratio "
        f"(predictions are resized only within {ASPECT_TOLERANCE:.0%} of the ground truth's)",
    )


def _binary_scores(
    protocol: Protocol, tolerance: float
) -> Callable[[np.ndarray, np.ndarray], Scores]:
    if protocol.metrics == ("J_box",):
        return lambda fg, gt_fg: {"J_box": largest_region_box_iou(fg, gt_fg)}
    return lambda fg, gt_fg: {
        "J": float(jaccard(fg, gt_fg)),
        "F": f_measure(fg, gt_fg, tolerance=tolerance),
    }


def score_binary_sequence(
    pool: ThreadPoolExecutor,
    seq: SequenceFiles,
    reader: PredictionReader,
    protocol: Protocol,
    selection: SegmentSelection,
    cut: int,
    tolerance: float,
) -> tuple[list[FrameRecord], bool]:
    """Score one sequence's foreground; per-frame selections run entirely in the workers."""
    metric = _binary_scores(protocol, tolerance)
    tables = protocol.name == "fbms"  # joint histograms for the multi-object scores

    def select(pred: np.ndarray, gt_fg: np.ndarray) -> np.ndarray:
        return selection.select(pred, gt_fg if selection.uses_ground_truth else None, cut)

    if selection.per_frame:

        def work(frame: Frame) -> tuple[Scores, np.ndarray | None]:
            gt, pred = _load_pair(frame, reader)
            gt_fg = gt != 0
            fg = select(pred[None], gt_fg[None])[0]
            return metric(fg, gt_fg), joint_histogram(pred, gt) if tables else None

        out = list(pool.map(work, seq.frames))
    else:
        loaded = list(pool.map(lambda frame: _load_pair(frame, reader), seq.frames))
        for (_, gt_path, _), (g, _) in zip(seq.frames, loaded):
            if g.shape != loaded[0][0].shape:
                first = seq.frames[0][1].name
                raise InputError(
                    gt_path, f"{g.shape[0]}x{g.shape[1]} (HxW): not the size of {first}"
                )
        gt = np.stack([g for g, _ in loaded])
        pred = np.stack([p for _, p in loaded])
        gt_fg = gt != 0
        fg = select(pred, gt_fg)

        def work_t(t: int) -> tuple[Scores, np.ndarray | None]:
            return metric(fg[t], gt_fg[t]), joint_histogram(pred[t], gt[t]) if tables else None

        out = list(pool.map(work_t, range(len(loaded))))
    scores = [s for s, _ in out]
    several = False
    if tables:
        extras, several = _multi_object_scores([t for _, t in out])  # type: ignore[misc]
        for frame_scores, extra in zip(scores, extras):
            frame_scores.update(extra)
    records = [FrameRecord(seq.name, stem, 1, s) for (stem, _, _), s in zip(seq.frames, scores)]
    return records, several


def _multi_object_scores(tables: list[np.ndarray]) -> tuple[list[Scores], bool]:
    """Bootstrap IoU and linear-assignment J of each frame (NaN when no object is present),
    from per-frame joint histograms; also whether the sequence has several objects."""
    shape = (max(t.shape[0] for t in tables), max(t.shape[1] for t in tables))
    stack = np.zeros((len(tables), *shape), dtype=np.int64)
    for i, table in enumerate(tables):
        stack[i, : table.shape[0], : table.shape[1]] = table
    segments = [int(p) for p in np.flatnonzero(stack.sum(axis=(0, 2)))]
    objects = [int(g) for g in np.flatnonzero(stack.sum(axis=(0, 1))) if g != 0]
    if not objects:
        return [{"bIoU": float("nan"), "LA_J": float("nan")} for _ in tables], False
    rows = padded_ids(segments, len(objects))
    counts = [counts_from_histogram(table, rows, objects) for table in stack]
    j = np.stack([jaccard_from_counts(*c) for c in counts])  # (T, P, G)
    present = np.stack([gt_area > 0 for _, _, gt_area in counts])  # (T, G)
    best = bootstrap_iou(j)
    matched = j[:, assign(j.mean(axis=0)), np.arange(len(objects))]
    out = []
    for t in range(len(tables)):
        if present[t].any():
            out.append(
                {
                    "bIoU": float(best[t, present[t]].mean()),
                    "LA_J": float(matched[t, present[t]].mean()),
                }
            )
        else:
            out.append({"bIoU": float("nan"), "LA_J": float("nan")})
    return out, len(objects) > 1


def score_object_sequence(
    pool: ThreadPoolExecutor,
    seq: SequenceFiles,
    reader: PredictionReader,
    candidates: str,
    tolerance: float,
) -> list[FrameRecord]:
    """DAVIS-2017: Hungarian matching of segments to objects over the sequence.

    With ``candidates == "nonzero"`` label 0 (the background, see `PredictionReader`) is not a
    candidate; records name the matched segment by the prediction's own label."""

    def load(frame: Frame) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
        gt, pred = _load_pair(frame, reader)
        return gt, pred, labels_present([gt]), labels_present([pred])

    loaded = list(pool.map(load, seq.frames))
    gt_labels = sorted({g for _, _, labels, _ in loaded for g in labels})
    pred_labels = sorted({p for _, _, _, labels in loaded for p in labels})
    objects = [g for g in gt_labels if g not in (0, VOID_LABEL)]
    if not objects:
        return []
    segments = [p for p in pred_labels if candidates == "all" or p != 0]
    rows = padded_ids(segments, len(objects), avoid=pred_labels)

    def score(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        gt, pred, present, _ = loaded[i]
        void = gt == VOID_LABEL if VOID_LABEL in present else None
        return frame_pair_scores(pred, gt, rows, objects, void, True, tolerance)

    pairs = list(pool.map(score, range(len(loaded))))
    match = match_pair_scores(
        np.stack([j for j, _ in pairs]),
        np.stack([f for _, f in pairs]),  # type: ignore[misc]
        segments,
        objects,
    )
    assert match.f is not None
    records = []
    for t, (stem, _, _) in enumerate(seq.frames):
        for g, (obj, segment) in enumerate(zip(match.gt_ids, match.pred_ids)):
            scores = {"J": float(match.j[t, g]), "F": float(match.f[t, g])}
            label = reader.segment_label(segment)
            records.append(FrameRecord(seq.name, stem, obj, scores, label))
    return records
