"""Metrics of event-based motion segmentation (EV-LayerSegNet, Stoffregen et al. 2019).

A window of events is scored on the pixels that received at least one of its events (the
"event pixels"); every other pixel is void. Predicted layers are matched one-to-one to the
ground-truth layers by the Hungarian method on their IoU over the event pixels; then

- **IoU**: per ground-truth layer, the IoU with its matched predicted layer (0 if unmatched).
- **detection**: a ground-truth object is detected when ``IoU >= 0.5`` and the intersection is
  at least the matched layer's false positives (its event pixels outside the object); the
  detection rate is the share of detected objects (layers other than the background).
- **EPE**: the mean end-point error ``||f_pred - f_gt||_2`` over the event pixels.

Convention: label maps ``(H, W)`` int, ground truth ``< 0`` means unknown (void); flows
``(2, H, W)`` u first, in any unit shared by prediction and ground truth (the benchmark uses
pixels per window); NumPy arrays or tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from motionlayers.errors import ShapeError
from motionlayers.eval.matching import assign
from motionlayers.eval.regions import overlap_counts
from motionlayers.motion import render

__all__ = [
    "LayerMatch",
    "event_pixels",
    "flow_epe",
    "layer_flow",
    "majority_labels",
    "match_event_layers",
    "score_event_window",
]


def _numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def event_pixels(x: np.ndarray, y: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W)`` bool: the pixels hit by at least one event ``(x, y)`` (integer pixels)."""
    x, y = _numpy(x).astype(np.int64), _numpy(y).astype(np.int64)
    hit = np.zeros(height * width, dtype=bool)
    hit[y * width + x] = True
    return hit.reshape(height, width)


def majority_labels(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray, height: int, width: int
) -> np.ndarray:
    """``(H, W)`` int64 label of each pixel: the most frequent label of its events (``(N,)``
    non-negative ``labels``; ties go to the lower label), -1 where no event fell."""
    x, y = _numpy(x).astype(np.int64), _numpy(y).astype(np.int64)
    labels = _numpy(labels).astype(np.int64)
    out = np.full(height * width, -1, dtype=np.int64)
    if labels.size == 0:
        return out.reshape(height, width)
    count = int(labels.max()) + 1
    votes = np.bincount((y * width + x) * count + labels, minlength=height * width * count)
    votes = votes.reshape(height * width, count)
    hit = votes.sum(1) > 0
    out[hit] = votes[hit].argmax(1)
    return out.reshape(height, width)


@dataclass(frozen=True)
class LayerMatch:
    """Predicted layers matched to ground-truth layers over the event pixels of a window.

    Attributes (each ``(G,)``, one entry per ground-truth layer present on the event pixels):
        gt_ids: ground-truth labels, sorted.
        pred_ids: the matched predicted label, -1 if there were fewer predicted layers.
        iou: IoU over the event pixels (0 when unmatched).
        intersection, false_positives, gt_area: event-pixel counts.
    """

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    iou: np.ndarray
    intersection: np.ndarray
    false_positives: np.ndarray
    gt_area: np.ndarray

    @property
    def detected(self) -> np.ndarray:
        """``(G,)`` bool: ``IoU >= 0.5`` and intersection >= false positives."""
        return (self.iou >= 0.5) & (self.intersection >= self.false_positives)


