"""Overlays that a person can read: the moving layers highlighted over a dimmed background, each
outlined by its contour and named in a legend.

Colours follow labels (DAVIS palette entry ``label + 1``): the pipeline links layers over time,
so a layer keeps its colour from frame to frame. Label 0 is the background in our outputs.
NumPy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from motionlayers.errors import ShapeError
from motionlayers.io import DAVIS_PALETTE

LAYER_COLOURS_BGR = np.ascontiguousarray(np.roll(DAVIS_PALETTE, -1, axis=0)[:, ::-1])
"""``(256, 3)`` uint8 BGR colour of label ``l``: DAVIS palette entry ``l + 1``."""
LEGEND_MIN_HEIGHT = 64
"""Frames lower than this get no legend (it would cover them)."""


def _check(labels: np.ndarray, shape: tuple[int, ...], what: str) -> None:
    if labels.ndim != 2 or labels.shape != shape[:2]:
        raise ShapeError(f"{what}: labels {labels.shape} do not match the image {shape}")


def layer_names(labels: np.ndarray, background: int = 0) -> list[tuple[int, str]]:
    """``(label, name)`` of the layers present, background first."""
    present = np.flatnonzero(np.bincount(labels.ravel().astype(np.int64), minlength=1))
    names = [(int(k), "background" if k == background else f"layer {k}") for k in present]
    return sorted(names, key=lambda item: (item[0] != background, item[0]))


def frame_overlay(
    frame_bgr: np.ndarray,
    labels: np.ndarray,
    background: int = 0,
    *,
    dim: float = 0.45,
    alpha: float = 0.55,
    contour: int | None = None,
    legend: list[tuple[int, str]] | None = None,
) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR: the background dimmed (grey-ish, times ``dim``), each other
    layer tinted with its colour (``alpha``) and outlined (``contour`` pixels, default scaled
    with the frame), and a legend (``legend``: ``(label, name)`` rows; None: the layers present;
    ``[]``: none)."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        raise ShapeError(f"frame_overlay: expected an (H, W, 3) frame, got {frame_bgr.shape}")
    _check(labels, frame_bgr.shape, "frame_overlay")
    labels = labels.astype(np.uint8, copy=False)
    frame = frame_bgr.astype(np.float32)
    grey = frame.mean(axis=2, keepdims=True)
    dimmed = dim * (0.5 * frame + 0.5 * grey)
    colours = LAYER_COLOURS_BGR[labels].astype(np.float32)
    tinted = (1 - alpha) * frame + alpha * colours
    moving = (labels != background)[..., None]
    out = np.where(moving, tinted, dimmed).round().clip(0, 255).astype(np.uint8)
    thickness = contour if contour is not None else max(1, round(min(labels.shape) / 240))
    _draw_contours(out, labels, background, thickness)
    rows = layer_names(labels, background) if legend is None else legend
    return draw_legend(out, rows)


def _draw_contours(image: np.ndarray, labels: np.ndarray, background: int, thickness: int) -> None:
    for label in np.unique(labels):
        if label == background:
            continue
        mask = (labels == label).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        colour = tuple(int(c) for c in LAYER_COLOURS_BGR[label])
        cv2.drawContours(image, contours, -1, colour, thickness, lineType=cv2.LINE_8)


def draw_legend(image: np.ndarray, rows: list[tuple[int, str]]) -> np.ndarray:
    """``image`` with a semi-transparent legend in its top-left corner: one colour swatch and
    name per ``(label, name)`` row (the background's swatch grey). Drawn in place; returned."""
    height = image.shape[0]
    if not rows or height < LEGEND_MIN_HEIGHT:
        return image
    scale = max(0.35, height / 900)
    line = max(12, round(28 * scale * 1.3))
    text_width = max(
        cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for _, name in rows
    )
    box_w = min(image.shape[1], line + text_width + line // 2)
    box_h = min(height, line * len(rows) + line // 3)
    region = image[:box_h, :box_w]
    region[:] = (region.astype(np.float32) * 0.35).astype(np.uint8)
    for row, (label, name) in enumerate(rows):
        top = line // 6 + row * line
        colour = (128, 128, 128) if name == "background" else LAYER_COLOURS_BGR[label]
        side = line * 2 // 3
        cv2.rectangle(
            image,
            (line // 6, top),
            (line // 6 + side, top + side),
            tuple(int(c) for c in colour),
            -1,
        )
        cv2.putText(
            image,
            name,
            (line, top + side),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return image


def event_overlay(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    background: int = 0,
    *,
    legend: list[tuple[int, str]] | None = None,
) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR of one window of events ``(x, y)``: black where no event fell,
    the background's events dim grey, every other layer's events in its colour, brighter with
    more events; the moving layers outlined and named in a legend (as `frame_overlay`)."""
    height, width = labels.shape if labels.ndim == 2 else (0, 0)
    if labels.ndim != 2 or len(x) != len(y):
        raise ShapeError(f"event_overlay: labels {labels.shape}, x {len(x)}, y {len(y)}")
    labels = labels.astype(np.uint8, copy=False)
    counts = np.bincount(
        np.asarray(y, np.int64) * width + np.asarray(x, np.int64), minlength=height * width
    ).reshape(height, width)
    hit = counts > 0
    level = np.zeros((height, width), np.float32)
    if hit.any():
        level[hit] = np.clip(0.35 + 0.65 * counts[hit] / np.percentile(counts[hit], 95), 0, 1)
    colours = LAYER_COLOURS_BGR[labels].astype(np.float32)
    colours[labels == background] = 110.0
    out = (colours * level[..., None]).astype(np.uint8)
    _draw_contours(out, labels, background, max(1, round(min(height, width) / 240)))
    rows = layer_names(labels, background) if legend is None else legend
    return draw_legend(out, rows)


__all__ = ["LAYER_COLOURS_BGR", "draw_legend", "event_overlay", "frame_overlay", "layer_names"]
