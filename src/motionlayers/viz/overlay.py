"""Overlays that a person can read: the moving layers tinted and outlined over a dimmed, slightly
desaturated background (or over the events of a window), each named in a legend.

Pictures are ``(H, W, 3)`` uint8 **BGR** (OpenCV's order, what the video writer takes); label
maps ``(H, W)`` integers in ``[0, 255]``; ``background`` names the background layer's label (0 in
our outputs). Colours follow labels (`LAYER_COLOURS_BGR`): the pipeline links layers over time,
so a layer keeps its colour from frame to frame. NumPy and OpenCV only; the heavy per-pixel work
is done by OpenCV (LUT, addWeighted, copyTo) so that an 854x480 frame takes a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from motionlayers.errors import InputError, ShapeError
from motionlayers.io import davis_palette

LAYER_COLOURS_BGR = np.ascontiguousarray(davis_palette(257)[1:, ::-1])
"""``(256, 3)`` uint8 BGR colour of label ``l``: DAVIS palette colour ``l + 1`` (label 0 dark red,
1 green, 2 olive, ...; never black). Read-only."""
LAYER_COLOURS_BGR.setflags(write=False)

BACKGROUND_GREY = 110
"""Grey level of the background's events in `event_overlay` (and of its legend swatch)."""
DESATURATION = 0.3
"""Share of the grey (luminance) mixed into the dimmed background: slightly desaturated."""
REFERENCE_SIZE = 480
"""Frame size (smaller side, pixels) at which a contour is ``contour`` pixels thick."""
LEGEND_MIN_SIZE = 64
"""Frames lower or narrower than this get no legend (it would cover them)."""
LEGEND_OPACITY = 0.6
"""How much the legend box darkens what lies under it (0: invisible, 1: opaque black)."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label_map(labels: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """``labels`` as a contiguous uint8 ``(H, W)`` map; `ShapeError` / `InputError` otherwise."""
    labels = np.asarray(labels)
    if labels.shape != shape:
        raise ShapeError(f"{name}: expected labels (H, W) = {shape}, got {labels.shape}")
    if labels.dtype == np.bool_:
        return np.ascontiguousarray(labels.view(np.uint8))
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(name, f"labels must be integers, got {labels.dtype}")
    if labels.dtype != np.uint8 and labels.size and (labels.min() < 0 or labels.max() > 255):
        raise InputError(name, f"labels must lie in [0, 255], got {labels.min()} to {labels.max()}")
    return np.ascontiguousarray(labels, dtype=np.uint8)


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise InputError(name, f"must lie in [0, 1], got {value}")


def _present(labels: np.ndarray) -> np.ndarray:
    """The labels that occur in a uint8 map, ascending (a histogram: no sort of the pixels)."""
    counts = cv2.calcHist([labels], [0], None, [256], [0, 256]).ravel()
    return np.flatnonzero(counts)


def _lut(labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[labels]``: ``(H, W)`` uint8 map, ``(256, 3)`` uint8 table -> ``(H, W, 3)`` uint8."""
    return cv2.LUT(cv2.merge([labels, labels, labels]), table.reshape(256, 1, 3))


def layer_names(
    labels: np.ndarray, background: int = 0, names: Sequence[str] | None = None
) -> list[tuple[int, str]]:
    """``(label, name)`` of the layers present in ``labels`` ``(H, W)``, background first.

    ``names[l]`` names label ``l``; labels past the end of ``names`` (or all, when None) are
    called ``"background"`` (the background's label) or ``"layer l"``.
    """
    labels = np.asarray(labels)
    return _rows(_present(_label_map(labels, labels.shape[:2], "layer_names")), background, names)


def _rows(
    present: np.ndarray, background: int, names: Sequence[str] | None
) -> list[tuple[int, str]]:
    def name(label: int) -> str:
        if names is not None and label < len(names):
            return names[label]
        return "background" if label == background else f"layer {label}"

    ordered = sorted((int(k) for k in present), key=lambda k: (k != background, k))
    return [(k, name(k)) for k in ordered]


def _thickness(contour: int, shape: tuple[int, int]) -> int:
    """Contour thickness in pixels: ``contour`` at `REFERENCE_SIZE`, scaled, at least 1."""
    if contour < 0:
        raise InputError("contour", f"must be >= 0 (0: no outlines), got {contour}")
    return max(1, round(contour * min(shape) / REFERENCE_SIZE)) if contour else 0


