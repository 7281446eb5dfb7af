"""Random smooth object shapes rasterised as binary masks: ellipses, polygons and blobs.

Every shape is star-shaped around a centre and described by its outline, a polygon ``(N, 2)`` of
pixel coordinates (column ``x``, row ``y``; integers are pixel centres). Rasterisation uses
OpenCV's sub-pixel polygon filling, so a shape of a requested area covers that many pixels up to
the outline's aliasing and the part that falls outside the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

SHAPE_KINDS = ("ellipse", "polygon", "blob")
_SHIFT = 4  # sub-pixel bits of cv2.fillPoly


def radial_outline(kind: str, rng: np.random.Generator, points: int = 96) -> np.ndarray:
    """Outline of a random shape of unit-order size around the origin: ``(N, 2)`` float64.

    ``ellipse``: random axes ratio and angle; ``polygon``: 3 to 8 vertices at jittered angles
    (convex or not); ``blob``: a radius that is a smooth random Fourier series of the angle.
    """
    if kind == "polygon":
        count = int(rng.integers(3, 9))
        angles = (np.arange(count) + rng.uniform(-0.3, 0.3, count)) * 2 * np.pi / count
        radii = rng.uniform(0.6, 1.0, count)
    else:
        angles = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
        if kind == "ellipse":
            a, b = 1.0, rng.uniform(0.35, 1.0)
            phase = angles - rng.uniform(0, np.pi)
            radii = a * b / np.sqrt((b * np.cos(phase)) ** 2 + (a * np.sin(phase)) ** 2)
        elif kind == "blob":
            radii = np.ones_like(angles)
            for order in range(2, 6):
                amplitude = rng.uniform(0.0, 0.25 / order)
                radii += amplitude * np.cos(order * angles + rng.uniform(0, 2 * np.pi))
        else:
            raise ValueError(f"unknown shape kind {kind!r}; valid: {', '.join(SHAPE_KINDS)}")
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def rasterize(outline: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fill a polygon ``(N, 2)`` in pixel coordinates into an ``(H, W)`` bool mask."""
    mask = np.zeros((height, width), dtype=np.uint8)
    vertices = np.round(outline * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [vertices.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.astype(bool)


def random_shape(
    rng: np.random.Generator, height: int, width: int, area: float, kind: str | None = None
) -> np.ndarray:
    """A random shape covering about ``area`` pixels (before clipping): ``(H, W)`` bool.

    Args:
        rng: the random generator (consumed).
        height, width: frame size.
        area: target area in pixels.
        kind: one of `SHAPE_KINDS`, or None to draw one.
    """
    kind = kind if kind is not None else SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    outline = radial_outline(kind, rng)
    x, y = outline[:, 0], outline[:, 1]
    unit_area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    outline = outline * np.sqrt(area / max(unit_area, 1e-9))
    extent = np.abs(outline).max(axis=0)
    # The centre stays inside the frame; at most a third of the extent may leave it.
    low = np.minimum(extent * 0.67, [width / 2, height / 2])
    cx = rng.uniform(low[0] - 0.5, width - 0.5 - low[0])
    cy = rng.uniform(low[1] - 0.5, height - 0.5 - low[1])
    return rasterize(outline + np.array([cx, cy]), height, width)
