"""The labels that ``segment`` writes for one frame, at the input's size: the working-size soft
masks upsampled, snapped to the frame's edges (`guided.snap_labels`) and the foreground refined
by the frame's colours (`appearance.colour_foreground`) and by its shape (no segment hugging the
image border, no small holes: `components`)."""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.postprocess.appearance import COLOUR_WEIGHT, colour_foreground
from motionlayers.postprocess.components import (
    BORDER_CONTACT_LIMIT,
    HOLE_FRACTION,
    drop_border_segments,
    fill_holes,
)
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
    border_limit: float = BORDER_CONTACT_LIMIT,
    hole_fraction: float = HOLE_FRACTION,
) -> np.ndarray:
    """Labels ``(H, W)`` uint8 of one frame's soft masks ``(K, h, w)``.

    The masks are upsampled bilinearly and their argmax taken; given a frame ``(H, W, 3)`` BGR,
    the boundaries are snapped to its edges (``snap_radius`` of the height; 0: off). Given the
    ``background`` layer, the foreground is then refined: by the frame's colours
    (``colour_weight``; 0 or no frame: off), without the segments that hug the image border
    (`components.drop_border_segments`, ``border_limit``; 0: off) and with its holes filled
    (`components.fill_holes`, ``hole_fraction``; 0: off). Pixels that leave the foreground take
    the background's label, pixels that join it their most probable other layer.
    """
    soft = upsample_soft(masks, height, width)
    labels = soft.argmax(-1).astype(np.uint8)
    if frame is not None and snap_radius > 0:
        labels = snap_labels(labels, frame, soft.shape[-1], snap_radius)
    if background is None:
        return labels
    foreground = labels != background
    refined = foreground
    if frame is not None and colour_weight > 0:
        motion = 1 - soft[..., background]
        refined = colour_foreground(frame, motion, foreground, colour_weight, snap_radius)
    refined = fill_holes(drop_border_segments(refined, border_limit), hole_fraction)
    labels[foreground & ~refined] = background
    gained = refined & ~foreground
    if gained.any():
        others = soft[gained]
        others[:, background] = -1.0
        labels[gained] = others.argmax(-1)
    return labels
