"""Connected components of label maps and removal of small segments."""

from __future__ import annotations

import cv2
import numpy as np

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
