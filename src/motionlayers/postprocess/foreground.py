"""Which layer is the background, without ground truth.

Two rules: ``"largest"`` (the largest layer is the background) and ``"border"`` (the layer whose
motion model explains the most pixels of the image border; a camera's motion shows on the whole
border, while objects rarely cover it, so the rule survives a large foreground object and the
parallax of a near background better than the area).

`absorb_explained` then hands back to the background every foreground segment (connected
component) whose flow the background's motion model already explains. The EM loss cannot tell
such a segment apart (a pixel that both layers' models explain costs the same in either layer),
so a network may leave stray blobs of background in an object layer; measured on DAVIS-2016
train with the shipped model, absorbing them raised J from 0.413 to 0.467 (docs/benchmarks.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from motionlayers.defaults import EXPLAINED_RATIO, FOREGROUND_CUT, FOREGROUND_RULES
from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import distance_map, render
from motionlayers.postprocess.upsample import masks_to_labels


def border_band(height: int, width: int, band: int) -> torch.Tensor:
    """``(H, W)`` bool: the pixels within ``band`` pixels of the image border."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    band = max(1, min(band, height // 2, width // 2))
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return mask


def background_layers(
    labels: torch.Tensor,
    rule: str = "border",
    flow: torch.Tensor | None = None,
    theta: torch.Tensor | None = None,
    model: str = "quadratic12",
    band: int = 4,
    cut: int = FOREGROUND_CUT,
) -> torch.Tensor:
    """Index of the background layer of each frame.

    Args:
        labels: ``(B, H, W)`` int labels in ``[0, K)``.
        rule: ``"largest"`` or ``"border"``.
        flow: ``(B, 2, H, W)`` and theta ``(B, K, 2, J)``: with both, ``"border"`` counts the
            border pixels each layer's model explains best (smallest L1 residual); without them,
            the border pixels each layer covers.
        band: border width in pixels.
        cut: the frames are taken as consecutive cuts of ``cut`` frames (the first at frame
            0; the last may be shorter), whose linked labels share one background: the rule's
            counts are summed over each cut. 1: every frame alone.

    Returns:
        ``(B,)`` int64.
    """
    if cut < 1:
        raise InputError("cut", f"must be at least 1, got {cut}")
    if labels.ndim != 3:
        raise ShapeError(f"background_layers: expected (B, H, W) labels, got {labels.shape}")
    if rule not in FOREGROUND_RULES:
        raise InputError(
            "foreground rule", f"unknown rule {rule!r}; valid: {', '.join(FOREGROUND_RULES)}"
        )
    layers = int(labels.max()) + 1 if theta is None else theta.shape[1]
    if rule == "largest":
        counts = torch.stack([torch.bincount(f.reshape(-1), minlength=layers) for f in labels])
        return _per_cut(counts, cut).argmax(1)
    height, width = labels.shape[-2:]
    ring = border_band(height, width, band).to(labels.device)
    if flow is not None and theta is not None:
        residual = flow.unsqueeze(1) - render(theta, model, height, width)
        best = distance_map(residual, "l1", dim=2).min(1).indices  # (B, H, W); see masks_to_labels
    else:
        best = labels
    counts = torch.stack([torch.bincount(f[ring], minlength=layers) for f in best.long()])
    return _per_cut(counts, cut).argmax(1)


def _per_cut(counts: torch.Tensor, cut: int) -> torch.Tensor:
    """``(B, K)`` counts with each frame's row replaced by the sum over its cut."""
    if cut == 1:
        return counts
    group = torch.arange(len(counts), device=counts.device) // cut
    sums = torch.zeros(int(group[-1]) + 1, counts.shape[1], dtype=counts.dtype)
    sums = sums.to(counts.device).index_add_(0, group, counts)
    return sums[group]


def foreground_masks(labels: torch.Tensor | np.ndarray, background: torch.Tensor) -> np.ndarray:
    """Binary foreground ``(B, H, W)`` uint8 in {0, 255}: every layer but the background."""
    labels_t = torch.as_tensor(labels)
    fg = labels_t != background.to(labels_t.device).view(-1, 1, 1)
    return fg.cpu().numpy().astype(np.uint8) * 255


def absorb_explained(
    masks: torch.Tensor,
    background: torch.Tensor,
    flow: torch.Tensor,
    theta: torch.Tensor,
    model: str = "quadratic12",
    ratio: float = EXPLAINED_RATIO,
    floor: float = 0.05,
) -> torch.Tensor:
    """Move the foreground segments that the background motion explains into the background.

    A connected component of a foreground label is absorbed when the median end-point error of
    the background model over it is below ``ratio`` times that error's median over the
    background pixels (at least ``floor`` pixels): it then moves as the background does. If every
    foreground component of a frame would go, the least explained one stays, so that a frame
    with a moving object keeps one.

    Args:
        masks: ``(B, K, H, W)`` soft masks (their argmax are the labels).
        background: ``(B,)`` background layer of each frame (`background_layers`).
        flow: ``(B, 2, H, W)`` flow in pixels.
        theta: ``(B, K, 2, J)`` per-layer models of ``model`` (only the background's is read).
        ratio: threshold as a multiple of the background's median error; 0 absorbs nothing.

    Returns:
        ``(B, K, H, W)`` masks where absorbed pixels are one-hot on the background layer.
    """
    if masks.ndim != 4 or flow.shape[0] != masks.shape[0] or flow.shape[-2:] != masks.shape[-2:]:
        raise ShapeError(
            f"absorb_explained: masks (B, K, H, W) and flow (B, 2, H, W) must agree, got "
            f"{tuple(masks.shape)} and {tuple(flow.shape)}"
        )
    if ratio <= 0:
        return masks
    height, width = masks.shape[-2:]
    index = torch.arange(len(masks), device=masks.device)
    bg_theta = theta[index, background.to(masks.device)]  # (B, 2, J)
    residual = flow - render(bg_theta[:, None], model, height, width)[:, 0]
    error = (residual[:, 0] ** 2 + residual[:, 1] ** 2).sqrt()  # norm(dim=1) is slow on CPU
    labels = masks_to_labels(masks).cpu().numpy()
    error_np = error.cpu().numpy()
    out = masks.clone()
    for t in range(len(masks)):
        bg = int(background[t])
        foreground = labels[t] != bg
        if not foreground.any() or foreground.all():
            continue
        threshold = ratio * max(float(np.median(error_np[t][~foreground])), floor)
        absorbed = _explained_components(labels[t], foreground, error_np[t], threshold)
        if absorbed.any():
            where = torch.from_numpy(absorbed).to(masks.device)
            out[t][:, where] = 0.0
            out[t, bg][where] = 1.0
    return out


def _explained_components(
    labels: np.ndarray, foreground: np.ndarray, error: np.ndarray, threshold: float
) -> np.ndarray:
    """``(H, W)`` bool: the foreground components (per label) with median error < threshold,
    all but the least explained one if that would be every component."""
    parts: list[tuple[float, np.ndarray]] = []
    for value in np.unique(labels[foreground]):
        count, components = cv2.connectedComponents(
            (labels == value).astype(np.uint8), connectivity=8
        )
        for c in range(1, count):
            inside = components == c
            parts.append((float(np.median(error[inside])), inside))
    absorbed = [inside for median, inside in parts if median < threshold]
    if len(absorbed) == len(parts):
        keep = max(range(len(parts)), key=lambda i: parts[i][0])
        absorbed = [inside for i, (_, inside) in enumerate(parts) if i != keep]
    result = np.zeros(labels.shape, dtype=bool)
    for inside in absorbed:
        result |= inside
    return result
