"""The labels that ``segment`` writes for one frame, at the input's size: the working-size soft
masks upsampled, snapped to the frame's edges (`guided.snap_labels`) and the foreground refined
by the frame's colours (`appearance.colour_foreground`)."""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.postprocess.appearance import COLOUR_WEIGHT, colour_foreground
from motionlayers.postprocess.guided import SNAP_RADIUS, snap_labels
from motionlayers.postprocess.upsample import upsample_soft


def frame_labels(
    masks: torch.Tensor,
    height: int,
    width: int,
    frame: np.ndarray | None = None,
    snap_radius: float = SNAP_RADIUS,
    background: int | None = None,
    colour_weight: float = COLOUR_WEIGHT,
) -> np.ndarray:
    """Labels ``(H, W)`` uint8 of one frame's soft masks ``(K, h, w)``.

    The masks are upsampled bilinearly and their argmax taken; given a frame ``(H, W, 3)`` BGR,
    the boundaries are snapped to its edges (``snap_radius`` of the height; 0: off) and, given
    the ``background`` layer too, the foreground is refined by the frame's colours
    (``colour_weight``; 0: off): pixels it hands to the background take the background's label,
    pixels it adds to the foreground their most probable other layer.
    """
    soft = upsample_soft(masks, height, width)
    labels = soft.argmax(-1).astype(np.uint8)
    if frame is None:
        return labels
    layers = soft.shape[-1]
    if snap_radius > 0:
        labels = snap_labels(labels, frame, layers, snap_radius)
    if background is None or colour_weight <= 0:
        return labels
    foreground = labels != background
    motion = 1 - soft[..., background]
    refined = colour_foreground(frame, motion, foreground, colour_weight, snap_radius)
    labels[foreground & ~refined] = background
    gained = refined & ~foreground
    if gained.any():
        others = soft[gained]
        others[:, background] = -1.0
        labels[gained] = others.argmax(-1)
    return labels
