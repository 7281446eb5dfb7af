"""Readable overlays: dimmed background, tinted and outlined layers, stable colours, a legend."""

from __future__ import annotations

import numpy as np
import pytest

from motionlayers.errors import ShapeError
from motionlayers.viz.overlay import LAYER_COLOURS_BGR, event_overlay, frame_overlay


def _scene(height: int = 120, width: int = 160) -> tuple[np.ndarray, np.ndarray]:
    frame = np.full((height, width, 3), (40, 120, 200), np.uint8)
    labels = np.zeros((height, width), np.uint8)
    labels[40:100, 60:140] = 1
    return frame, labels


def test_background_is_dimmed_and_layers_tinted_with_their_colour() -> None:
    frame, labels = _scene()
    out = frame_overlay(frame, labels, legend=[])
    grey = frame[0, 0].astype(float).mean()
    expected_bg = 0.45 * (0.5 * frame[110, 10] + 0.5 * grey)
    np.testing.assert_allclose(out[110, 10], expected_bg.round(), atol=1)
    expected_fg = 0.45 * frame[70, 100] + 0.55 * LAYER_COLOURS_BGR[1]
    np.testing.assert_allclose(out[70, 100], expected_fg.round(), atol=1)


def test_layers_are_outlined_on_their_border_only() -> None:
    frame, labels = _scene()
    out = frame_overlay(frame, labels, legend=[])
    colour = LAYER_COLOURS_BGR[1]
    assert np.abs(out[40, 100].astype(int) - colour).max() <= 40  # on the contour
    assert np.abs(out[70, 100].astype(int) - colour).max() > 40  # deep inside: only tinted


def test_colours_follow_labels_across_frames_and_the_legend_is_drawn() -> None:
    frame, labels = _scene()
    other = frame_overlay(np.zeros_like(frame), labels, legend=[])
    plain = frame_overlay(frame, labels, legend=[])
    with_legend = frame_overlay(frame, labels)
    assert (other[40, 100] == plain[40, 100]).all()  # the contour colour is the label's
    assert (with_legend[:10, :30] != plain[:10, :30]).any()
    assert (with_legend[110:, 100:] == plain[110:, 100:]).all()


@pytest.mark.parametrize("size", [(1, 1), (8, 8)])
def test_tiny_frames_work_without_a_legend(size: tuple[int, int]) -> None:
    frame = np.full((*size, 3), 100, np.uint8)
    labels = np.zeros(size, np.uint8)
    labels[0, 0] = 1
    assert frame_overlay(frame, labels).shape == (*size, 3)


def test_event_overlay_black_grey_and_colours_by_counts() -> None:
    labels = np.zeros((100, 100), np.uint8)
    labels[30:70, 30:70] = 1
    x = np.array([5, 50, 50, 50, 60])
    y = np.array([5, 50, 50, 50, 60])
    out = event_overlay(x, y, labels, legend=[])
    assert (out[90, 90] == 0).all()
    assert out[5, 5][0] == out[5, 5][1] == out[5, 5][2] > 0  # background events: grey
    assert out[50, 50].sum() > out[60, 60].sum() > 0  # more events, brighter


def test_shapes_are_checked() -> None:
    with pytest.raises(ShapeError, match="labels"):
        frame_overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ShapeError):
        event_overlay(np.zeros(2, int), np.zeros(3, int), np.zeros((4, 4), np.uint8))
