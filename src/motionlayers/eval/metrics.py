"""Evaluation metrics as ``torchmetrics.Metric`` accumulators (validation loops, DDP).

Every state is a sum, so updating batch by batch, on one process or many, gives the same result
as one pass over all frames (up to float64 rounding). Each class is a thin shell around the
functions of `regions`, `contours`, `boxes` and `matching`, which do the scoring.

Frames are tagged with a sequence index so that both averages of the benchmarks are available:
``average="frames"`` (mean over all frames: FBMS59, SegTrackV2, MoCA) and
``average="sequences"`` (mean of the sequence means: DAVIS-2016).

Inputs: ``preds`` and ``target`` are ``(B, H, W)`` (or ``(H, W)``) tensors; binary metrics treat
non-zero as foreground, matching metrics read them as label maps; ``sequence`` is an int or a
``(B,)`` int tensor in ``[0, num_sequences)`` (default 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from motionlayers.errors import InputError, ShapeError
from motionlayers.eval.boxes import largest_region_box_iou
from motionlayers.eval.contours import BOUNDARY_TOLERANCE, f_measure
from motionlayers.eval.matching import assign, bootstrap_iou, frame_pair_scores
from motionlayers.eval.regions import jaccard


def _as_batch(x: torch.Tensor, name: str) -> np.ndarray:
    array = x.detach().cpu().numpy()
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ShapeError(f"{name}: expected shape (B, H, W) or (H, W), got {tuple(x.shape)}")
    return array


def _sequence_index(sequence: int | torch.Tensor | None, batch: int, limit: int) -> torch.Tensor:
    if sequence is None:
        sequence = 0
    index = torch.as_tensor(sequence, dtype=torch.long).reshape(-1).cpu()
    if index.numel() == 1:
        index = index.expand(batch)
    if index.numel() != batch:
        raise ShapeError(f"sequence: expected {batch} indices, got {index.numel()}")
    if batch and (int(index.min()) < 0 or int(index.max()) >= limit):
        raise InputError("sequence", f"indices must lie in [0, {limit}), got {index.tolist()}")
    return index


class _FrameAveragedScore(Metric):
    """Per-frame scores summed per sequence; ``compute`` averages over frames or sequences."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    score_sum: torch.Tensor
    frame_count: torch.Tensor
    above_half: torch.Tensor

    def __init__(self, num_sequences: int = 1, average: str = "frames", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if average not in ("frames", "sequences"):
            raise InputError("average", f"unknown average {average!r}; valid: frames, sequences")
        if num_sequences < 1:
            raise InputError("num_sequences", f"must be at least 1, got {num_sequences}")
        self.num_sequences = num_sequences
        self.average = average
        zeros = torch.zeros(num_sequences, dtype=torch.float64)
        self.add_state("score_sum", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("frame_count", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("above_half", default=zeros.clone(), dist_reduce_fx="sum")

    def _scores(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(
        self, preds: torch.Tensor, target: torch.Tensor, sequence: int | torch.Tensor | None = None
    ) -> None:
        pred_np, target_np = _as_batch(preds, "preds"), _as_batch(target, "target")
        if pred_np.shape != target_np.shape:
            raise ShapeError(f"preds {pred_np.shape} and target {target_np.shape} differ")
        scores = torch.as_tensor(self._scores(pred_np, target_np), dtype=torch.float64)
        index = _sequence_index(sequence, len(scores), self.num_sequences).to(self.device)
        scores = scores.to(self.device)
        self.score_sum.index_add_(0, index, scores)
        self.frame_count.index_add_(0, index, torch.ones_like(scores))
        self.above_half.index_add_(0, index, (scores > 0.5).to(torch.float64))

    def sequence_means(self) -> torch.Tensor:
        """``(num_sequences,)`` mean score of each sequence (NaN for a sequence with no frame)."""
        return self.score_sum / self.frame_count

    def recall(self) -> torch.Tensor:
        """Fraction of frames scoring above 0.5, averaged like ``compute``."""
        if self.average == "frames":
            return self.above_half.sum() / self.frame_count.sum()
        seen = self.frame_count > 0
        return (self.above_half[seen] / self.frame_count[seen]).mean()

    def compute(self) -> torch.Tensor:
        if self.average == "frames":
            return self.score_sum.sum() / self.frame_count.sum()
        seen = self.frame_count > 0
        return (self.score_sum[seen] / self.frame_count[seen]).mean()


class RegionSimilarity(_FrameAveragedScore):
    """J (IoU) of binary masks; an empty prediction on an empty ground truth scores 1."""

    def _scores(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        return jaccard(preds, target)


class ContourAccuracy(_FrameAveragedScore):
    """F (boundary F-measure within ``ceil(0.008 * diagonal)`` pixels), DAVIS definition."""

    def __init__(
        self,
        num_sequences: int = 1,
        average: str = "frames",
        tolerance: float = BOUNDARY_TOLERANCE,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_sequences, average, **kwargs)
        self.tolerance = tolerance

    def _scores(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.array([f_measure(p, t, tolerance=self.tolerance) for p, t in zip(preds, target)])


class BoxIoU(_FrameAveragedScore):
    """MoCA: IoU of the box of the prediction's largest region and the ground-truth box."""

    def _scores(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.array([largest_region_box_iou(p, t) for p, t in zip(preds, target)])


class BootstrapIoU(_FrameAveragedScore):
    """Bootstrap IoU: per frame, each object's best J over all segments, averaged over the
    objects present in the frame (frames without any object are skipped).

    Args:
        object_ids: the ground-truth labels that are objects (default 1..255).
    """

    def __init__(
        self,
        num_sequences: int = 1,
        average: str = "frames",
        object_ids: Sequence[int] = tuple(range(1, 255)),
        **kwargs: Any,
    ) -> None:
        super().__init__(num_sequences, average, **kwargs)
        self.object_ids = [int(i) for i in object_ids]

    def update(
        self, preds: torch.Tensor, target: torch.Tensor, sequence: int | torch.Tensor | None = None
    ) -> None:
        pred_np, target_np = _as_batch(preds, "preds"), _as_batch(target, "target")
        index = _sequence_index(sequence, len(pred_np), self.num_sequences)
        keep = [i for i, t in enumerate(target_np) if np.isin(t, self.object_ids).any()]
        if not keep:
            return
        super().update(
            torch.as_tensor(pred_np[keep]), torch.as_tensor(target_np[keep]), index[keep]
        )

    def _scores(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        out = []
        for pred, gt in zip(preds, target):
            present = [g for g in self.object_ids if (gt == g).any()]
            pred_ids = np.unique(pred).tolist()
            j, _ = frame_pair_scores(pred, gt, pred_ids, present, with_f=False)
            out.append(float(bootstrap_iou(j[None])[0].mean()))
        return np.array(out)


class HungarianMatchedScore(Metric):
    """Per-sequence Hungarian matching of segments to objects (DAVIS-2017 unsupervised).

    States are per (sequence, segment, object) sums of per-frame J and F, so the matching is
    done once per sequence at ``compute`` time, on exact sequence means.

    Args:
        num_sequences: number of sequences.
        segment_ids: candidate predicted labels (absent ones act as empty segments, which is how
            DAVIS pads a sequence that has fewer segments than objects).
        object_ids: ground-truth object labels; an object never seen in a sequence is skipped.
        criterion: ``"jf"`` (mean of J and F, DAVIS-2017) or ``"j"`` (linear assignment on J).

    ``compute`` returns ``{"J": ..., "F": ..., "JF": ...}``: means over all (sequence, object)
    pairs, as the DAVIS-2017 scorer averages (``"F"`` is NaN for ``criterion="j"``).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    pair_j: torch.Tensor
    pair_f: torch.Tensor
    frames: torch.Tensor
    object_frames: torch.Tensor

    def __init__(
        self,
        num_sequences: int = 1,
        segment_ids: Sequence[int] = tuple(range(1, 21)),
        object_ids: Sequence[int] = tuple(range(1, 11)),
        criterion: str = "jf",
        tolerance: float = BOUNDARY_TOLERANCE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if criterion not in ("jf", "j"):
            raise InputError("criterion", f"unknown criterion {criterion!r}; valid: jf, j")
        self.num_sequences = num_sequences
        self.segment_ids = [int(i) for i in segment_ids]
        self.object_ids = [int(i) for i in object_ids]
        if len(self.segment_ids) < len(self.object_ids):
            raise InputError("segment_ids", "need at least as many segment ids as object ids")
        self.criterion = criterion
        self.tolerance = tolerance
        shape = (num_sequences, len(self.segment_ids), len(self.object_ids))
        self.add_state("pair_j", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("pair_f", torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state(
            "frames", torch.zeros(num_sequences, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state(
            "object_frames", torch.zeros(shape[::2], dtype=torch.float64), dist_reduce_fx="sum"
        )

    def update(
        self, preds: torch.Tensor, target: torch.Tensor, sequence: int | torch.Tensor | None = None
    ) -> None:
        pred_np, target_np = _as_batch(preds, "preds"), _as_batch(target, "target")
        if pred_np.shape != target_np.shape:
            raise ShapeError(f"preds {pred_np.shape} and target {target_np.shape} differ")
        index = _sequence_index(sequence, len(pred_np), self.num_sequences)
        with_f = self.criterion == "jf"
        for s, pred, gt in zip(index.tolist(), pred_np, target_np):
            j, f = frame_pair_scores(
                pred, gt, self.segment_ids, self.object_ids, with_f=with_f, tolerance=self.tolerance
            )
            self.pair_j[s] += torch.as_tensor(j, device=self.device)
            if f is not None:
                self.pair_f[s] += torch.as_tensor(f, device=self.device)
            self.frames[s] += 1
            seen = torch.as_tensor(np.isin(self.object_ids, gt), dtype=torch.float64)
            self.object_frames[s] += seen.to(self.device)

    def compute(self) -> dict[str, torch.Tensor]:
        js: list[float] = []
        fs: list[float] = []
        for s in range(self.num_sequences):
            if self.frames[s] == 0:
                continue
            objects = torch.nonzero(self.object_frames[s] > 0).reshape(-1).cpu().numpy()
            if objects.size == 0:
                continue
            mean_j = (self.pair_j[s] / self.frames[s]).cpu().numpy()[:, objects]
            mean_f = (self.pair_f[s] / self.frames[s]).cpu().numpy()[:, objects]
            score = mean_j if self.criterion == "j" else (mean_j + mean_f) / 2
            rows = assign(score)
            js.extend(mean_j[rows, np.arange(objects.size)].tolist())
            fs.extend(mean_f[rows, np.arange(objects.size)].tolist())
        j_mean = float(np.mean(js)) if js else float("nan")
        f_mean = float(np.mean(fs)) if fs and self.criterion == "jf" else float("nan")
        jf = (j_mean + f_mean) / 2 if self.criterion == "jf" else j_mean
        return {
            "J": torch.tensor(j_mean, dtype=torch.float64),
            "F": torch.tensor(f_mean, dtype=torch.float64),
            "JF": torch.tensor(jf, dtype=torch.float64),
        }
