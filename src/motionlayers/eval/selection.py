"""Segment selection: which predicted layers form the foreground of a binary benchmark.

Benchmarks such as DAVIS-2016 score one foreground against the background, while a method
outputs K layers. A selection turns a sequence of label maps ``(T, H, W)`` into foreground masks
``(T, H, W)`` bool. Each says whether it reads the ground truth (``uses_ground_truth``): those
that do give an upper bound of what a perfect selector could reach (thesis 2.4.5, 3.3.4), not a
score a method obtains on its own; the command line prints which one was used.

- ``nonzero``: label 0 is background, every other label is foreground. No ground truth. (The
  runner reads a segment output's background from its motion.json and renames it label 0, see
  `predictions.PredictionReader`.)
- ``largest-is-background``: in each frame, the layer with the most pixels is background
  (ties: the lowest label), all others are foreground (thesis 2.4.2). No ground truth.
- ``fair``: in each frame, a layer is foreground when more than half of its pixels lie in the
  ground-truth foreground (thesis 2.4.5). Uses ground truth.
- ``exhaustive`` / ``greedy``: in each cut of ``cut`` consecutive frames (10 in the thesis), the
  subset of layers whose union maximises the sum of J over the cut (thesis eq. 3.11), searched
  over all ``2^K`` subsets, or built greedily by adding the layer that most raises the sum until
  none does. Uses ground truth.
- ``hungarian``: the single layer with the best sequence-mean J (Hungarian matching of the
  layers to the one ground-truth object). Uses ground truth.

This module lives in ``eval/`` because it serves evaluation protocols only; selection that
needs no ground truth may move to ``postprocess/`` later.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from motionlayers.errors import InputError, ShapeError
from motionlayers.eval.matching import labels_present

MAX_EXHAUSTIVE_LAYERS = 16
"""Exhaustive search visits 2^K subsets; beyond this many layers use ``greedy``."""


@dataclass(frozen=True)
class SegmentSelection:
    """A named selection rule. ``select(labels, gt, cut)`` returns ``(T, H, W)`` bool.

    ``per_frame`` rules decide each frame on its own (they may be run frame by frame).
    """

    name: str
    uses_ground_truth: bool
    per_frame: bool
    description: str
    select: Callable[[np.ndarray, np.ndarray | None, int], np.ndarray]


def nonzero_foreground(labels: np.ndarray) -> np.ndarray:
    """Every non-zero label is foreground: ``(T, H, W)`` -> bool."""
    return _as_sequence(labels) != 0


def largest_is_background(labels: np.ndarray) -> np.ndarray:
    """Per frame, the largest layer is background and all others foreground."""
    labels = _as_sequence(labels)
    out = np.empty(labels.shape, dtype=bool)
    for t, frame in enumerate(labels):
        areas = np.bincount(frame.reshape(-1).astype(np.int64, copy=False))
        out[t] = frame != int(np.argmax(areas))
    return out


def fair_overlap(labels: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Per frame, a layer is foreground when more than ``threshold`` of it lies in ``gt``."""
    labels, gt = _as_sequence(labels), _check_gt(labels, gt)
    ids = labels_present(labels)
    inter, area, _ = _counts(labels, gt, ids)
    chosen = inter > threshold * area  # (T, K)
    return _paint(labels, ids, chosen)


def best_subset(
    labels: np.ndarray, gt: np.ndarray, cut: int = 10, search: str = "exhaustive"
) -> np.ndarray:
    """Per cut of ``cut`` frames, the union of layers maximising the summed J (thesis eq. 3.11).

    Args:
        labels: ``(T, H, W)`` label maps, labels consistent over each cut.
        gt: ``(T, H, W)`` binary ground truth.
        cut: frames per cut (the last cut may be shorter).
        search: ``"exhaustive"`` (all subsets, the empty one included) or ``"greedy"``.
    """
    labels, gt = _as_sequence(labels), _check_gt(labels, gt)
    if cut < 1:
        raise InputError("cut", f"must be at least 1, got {cut}")
    if search not in ("exhaustive", "greedy"):
        raise InputError("search", f"unknown search {search!r}; valid: exhaustive, greedy")
    ids = labels_present(labels)
    if search == "exhaustive" and len(ids) > MAX_EXHAUSTIVE_LAYERS:
        raise InputError(
            "selection",
            f"{len(ids)} layers: too many for exhaustive search (max "
            f"{MAX_EXHAUSTIVE_LAYERS}); use greedy",
        )
    inter, area, gt_area = _counts(labels, gt, ids)
    chosen = np.zeros(inter.shape, dtype=bool)
    pick = _exhaustive if search == "exhaustive" else _greedy
    for start in range(0, labels.shape[0], cut):
        part = slice(start, start + cut)
        chosen[part] = pick(inter[part], area[part], gt_area[part])
    return _paint(labels, ids, chosen)


