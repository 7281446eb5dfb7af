"""The foreground refined by the frame's colours (a one-step, per-frame colour model).

Flow computed at 128x224 bleeds into the textureless background next to a moving object (sky
beside a sail, road under a scooter) and misses the object's parts that barely move; both share
their colours with regions that the motion layers get right elsewhere in the frame. Histograms
of the colours well inside the foreground and well inside the background (the snapped labels,
eroded) give a log-likelihood ratio per colour, added to the motion's foreground logit; the
result is snapped to the frame's edges like the labels (`guided.guided_filter`) and thresholded.
This is the first step of GrabCut (Rother et al. 2004), without its graph cut or iterations.

Measured on DAVIS-2016 train (shipped K = 2 model, border rule, every third scored frame of the
30 sequences, flow oversampled 3x): J 56.5 -> 57.1 with weight 0.5 (57.0 with 1, and with 1 on
2x-oversampled flow 55.5 -> 56.3, 55.5 with 2); 16 sequences gain more than 0.3 points, 7 lose
(``docs/benchmarks.md``).

Convention: frames ``(H, W, 3)`` uint8 BGR; probabilities and masks ``(H, W)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from motionlayers.defaults import COLOUR_WEIGHT
from motionlayers.errors import ShapeError
from motionlayers.postprocess.guided import (
    SNAP_EPS,
    SNAP_SUBSAMPLE,
    frame_guide,
    guided_filter,
    radius_pixels,
)

COLOUR_BITS = 4
"""Bits kept per colour channel for the histograms (16^3 bins)."""
COLOUR_ERODE = 1 / 32
"""Erosion of the foreground and background before their colours are counted, a fraction of the
frame height (15 pixels at 480 rows): the labels' boundaries are the least reliable pixels."""
PROBABILITY_CLIP = 0.03
"""The motion's probabilities are clipped to ``[c, 1 - c]`` so that colour can overturn them."""
MIN_PIXELS = 100
"""Fewer eroded pixels than this on either side: no colour model, the foreground is kept."""


def colour_log_ratio(
    frame: np.ndarray,
    foreground: np.ndarray,
    bits: int = COLOUR_BITS,
    erode: float = COLOUR_ERODE,
    prior: float = 1.0,
) -> np.ndarray | None:
    """``log P(colour | fg) - log P(colour | bg)`` ``(H, W)`` float32 at every pixel of ``frame``.

    The two histograms (``2^(3 bits)`` bins, ``prior`` added to every bin) count the colours of
    ``foreground`` ``(H, W)`` bool and of its complement, each eroded by ``erode`` of the frame
    height. None when either side keeps fewer than `MIN_PIXELS` pixels.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[:2] != foreground.shape:
        raise ShapeError(
            f"colour_log_ratio: frame (H, W, 3) and foreground (H, W) must agree, got "
            f"{frame.shape} and {foreground.shape}"
        )
    size = radius_pixels(erode, frame.shape[0])
    kernel = np.ones((size, size), np.uint8)
    inside = cv2.erode(foreground.astype(np.uint8), kernel).astype(bool)
    outside = cv2.erode((~foreground).astype(np.uint8), kernel).astype(bool)
    if inside.sum() < MIN_PIXELS or outside.sum() < MIN_PIXELS:
        return None
    shift = 8 - bits
    channels = [(frame[..., c] >> shift).astype(np.int32) for c in range(3)]
    colour = (channels[0] << (2 * bits)) | (channels[1] << bits) | channels[2]
    bins = 1 << (3 * bits)
    fg_hist = np.bincount(colour[inside], minlength=bins) + prior
    bg_hist = np.bincount(colour[outside], minlength=bins) + prior
    table = np.log(fg_hist / fg_hist.sum()) - np.log(bg_hist / bg_hist.sum())
    return table.astype(np.float32)[colour]


def colour_foreground(
    frame: np.ndarray,
    motion_probability: np.ndarray,
    foreground: np.ndarray,
    weight: float = COLOUR_WEIGHT,
    radius: float = 0.0,
    eps: float = SNAP_EPS,
    subsample: int = SNAP_SUBSAMPLE,
) -> np.ndarray:
    """The foreground ``(H, W)`` bool after the colour step.

    Args:
        frame: ``(H, W, 3)`` uint8 BGR.
        motion_probability: ``(H, W)`` the motion layers' foreground probability (upsampled).
        foreground: ``(H, W)`` bool, the current foreground (snapped labels), source of the
            colour model.
        weight: multiplier of the colour log-likelihood ratio; 0 returns ``foreground``.
        radius: guided filter radius for the combined probability, a fraction of the frame
            height as `guided.snap_labels`' (0: no filter); ``eps``, ``subsample`` as there.
    """
    if motion_probability.shape != foreground.shape:
        raise ShapeError(
            f"colour_foreground: motion probability {motion_probability.shape} and foreground "
            f"{foreground.shape} must agree"
        )
    if weight <= 0:
        return foreground
    ratio = colour_log_ratio(frame, foreground)
    if ratio is None:
        return foreground
    p = np.clip(motion_probability.astype(np.float32), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    logit = np.log(p / (1 - p)) + np.float32(weight) * ratio
    combined = (1 / (1 + np.exp(-logit))).astype(np.float32)
    if radius > 0:
        pixels, guide = radius_pixels(radius, frame.shape[0]), frame_guide(frame)
        combined = guided_filter(guide, combined[..., None], pixels, eps, subsample)[..., 0]
    return combined > 0.5