def _draw_contours(
    image: np.ndarray, labels: np.ndarray, present: np.ndarray, background: int, thickness: int
) -> None:
    """Outline every present label but the background, in its colour, in place. RETR_LIST
    also outlines holes (a layer in front of another one)."""
    if thickness <= 0:
        return
    for label in present:
        if label == background:
            continue
        mask = (labels == label).view(np.uint8)  # not cv2.compare: (1, 1) reads as a scalar
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        colour = tuple(int(c) for c in LAYER_COLOURS_BGR[label])
        cv2.drawContours(image, contours, -1, colour, thickness, lineType=cv2.LINE_8)


def draw_legend(image: np.ndarray, rows: Sequence[tuple[int, str]], background: int = 0) -> None:
    """Draw a legend into the top-left corner of ``image`` ``(H, W, 3)`` uint8 BGR, in place:
    a semi-transparent dark box, one colour swatch and name per ``(label, name)`` row (the
    background's swatch grey). Text scales with ``H``; nothing is drawn when ``rows`` is empty or
    the image is smaller than `LEGEND_MIN_SIZE`; rows that do not fit are left out."""
    height, width = image.shape[:2]
    if not rows or height < LEGEND_MIN_SIZE or width < LEGEND_MIN_SIZE:
        return
    scale = max(0.35, height / 900)
    weight = max(1, round(scale * 1.5))
    text_h = cv2.getTextSize("Ag", _FONT, scale, weight)[0][1]
    pad = max(2, text_h // 2)
    step = text_h + pad
    fitting = max(1, (height - pad) // step)
    rows = list(rows)[:fitting]
    text_w = max(cv2.getTextSize(name, _FONT, scale, weight)[0][0] for _, name in rows)
    box_w = min(width, pad + text_h + pad + text_w + pad)
    box_h = min(height, pad + step * len(rows))
    region = image[:box_h, :box_w]
    region[:] = cv2.convertScaleAbs(region, alpha=1.0 - LEGEND_OPACITY)
    for row, (label, name) in enumerate(rows):
        top = pad + row * step
        grey = (BACKGROUND_GREY,) * 3
        colour = grey if label == background else tuple(int(c) for c in LAYER_COLOURS_BGR[label])
        cv2.rectangle(image, (pad, top), (pad + text_h - 1, top + text_h - 1), colour, -1)
        origin = (2 * pad + text_h, top + text_h - 1)
        cv2.putText(image, name, origin, _FONT, scale, (255, 255, 255), weight, cv2.LINE_AA)


def frame_overlay(
    frame_bgr: np.ndarray,
    labels: np.ndarray,
    background: int = 0,
    *,
    dim: float = 0.45,
    alpha: float = 0.55,
    contour: int = 2,
    legend: Sequence[str] | None = None,
) -> np.ndarray:
    """A frame with its layers made visible.

    Args:
        frame_bgr: ``(H, W, 3)`` uint8 BGR.
        labels: ``(H, W)`` integer label map in ``[0, 255]``.
        background: the background layer's label.
        dim: background pixels become ``dim * ((1 - s) * frame + s * luma)`` with
            ``s = DESATURATION`` and ``luma`` OpenCV's BGR->grey value (rounded to uint8).
        alpha: every other pixel becomes ``(1 - alpha) * frame + alpha * LAYER_COLOURS_BGR[l]``.
        contour: outline thickness at a 480-pixel frame (scaled with ``min(H, W)``, at least 1);
            0 draws no outlines.
        legend: ``legend[l]`` names label ``l``; None: default names (see `layer_names`);
            ``[]``: no legend.

    Returns:
        ``(H, W, 3)`` uint8 BGR, a new array (the inputs are unchanged).
    """
    frame = np.asarray(frame_bgr)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ShapeError(f"frame_overlay: expected an (H, W, 3) frame, got {frame.shape}")
    if frame.dtype != np.uint8:
        raise InputError("frame_overlay", f"the frame must be uint8, got {frame.dtype}")
    _check_fraction(dim, "dim")
    _check_fraction(alpha, "alpha")
    frame = np.ascontiguousarray(frame)
    labels8 = _label_map(labels, frame.shape[:2], "frame_overlay")
    thickness = _thickness(contour, frame.shape[:2])
    present = _present(labels8)
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    out = cv2.addWeighted(frame, dim * (1 - DESATURATION), grey, dim * DESATURATION, 0.0)
    if any(k != background for k in present):
        tinted = cv2.addWeighted(frame, 1 - alpha, _lut(labels8, LAYER_COLOURS_BGR), alpha, 0.0)
        cv2.copyTo(tinted, (labels8 != background).view(np.uint8), out)
    _draw_contours(out, labels8, present, background, thickness)
    if legend is None or len(legend):
        draw_legend(out, _rows(present, background, legend), background)
    return out


def _event_levels(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` float32 brightness of each pixel from its event count ``c``: 0 without events,
    else ``min(1, 0.35 + 0.65 c / c95)`` with ``c95`` the 95th percentile (linear, as
    ``np.percentile``) of the non-zero counts, so that a few hot pixels do not leave the rest
    dark. Computed from the histogram of the counts: no pass over the pixels in Python."""
    height, width = shape
    counts = np.bincount(y * width + x, minlength=height * width).reshape(height, width)
    histogram = np.bincount(counts.ravel())  # histogram[c]: how many pixels saw c events
    table = np.zeros(len(histogram), np.float32)
    if len(histogram) > 1:
        c95 = _percentile_of_counts(histogram[1:], 95.0) + 1.0  # histogram[1:] starts at c = 1
        table[1:] = np.minimum(1.0, 0.35 + 0.65 * np.arange(1, len(histogram)) / c95)
    return table[counts]


def _percentile_of_counts(histogram: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` of the values ``0, 1, ...`` that occur ``histogram[v]``
    times each (linear interpolation between the two nearest ranks)."""
    cumulative = np.cumsum(histogram)
    position = q / 100.0 * (cumulative[-1] - 1)
    low = int(np.floor(position))
    high = min(low + 1, int(cumulative[-1]) - 1)
    # the value at rank i (0-based, ascending) is the first v with cumulative[v] > i
    at_low, at_high = np.searchsorted(cumulative, [low, high], side="right")
    return float(at_low + (at_high - at_low) * (position - low))


def event_overlay(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    background: int = 0,
    *,
    contour: int = 2,
    legend: Sequence[str] | None = None,
) -> np.ndarray:
    """A window of events with its layers made visible.

    Args:
        x: ``(N,)`` integer columns of the events, in ``[0, W)``.
        y: ``(N,)`` integer rows of the events, in ``[0, H)``.
        labels: ``(H, W)`` integer label map in ``[0, 255]`` (the sensor's size).
        background: the background layer's label: its events are drawn grey
            (`BACKGROUND_GREY`), so the moving layers stand out.
        contour, legend: as in `frame_overlay`.

    Returns:
        ``(H, W, 3)`` uint8 BGR: black where no event fell; elsewhere the layer's colour (grey
        for the background) times the pixel's brightness (see `_event_levels`), rounded; the
        moving layers outlined and named in a legend.
    """
    labels = np.asarray(labels)
    x, y = np.asarray(x), np.asarray(y)
    if labels.ndim != 2 or x.ndim != 1 or x.shape != y.shape:
        raise ShapeError(
            f"event_overlay: expected x (N,), y (N,) and labels (H, W), "
            f"got x {x.shape}, y {y.shape}, labels {labels.shape}"
        )
    shape = labels.shape
    labels8 = _label_map(labels, shape, "event_overlay")
    thickness = _thickness(contour, shape)
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
        raise InputError("event_overlay", f"x, y must be integers, got {x.dtype}, {y.dtype}")
    x, y = x.astype(np.int64, copy=False), y.astype(np.int64, copy=False)
    if x.size and (x.min() < 0 or x.max() >= shape[1] or y.min() < 0 or y.max() >= shape[0]):
        raise InputError("event_overlay", f"events fall outside the {shape[1]}x{shape[0]} sensor")
    table = LAYER_COLOURS_BGR.copy()
    if 0 <= background < 256:
        table[background] = BACKGROUND_GREY
    level = _event_levels(x, y, shape)
    out = cv2.multiply(_lut(labels8, table), cv2.merge([level, level, level]), dtype=cv2.CV_8U)
    present = _present(labels8)
    _draw_contours(out, labels8, present, background, thickness)
    if legend is None or len(legend):
        draw_legend(out, _rows(present, background, legend), background)
    return out


__all__ = [
    "BACKGROUND_GREY",
    "LAYER_COLOURS_BGR",
    "draw_legend",
    "event_overlay",
    "frame_overlay",
    "layer_names",
]
