"""Temporal smoothing of linked soft masks.

One flow field per frame gives masks that flicker: a layer's support jumps where the flow of one
pair is noisy. Once the layers are linked (`motionlayers.postprocess.link_masks`, so that channel
k is the same layer in every frame), the mean of each frame's masks with those of its ``radius``
neighbours on each side (fewer at the ends of the sequence) keeps what the frames agree on. The
masks still sum to 1 over K. Given the flow, the neighbours are first carried along it to the
frame (motion-compensated averaging), so that a moving object is averaged with itself.

Measured on DAVIS-2016 train (first 10 scored frames per sequence, shipped K = 2 model, border
rule, boundaries snapped): J 58.3 without, 59.6 with ``radius = 1``, 59.7 with 2, 58.6 with 3.
Along the flow (every third scored frame, with the colour and shape steps): 59.2 -> 59.4 with
radius 1, 57.0 -> 57.3 before the shape steps (radius 2: 57.0); 1.7 ms per frame at 128x224.
"""

from __future__ import annotations

import torch

from motionlayers.defaults import TEMPORAL_RADIUS
from motionlayers.errors import InputError, ShapeError
from motionlayers.flow.warp import inside, pixel_grid, sample_at

__all__ = ["TEMPORAL_RADIUS", "smooth_masks"]


def smooth_masks(
    masks: torch.Tensor, radius: int = TEMPORAL_RADIUS, flows: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over ``t - radius .. t + radius`` (clipped to the sequence) of linked soft masks
    ``(T, K, H, W)``; a new tensor of the same shape. ``radius = 0`` returns a copy.

    With the sequence's forward flows ``(T, 2, H, W)`` (pixels, frame t to t + 1), the
    neighbours' masks are first carried to frame t along the flow, so that a moving object's
    mask is averaged with itself rather than with where it was; a pixel whose path leaves the
    image does not count that neighbour.
    """
    if masks.ndim != 4:
        raise ShapeError(f"smooth_masks: expected (T, K, H, W), got {tuple(masks.shape)}")
    if radius < 0:
        raise InputError("temporal radius", f"must be >= 0, got {radius}")
    if flows is not None and (
        flows.ndim != 4
        or flows.shape[1] != 2
        or flows.shape[0] != masks.shape[0]
        or flows.shape[-2:] != masks.shape[-2:]
    ):
        raise ShapeError(
            f"smooth_masks: flows {tuple(flows.shape)} do not match masks {tuple(masks.shape)}"
        )
    if radius == 0 or masks.shape[0] < 2:
        return masks.clone()
    if flows is not None:
        return _warped_mean(masks, flows.to(masks.dtype), radius)
    total, count = masks.clone(), torch.ones(masks.shape[0], device=masks.device)
    for shift in range(1, min(radius, masks.shape[0] - 1) + 1):  # no float64 copy of the video
        total[shift:] += masks[:-shift]
        total[:-shift] += masks[shift:]
        count[shift:] += 1
        count[:-shift] += 1
    return total / count.to(masks.dtype).view(-1, 1, 1, 1)


INVERSE_ITERATIONS = 3
"""Fixed-point iterations that invert a forward flow (`_warped_mean`'s backward neighbours)."""


def _warped_mean(masks: torch.Tensor, flows: torch.Tensor, radius: int) -> torch.Tensor:
    """`smooth_masks` along the flow. Frame t's pixel x is at ``p_{k} = p_{k-1} + f_{t+k-1}
    (p_{k-1})`` in frame t + k; in frame t - k it is at the ``y`` with ``y + f_{t-k}(y) =
    p_{k-1}``, found by fixed-point iterations (exact for a locally constant flow)."""
    frames, _, height, width = masks.shape
    grid = pixel_grid(height, width, masks)
    total = masks.clone()
    count = torch.ones(frames, 1, height, width, dtype=masks.dtype, device=masks.device)
    reach = min(radius, frames - 1)
    # forward: rows t in [0, T - k) of frame t + k
    position, alive = grid.expand(frames, -1, -1, -1).contiguous(), None
    for k in range(1, reach + 1):
        position = position[: frames - k]
        position = position + sample_at(flows[k - 1 : frames - 1], position)
        alive = inside(position) if alive is None else alive[: frames - k] & inside(position)
        weight = alive.to(masks.dtype)
        total[: frames - k] += weight * sample_at(masks[k:], position)
        count[: frames - k] += weight
    # backward: rows t in [k, T) of frame t - k
    position, alive = grid.expand(frames, -1, -1, -1).contiguous(), None
    for k in range(1, reach + 1):
        target = position[1:]
        flow = flows[: frames - k]
        position = target
        for _ in range(INVERSE_ITERATIONS):
            position = target - sample_at(flow, position)
        alive = inside(position) if alive is None else alive[1:] & inside(position)
        weight = alive.to(masks.dtype)
        total[k:] += weight * sample_at(masks[: frames - k], position)
        count[k:] += weight
    return total / count
