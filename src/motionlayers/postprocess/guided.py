"""Layer boundaries snapped to the image's edges by a colour guided filter (He et al. 2013).

The layers come from flow computed at 128x224: upsampled to the frame, their boundaries are blurry
and offset by flow's own smoothing. The guided filter models the output as locally affine in the
frame's colours, ``q = a^T I + b`` in every window of radius ``r``, fitted by least squares to
the input ``p`` (ridge ``eps``): where the colours change, the layers change. Filtering every
layer's one-hot map (the regression is linear in ``p``, so the K maps share one 3x3 covariance
per pixel) and taking the argmax gives labels whose boundaries follow the frame. The fast variant
(He and Sun 2015) fits ``a, b`` on the frame subsampled by ``subsample`` and upsamples them.

Measured on DAVIS-2016 train (`benchmarks/davis_segmentation.py`, shipped K = 2 model, border
rule): J 47.1 -> 58.3 on the first 10 scored frames per sequence, 46.0 -> 56.0 on the whole split
with 3-frame smoothing. Swept on 3 frames per sequence (46.4 unsnapped) at 480 rows, colour
guide, eps 1e-4: radius 48 / 64 / 80 px give 56.1 / 57.7 / 56.8, hence 0.133 of the height; a
grey-level guide reaches 51.3 at best (``docs/benchmarks.md``). With the colour step and the
shape steps after it (every third scored frame), 0.08 / 0.1 / 0.133 of the height give 59.9 /
60.3 / 60.1 at explained ratio 4, and 0.1 / 0.133 / 0.17 give 59.7 / 59.4 / 57.6 at ratio 6: the
default is now 0.1 (48 px at 480 rows).

Convention: frames ``(H, W, 3)`` uint8 BGR (OpenCV); labels ``(H, W)`` integers in ``[0, K)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from motionlayers.defaults import SNAP_RADIUS
from motionlayers.errors import InputError, ShapeError
from motionlayers.postprocess.upsample import resize_channels

__all__ = [
    "SNAP_EPS",
    "SNAP_RADIUS",
    "SNAP_SUBSAMPLE",
    "guided_filter",
    "snap_labels",
]

SNAP_EPS = 1e-4
"""Default ridge on the colour covariance (colours in [0, 1])."""
SNAP_SUBSAMPLE = 4
"""Default subsampling of the fast guided filter."""


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over ``(2 r + 1)^2`` windows (reflected borders), channels kept."""
    size = (2 * radius + 1, 2 * radius + 1)
    out = cv2.boxFilter(image, -1, size, borderType=cv2.BORDER_REFLECT)
    return out.reshape(image.shape)  # OpenCV drops a trailing channel axis of length 1


