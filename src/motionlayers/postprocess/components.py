"""Connected components of label maps: removal of small segments, and of foreground segments
that hug the image border (the boundary-connectivity prior), holes of the foreground."""

from __future__ import annotations

import cv2
import numpy as np

from motionlayers.defaults import BORDER_CONTACT_LIMIT, HOLE_FRACTION
from motionlayers.errors import ShapeError


def _check(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ShapeError(f"expected (H, W) labels, got {labels.shape}")
    return labels.astype(np.int64, copy=False)


def connected_components(labels: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Split every label of ``(H, W)`` labels into its connected components.

    Returns:
        ``(H, W)`` int64 region ids ``0 .. R-1``, numbered by label then by OpenCV's scan order.
    """
    labels = _check(labels)
    regions = np.zeros(labels.shape, dtype=np.int64)
    count = 0
    for value in np.unique(labels):
        n, parts = cv2.connectedComponents(
            (labels == value).astype(np.uint8), connectivity=connectivity
        )
        inside = parts > 0
        regions[inside] = parts[inside] + count - 1
        count += n - 1
    return regions


def remove_small_segments(labels: np.ndarray, min_size: int, connectivity: int = 8) -> np.ndarray:
    """Merge every connected component smaller than ``min_size`` pixels into a neighbour.

    A small component takes the label that is most frequent on its outer border (its one-pixel
    dilation ring); components are processed from the smallest up, so chains of small pieces
    merge correctly. A label covering the whole image is left alone.

    Args:
        labels: ``(H, W)`` integer labels.

    Returns:
        ``(H, W)`` int64 labels (the same label values, fewer components).
    """
    out = _check(labels).copy()
    regions = connected_components(out, connectivity)
    sizes = np.bincount(regions.reshape(-1))
    kernel = np.ones((3, 3), np.uint8)
    for region in np.argsort(sizes, kind="stable"):
        if sizes[region] >= min_size:
            break
        inside = regions == region
        ring = cv2.dilate(inside.astype(np.uint8), kernel).astype(bool) & ~inside
        if not ring.any():
            continue
        neighbours = out[ring]
        out[inside] = np.bincount(neighbours).argmax()
    return out


def border_contact(
    components: np.ndarray, count: int, areas: np.ndarray | None = None
) -> np.ndarray:
    """Boundary connectivity of each component: its pixels on the image's outermost ring over
    the square root of its area (Zhu et al. 2014, "Saliency optimization from robust background
    detection"). Unitless and the same at any resolution: 0 for a segment inside the frame,
    about 1 for a half-disc on an edge, large for a band along the border.

    Args:
        components: ``(H, W)`` int component ids in ``[0, count)``.
        areas: ``(count,)`` pixel counts when the caller has them (OpenCV's stats).

    Returns:
        ``(count,)`` float64.
    """
    ring = np.concatenate(
        [components[0], components[-1], components[1:-1, 0], components[1:-1, -1]]
    )
    on_ring = np.bincount(ring, minlength=count)
    if areas is None:
        areas = np.bincount(components.reshape(-1), minlength=count)
    return on_ring / np.sqrt(np.maximum(areas, 1))


def drop_border_segments(
    foreground: np.ndarray,
    limit: float = BORDER_CONTACT_LIMIT,
    min_fraction: float = 0.05,
) -> np.ndarray:
    """Remove the foreground segments that hug the image border when a segment inside the frame
    remains.

    A K = 2 motion network puts everything that moves unlike the dominant background in its
    object layer: the object, and also bands of background at another depth (rocks above a
    lawn, the ground below a facade), which reach the border along much of its length. A
    connected component whose `border_contact` is at least ``limit`` is dropped, provided some
    other component has a contact below ``limit`` and at least ``min_fraction`` of the largest
    component's area (so that a speck of noise cannot make a large object that enters the frame
    disappear). A frame whose segments all hug the border is left as it is.

    Args:
        foreground: ``(H, W)`` bool.
        limit: boundary connectivity from which a segment is dropped (<= 0: nothing is).
        min_fraction: smallest area of a segment inside the frame that lets the others go, as a
            fraction of the largest segment's.

    Returns:
        ``(H, W)`` bool, a subset of ``foreground``.
    """
    foreground = _binary(foreground, "drop_border_segments")
    if limit <= 0:
        return foreground.copy()
    count, components, stats, _ = cv2.connectedComponentsWithStats(
        foreground.astype(np.uint8), connectivity=8
    )
    if count <= 2:  # background and at most one segment
        return foreground.copy()
    areas = stats[:, cv2.CC_STAT_AREA]
    contact = border_contact(components, count, areas)
    inner = (contact[1:] < limit) & (areas[1:] >= min_fraction * areas[1:].max())
    dropped = contact >= limit
    dropped[0] = False  # label 0 is the background
    if not inner.any() or not dropped.any():
        return foreground.copy()
    return foreground & ~dropped[components]


def fill_holes(foreground: np.ndarray, max_fraction: float = HOLE_FRACTION) -> np.ndarray:
    """Fill the holes of a foreground: the background's 4-connected components that do not
    reach the image border and cover less than ``max_fraction`` of the foreground's area.

    Flow is smooth inside a moving object, yet a network's object layer often has holes where
    the object's texture is weak; a hole as large as the object itself is more likely real
    background seen through it (between legs, inside a wheel) and stays.

    Args:
        foreground: ``(H, W)`` bool.
        max_fraction: largest hole filled, as a fraction of the foreground's area (<= 0: none).

    Returns:
        ``(H, W)`` bool, a superset of ``foreground``.
    """
    foreground = _binary(foreground, "fill_holes")
    area = int(foreground.sum())
    if max_fraction <= 0 or area == 0:
        return foreground.copy()
    count, components, stats, _ = cv2.connectedComponentsWithStats(
        (~foreground).astype(np.uint8), connectivity=4
    )
    x, y, w, h, size = stats.T
    height, width = foreground.shape
    inside = (x > 0) & (y > 0) & (x + w < width) & (y + h < height)
    holes = inside & (size < max_fraction * area)
    holes[0] = False  # label 0 is the foreground itself
    if not holes.any():
        return foreground.copy()
    return foreground | holes[components]


def _binary(mask: np.ndarray, caller: str) -> np.ndarray:
    """``mask`` as an ``(H, W)`` bool array (no copy when it is one already)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ShapeError(f"{caller}: expected (H, W), got {mask.shape}")
    return mask.astype(bool, copy=False)
