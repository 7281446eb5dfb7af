"""Temporal smoothing of linked soft masks.

One flow field per frame gives masks that flicker: a layer's support jumps where the flow of one
pair is noisy. Once the layers are linked (`motionlayers.postprocess.link_masks`, so that channel
k is the same layer in every frame), the mean of each frame's masks with those of its ``radius``
neighbours on each side (fewer at the ends of the sequence) keeps what the frames agree on. The
masks still sum to 1 over K.

Measured on DAVIS-2016 train (first 10 scored frames per sequence, shipped K = 2 model, border
rule, boundaries snapped): J 58.3 without, 59.6 with ``radius = 1``, 59.7 with 2, 58.6 with 3.
"""

from __future__ import annotations

import torch

from motionlayers.errors import InputError, ShapeError

__all__ = ["TEMPORAL_RADIUS", "smooth_masks"]

TEMPORAL_RADIUS = 1
"""Default half-width of the temporal window, in frames (three frames in all)."""


def smooth_masks(masks: torch.Tensor, radius: int = TEMPORAL_RADIUS) -> torch.Tensor:
    """Mean over ``t - radius .. t + radius`` (clipped to the sequence) of linked soft masks
    ``(T, K, H, W)``; a new tensor of the same shape. ``radius = 0`` returns a copy."""
    if masks.ndim != 4:
        raise ShapeError(f"smooth_masks: expected (T, K, H, W), got {tuple(masks.shape)}")
    if radius < 0:
        raise InputError("temporal radius", f"must be >= 0, got {radius}")
    if radius == 0 or masks.shape[0] < 2:
        return masks.clone()
    frames = masks.shape[0]
    # Cumulative sums give every window's sum at once; float64 keeps long sequences exact.
    total = torch.cat([masks.new_zeros(1, *masks.shape[1:]), masks]).double().cumsum(0)
    t = torch.arange(frames, device=masks.device)
    low, high = (t - radius).clamp(min=0), (t + radius + 1).clamp(max=frames)
    count = (high - low).to(total.dtype).view(-1, 1, 1, 1)
    return ((total[high] - total[low]) / count).to(masks.dtype)