def match_event_layers(
    pred_labels: np.ndarray | torch.Tensor,
    gt_labels: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor,
) -> LayerMatch:
    """Hungarian matching (max total IoU) of predicted to ground-truth layers on ``valid``.

    Args:
        pred_labels: ``(H, W)`` non-negative predicted labels.
        gt_labels: ``(H, W)`` ground-truth labels (``< 0``: unknown, left out).
        valid: ``(H, W)`` bool, the event pixels.
    """
    pred, gt, keep = _numpy(pred_labels), _numpy(gt_labels), _numpy(valid).astype(bool)
    if not pred.shape == gt.shape == keep.shape or pred.ndim != 2:
        raise ShapeError(
            f"pred {pred.shape}, gt {gt.shape} and valid {keep.shape} must be one (H, W)"
        )
    keep = keep & (gt >= 0)
    pred = pred.astype(np.int64)
    gt = np.where(gt >= 0, gt, 0).astype(np.int64)
    gt_ids = np.unique(gt[keep])
    pred_ids = np.unique(pred[keep]) if keep.any() else np.zeros(0, np.int64)
    inter, pred_area, gt_area = overlap_counts(pred, gt, pred_ids.tolist(), gt_ids.tolist(), ~keep)
    if len(pred_ids) == 0:  # no event pixel at all: nothing is matched
        zeros = np.zeros(len(gt_ids), np.int64)
        return LayerMatch(gt_ids, zeros - 1, zeros.astype(np.float64), zeros, zeros, gt_area)
    iou_table = inter / np.maximum(pred_area[:, None] + gt_area[None, :] - inter, 1)
    rows = assign(iou_table)
    matched = rows >= 0
    safe, columns = np.where(matched, rows, 0), np.arange(len(gt_ids))
    intersection = np.where(matched, inter[safe, columns], 0)
    return LayerMatch(
        gt_ids=gt_ids,
        pred_ids=np.where(matched, pred_ids[safe], -1),
        iou=np.where(matched, iou_table[safe, columns], 0.0),
        intersection=intersection,
        false_positives=np.where(matched, pred_area[safe] - intersection, 0),
        gt_area=np.asarray(gt_area, dtype=np.int64),
    )


def flow_epe(
    pred_flow: np.ndarray | torch.Tensor,
    gt_flow: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor | None = None,
) -> float:
    """Mean end-point error of ``(2, H, W)`` flows over ``valid`` ``(H, W)`` (default: all
    pixels); NaN when no pixel is valid."""
    pred, gt = _numpy(pred_flow).astype(np.float64), _numpy(gt_flow).astype(np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[0] != 2:
        raise ShapeError(f"flows must be one (2, H, W), got {pred.shape} and {gt.shape}")
    error = np.sqrt(((pred - gt) ** 2).sum(0))
    keep = np.ones(error.shape, bool) if valid is None else _numpy(valid).astype(bool)
    return float(error[keep].mean()) if keep.any() else float("nan")


def layer_flow(
    labels: np.ndarray | torch.Tensor, theta: np.ndarray | torch.Tensor, model: str = "affine"
) -> np.ndarray:
    """Flow ``(2, H, W)`` of a layered scene: at each pixel, the motion model of its layer.

    Args:
        labels: ``(H, W)`` layer index of each pixel, in ``[0, K)`` (negative: layer 0).
        theta: ``(K, 2, J)`` motion models (`motionlayers.motion` convention).
    """
    lab = np.clip(_numpy(labels).astype(np.int64), 0, None)
    th = torch.as_tensor(_numpy(theta), dtype=torch.float64)
    if th.ndim != 3 or th.shape[1] != 2:
        raise ShapeError(f"theta: expected (K, 2, J), got {tuple(th.shape)}")
    if lab.max(initial=0) >= th.shape[0]:
        raise ShapeError(f"labels reach {lab.max()} but theta has {th.shape[0]} layers")
    dense = render(th[None], model, *lab.shape)[0].numpy()  # (K, 2, H, W)
    return np.take_along_axis(dense, lab[None, None].repeat(2, axis=1), axis=0)[0]


def score_event_window(
    pred_labels: np.ndarray | torch.Tensor,
    gt_labels: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor,
    pred_flow: np.ndarray | torch.Tensor | None = None,
    gt_flow: np.ndarray | torch.Tensor | None = None,
    background: int = 0,
) -> dict[str, float]:
    """Scores of one window: ``iou`` (mean over ground-truth layers), ``object_iou`` (mean over
    layers other than ``background``), ``detection_rate`` (over those objects; NaN without
    objects) and ``epe`` (NaN without flows)."""
    match = match_event_layers(pred_labels, gt_labels, valid)
    objects = match.gt_ids != background
    nan = float("nan")
    epe = nan
    if pred_flow is not None and gt_flow is not None:
        keep = _numpy(valid).astype(bool) & (_numpy(gt_labels) >= 0)
        epe = flow_epe(pred_flow, gt_flow, keep)
    return {
        "iou": float(match.iou.mean()) if len(match.iou) else nan,
        "object_iou": float(match.iou[objects].mean()) if objects.any() else nan,
        "detection_rate": float(match.detected[objects].mean()) if objects.any() else nan,
        "epe": epe,
    }