def _solve_3x3(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^-1 rhs`` for symmetric positive definite ``(..., 3, 3)`` matrices and ``(..., 3,
    L)`` right-hand sides, by cofactors (several times faster than batched `np.linalg.solve`)."""
    a, b, c = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
    d, e, f = matrix[..., 1, 1], matrix[..., 1, 2], matrix[..., 2, 2]
    i00, i01, i02 = d * f - e * e, c * e - b * f, b * e - c * d
    i11, i12, i22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * i00 + b * i01 + c * i02
    inverse = (
        np.stack(
            [
                np.stack([i00, i01, i02], -1),
                np.stack([i01, i11, i12], -1),
                np.stack([i02, i12, i22], -1),
            ],
            -2,
        )
        / det[..., None, None]
    )
    return np.einsum("...ij,...jl->...il", inverse, rhs)


def guided_filter(
    guide: np.ndarray, source: np.ndarray, radius: int, eps: float = SNAP_EPS, subsample: int = 1
) -> np.ndarray:
    """Colour guided filter of every channel of ``source`` ``(H, W, L)`` by ``guide`` ``(H, W,
    3)`` (float, about [0, 1]); ``radius`` in pixels of the full image; the coefficients are
    fitted at ``1/subsample`` of the size. Returns ``(H, W, L)`` float32."""
    if guide.ndim != 3 or guide.shape[2] != 3:
        raise ShapeError(f"guided_filter: guide must be (H, W, 3), got {guide.shape}")
    if source.ndim != 3 or source.shape[:2] != guide.shape[:2]:
        raise ShapeError(
            f"guided_filter: source must be (H, W, L) with (H, W) = {guide.shape[:2]}, got "
            f"{source.shape}"
        )
    if radius < 1 or subsample < 1 or eps <= 0:
        raise InputError("guided filter", "needs radius >= 1, subsample >= 1 and eps > 0")
    height, width = guide.shape[:2]
    full = guide.astype(np.float32, copy=False)
    small = (max(1, round(height / subsample)), max(1, round(width / subsample)))
    guide_s = resize_channels(full, *small, cv2.INTER_AREA)
    source_s = resize_channels(source.astype(np.float32, copy=False), *small, cv2.INTER_AREA)
    r = max(1, round(radius / subsample))
    grid, layers = guide_s.shape[:2], source_s.shape[2]
    mean_i, mean_p = _box(guide_s, r), _box(source_s, r)  # (h, w, 3), (h, w, L)
    cross = (guide_s[..., :, None] * source_s[..., None, :]).reshape(*grid, 3 * layers)
    cov_ip = _box(cross, r).reshape(*grid, 3, layers) - mean_i[..., :, None] * mean_p[..., None, :]
    outer = (guide_s[..., :, None] * guide_s[..., None, :]).reshape(*grid, 9)
    var_i = _box(outer, r).reshape(*grid, 3, 3) - mean_i[..., :, None] * mean_i[..., None, :]
    var_i += eps * np.eye(3, dtype=np.float32)
    a = _solve_3x3(var_i, cov_ip)  # (h, w, 3, L)
    b = mean_p - (a * mean_i[..., None]).sum(-2)
    mean_a = resize_channels(_box(a.reshape(*grid, 3 * layers), r), height, width)
    out = resize_channels(_box(b, r), height, width)
    mean_a = mean_a.reshape(height, width, 3, layers)
    for channel in range(3):  # q = mean_a^T I + mean_b, channel by channel (no 4-D temporary)
        out += mean_a[:, :, channel] * full[:, :, channel : channel + 1]
    return out


def radius_pixels(radius: float, height: int) -> int:
    """A filter radius given as a fraction of the frame ``height``, in pixels (at least 1)."""
    return max(1, round(radius * height))


def frame_guide(frame: np.ndarray) -> np.ndarray:
    """The guide of a frame ``(H, W, 3)`` uint8: float32 colours in ``[0, 1]``."""
    return frame.astype(np.float32) * np.float32(1 / 255)


def snap_labels(
    labels: np.ndarray,
    frame: np.ndarray,
    layers: int,
    radius: float = SNAP_RADIUS,
    eps: float = SNAP_EPS,
    subsample: int = SNAP_SUBSAMPLE,
) -> np.ndarray:
    """Labels ``(H, W)`` uint8 of ``labels`` (``(H, W)`` in ``[0, layers)``) whose boundaries
    follow the edges of ``frame`` (``(H, W, 3)`` uint8 BGR): the argmax over layers of the
    guided-filtered one-hot maps, ``radius`` a fraction of the frame height."""
    if frame.ndim != 3 or frame.shape[:2] != labels.shape:
        raise ShapeError(
            f"snap_labels: frame (H, W, 3) and labels (H, W) must agree, got {frame.shape} and "
            f"{labels.shape}"
        )
    if radius <= 0:
        return labels.astype(np.uint8)
    pixels = radius_pixels(radius, frame.shape[0])
    guide = frame_guide(frame)
    if layers == 2:  # the filter is linear and keeps constants: q_0 = 1 - q_1
        filtered = guided_filter(
            guide, (labels == 1).astype(np.float32)[..., None], pixels, eps, subsample
        )
        return (filtered[..., 0] > 0.5).astype(np.uint8)
    one_hot = (labels[..., None] == np.arange(layers)).astype(np.float32)
    filtered = guided_filter(guide, one_hot, pixels, eps, subsample)
    return filtered.argmax(-1).astype(np.uint8)
