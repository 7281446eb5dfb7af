"""Colour-wheel rendering of optical flow (Middlebury convention, Baker et al., IJCV 2011).

Hue encodes direction and saturation magnitude: zero flow is white, a vector of length
``max_magnitude`` gets the fully saturated wheel colour, longer vectors that colour darkened by
0.75. The wheel has 55 colours in six segments (red-yellow 15, yellow-green 6, green-cyan 4,
cyan-blue 11, blue-magenta 13, magenta-red 6) interpolated linearly. Directions in image
coordinates (y down): right -> red, down -> yellow-orange, left -> cyan, up -> blue-violet.
Non-finite flow is drawn black.
"""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.errors import ShapeError
from motionlayers.flow.resize import from_tensor

SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))


def make_colorwheel() -> np.ndarray:
    """The Middlebury wheel ``(55, 3)`` uint8 RGB, index 0 = red, running red -> yellow -> ..."""
    ry, yg, gc, cb, bm, mr = (n for _, n in SEGMENTS)
    ramps = []
    for n, rising in ((ry, True), (yg, False), (gc, True), (cb, False), (bm, True), (mr, False)):
        up = np.floor(255 * np.arange(n) / n)
        ramps.append(up if rising else 255 - up)
    full = [np.full(n, 255.0) for _, n in SEGMENTS]
    zero = [np.zeros(n) for _, n in SEGMENTS]
    red = np.concatenate([full[0], ramps[1], zero[2], zero[3], ramps[4], full[5]])
    green = np.concatenate([ramps[0], full[1], full[2], ramps[3], zero[4], zero[5]])
    blue = np.concatenate([zero[0], zero[1], ramps[2], full[3], full[4], ramps[5]])
    return np.stack([red, green, blue], axis=1).astype(np.uint8)


def flow_to_color(
    flow: np.ndarray | torch.Tensor, max_magnitude: float | None = None
) -> np.ndarray:
    """Render a flow with the Middlebury colour wheel.

    Args:
        flow: NumPy ``(H, W, 2)`` or torch ``(1, 2, H, W)`` / ``(2, H, W)``, u first, pixels.
        max_magnitude: the length drawn fully saturated; default the largest finite length in
            ``flow`` (so the rendering does not change when the flow is scaled).

    Returns:
        ``(H, W, 3)`` uint8 **RGB** (flip to BGR for OpenCV).
    """
    if isinstance(flow, torch.Tensor):
        flow = from_tensor(flow)
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ShapeError(f"flow: expected shape (H, W, 2), got {flow.shape}")
    finite = np.isfinite(flow).all(axis=2)
    u = np.where(finite, flow[:, :, 0], 0.0)
    v = np.where(finite, flow[:, :, 1], 0.0)
    radius = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(radius.max(initial=0.0))
    if not max_magnitude > 0:
        max_magnitude = 1.0
    wheel = make_colorwheel().astype(np.float64) / 255
    ncols = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    position = (angle + 1) / 2 * (ncols - 1)
    k0 = np.floor(position).astype(np.int64)
    k1 = (k0 + 1) % ncols
    fraction = (position - k0)[:, :, None]
    color = (1 - fraction) * wheel[k0] + fraction * wheel[k1]
    radius = (radius / max_magnitude)[:, :, None]
    color = np.where(radius <= 1, 1 - radius * (1 - color), color * 0.75)
    color[~finite] = 0.0
    return np.floor(255 * color).astype(np.uint8)


def colorwheel_legend(size: int = 151, background: int = 255) -> np.ndarray:
    """A legend: the wheel as a disk, centre white, rim the saturated colours.

    Returns:
        ``(size, size, 3)`` uint8 RGB; pixels outside the disk are ``background``.
    """
    if size < 3:
        raise ShapeError(f"colorwheel_legend: size must be at least 3, got {size}")
    centre = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) - centre
    image = flow_to_color(np.stack([xs, ys], axis=2), max_magnitude=centre)
    image[np.hypot(xs, ys) > centre] = background
    return image