def hungarian_foreground(labels: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The one layer with the best sequence-mean J against ``gt`` is the foreground."""
    labels, gt = _as_sequence(labels), _check_gt(labels, gt)
    ids = labels_present(labels)
    inter, area, gt_area = _counts(labels, gt, ids)
    scores = _jaccard_of_unions(inter, area, gt_area).mean(axis=0)  # (K,)
    chosen = np.zeros(inter.shape, dtype=bool)
    chosen[:, int(np.argmax(scores))] = True
    return _paint(labels, ids, chosen)


def _jaccard_of_unions(inter: np.ndarray, area: np.ndarray, gt_area: np.ndarray) -> np.ndarray:
    """J of unions of disjoint layers: ``inter``, ``area`` ``(T, S)`` summed per union."""
    union = area + gt_area[:, None] - inter
    out = np.ones(union.shape)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _exhaustive(inter: np.ndarray, area: np.ndarray, gt_area: np.ndarray) -> np.ndarray:
    k = inter.shape[1]
    subsets = np.array(list(itertools.product((0, 1), repeat=k)), dtype=np.int64)[:, ::-1]
    # row s of `subsets` holds the bits of s, so ties go to the subset with the smaller index
    total = _jaccard_of_unions(inter @ subsets.T, area @ subsets.T, gt_area).sum(axis=0)
    best = subsets[int(np.argmax(total))].astype(bool)
    return np.broadcast_to(best, inter.shape)


def _greedy(inter: np.ndarray, area: np.ndarray, gt_area: np.ndarray) -> np.ndarray:
    k = inter.shape[1]
    chosen = np.zeros(k, dtype=bool)
    current = _jaccard_of_unions(
        np.zeros((len(gt_area), 1)), np.zeros((len(gt_area), 1)), gt_area
    ).sum()
    while not chosen.all():
        candidates = np.flatnonzero(~chosen)
        trial = chosen[None, :].repeat(len(candidates), axis=0)
        trial[np.arange(len(candidates)), candidates] = True
        totals = _jaccard_of_unions(inter @ trial.T, area @ trial.T, gt_area).sum(axis=0)
        best = int(np.argmax(totals))
        if totals[best] <= current + 1e-12:
            break
        chosen[candidates[best]] = True
        current = totals[best]
    return np.broadcast_to(chosen, inter.shape)


def _counts(labels: np.ndarray, gt: np.ndarray, ids: list[int]) -> tuple[np.ndarray, ...]:
    """Per frame and layer: pixels in the ground truth, pixels; per frame: ground-truth pixels."""
    size = (max(ids) + 1) if ids else 1
    inter = np.zeros((labels.shape[0], len(ids)), dtype=np.int64)
    area = np.zeros_like(inter)
    for t in range(labels.shape[0]):
        joint = labels[t].reshape(-1).astype(np.int64) * 2 + gt[t].reshape(-1)
        table = np.bincount(joint, minlength=2 * size).reshape(size, 2)[ids]
        inter[t], area[t] = table[:, 1], table.sum(axis=1)
    return inter, area, gt.reshape(gt.shape[0], -1).sum(axis=1, dtype=np.int64)


def _paint(labels: np.ndarray, ids: list[int], chosen: np.ndarray) -> np.ndarray:
    """Foreground masks from a per-frame choice of layers ``chosen (T, K)``."""
    size = (max(ids) + 1) if ids else 1
    out = np.empty(labels.shape, dtype=bool)
    for t in range(labels.shape[0]):
        table = np.zeros(size, dtype=bool)
        table[np.asarray(ids, dtype=np.int64)[chosen[t]]] = True
        out[t] = table[labels[t]]
    return out


def _as_sequence(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ShapeError(f"labels: expected shape (T, H, W), got {labels.shape}")
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise InputError("labels", f"expected integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise InputError("labels", "labels must be non-negative")
    return labels


def _require(gt: np.ndarray | None) -> np.ndarray:
    if gt is None:
        raise InputError("selection", "this selection needs the ground truth")
    return gt


def _check_gt(labels: np.ndarray, gt: np.ndarray | None) -> np.ndarray:
    gt = _require(gt)
    gt = np.asarray(gt)
    if gt.shape != np.shape(labels):
        raise ShapeError(f"gt {gt.shape} and labels {np.shape(labels)} must have the same shape")
    return (gt != 0).view(np.uint8) if gt.dtype != np.bool_ else gt.view(np.uint8)


SELECTIONS: dict[str, SegmentSelection] = {
    s.name: s
    for s in (
        SegmentSelection(
            "nonzero",
            False,
            True,
            "every label but the background (label 0) is foreground",
            lambda labels, gt, cut: nonzero_foreground(labels),
        ),
        SegmentSelection(
            "largest-is-background",
            False,
            True,
            "per frame, the largest layer is background",
            lambda labels, gt, cut: largest_is_background(labels),
        ),
        SegmentSelection(
            "fair",
            True,
            True,
            "per frame, layers more than half inside the ground truth",
            lambda labels, gt, cut: fair_overlap(labels, _require(gt)),
        ),
        SegmentSelection(
            "exhaustive",
            True,
            False,
            "per cut, the subset of layers maximising J (all subsets)",
            lambda labels, gt, cut: best_subset(labels, _require(gt), cut, "exhaustive"),
        ),
        SegmentSelection(
            "greedy",
            True,
            False,
            "per cut, the subset of layers maximising J (greedy search)",
            lambda labels, gt, cut: best_subset(labels, _require(gt), cut, "greedy"),
        ),
        SegmentSelection(
            "hungarian",
            True,
            False,
            "the single layer best matched to the ground truth",
            lambda labels, gt, cut: hungarian_foreground(labels, _require(gt)),
        ),
    )
}
"""Selections by name, in the order `--help` lists them."""


def get_selection(name: str) -> SegmentSelection:
    """The selection called ``name``; an unknown name fails with the list of valid names."""
    try:
        return SELECTIONS[name]
    except KeyError:
        raise InputError(
            "selection", f"unknown selection {name!r}; valid: {', '.join(SELECTIONS)}"
        ) from None


def select_foreground(
    name: str, labels: np.ndarray, gt: np.ndarray | None = None, cut: int = 10
) -> np.ndarray:
    """Apply the selection ``name`` to ``(T, H, W)`` labels: ``(T, H, W)`` bool foreground."""
    return get_selection(name).select(labels, gt, cut)
