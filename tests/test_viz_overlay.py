"""Readable overlays: dimmed background, tinted and outlined layers, stable colours, a legend;
the events of a window coloured by layer. Known answers from the documented formulas."""

from __future__ import annotations

import numpy as np
import pytest

from motionlayers.errors import InputError, ShapeError
from motionlayers.viz.overlay import (
    BACKGROUND_GREY,
    DESATURATION,
    LAYER_COLOURS_BGR,
    event_overlay,
    frame_overlay,
    layer_names,
)

BGR = (40, 120, 200)  # luma 0.114*40 + 0.587*120 + 0.299*200 = 134.8 -> 135


def _scene(height: int = 120, width: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A flat frame and a label map with one big square of label 1 (rows 40:100, 60:140)."""
    frame = np.full((height, width, 3), BGR, np.uint8)
    labels = np.zeros((height, width), np.int64)
    labels[40:100, 60:140] = 1
    return frame, labels


def _dimmed(bgr: tuple[int, int, int], dim: float = 0.45) -> np.ndarray:
    blue, green, red = bgr
    luma = round(0.114 * blue + 0.587 * green + 0.299 * red)
    return np.round(dim * ((1 - DESATURATION) * np.array(bgr) + DESATURATION * luma))


def test_layer_colours_are_the_davis_palette_shifted_by_one_in_bgr() -> None:
    assert LAYER_COLOURS_BGR.shape == (256, 3) and LAYER_COLOURS_BGR.dtype == np.uint8
    # DAVIS RGB: 1 (128, 0, 0), 2 (0, 128, 0), 3 (128, 128, 0); label l takes entry l + 1
    assert LAYER_COLOURS_BGR[:3].tolist() == [[0, 0, 128], [0, 128, 0], [0, 128, 128]]
    assert len(np.unique(LAYER_COLOURS_BGR, axis=0)) == 256  # distinct, none black
    assert LAYER_COLOURS_BGR.sum(axis=1).min() > 0
    assert not LAYER_COLOURS_BGR.flags.writeable


def test_shapes_dtypes_and_inputs_unchanged() -> None:
    frame, labels = _scene()
    frame_copy, labels_copy = frame.copy(), labels.copy()
    out = frame_overlay(frame, labels)
    assert out.shape == (120, 160, 3) and out.dtype == np.uint8
    assert (frame == frame_copy).all() and (labels == labels_copy).all()
    events = event_overlay(np.array([3]), np.array([4]), labels)
    assert events.shape == (120, 160, 3) and events.dtype == np.uint8


def test_background_is_dimmed_and_slightly_desaturated() -> None:
    frame, labels = _scene()
    out = frame_overlay(frame, labels)
    expected = _dimmed(BGR)  # 0.45 * (0.7 * (40, 120, 200) + 0.3 * 135) = (30.8, 56.0, 81.2)
    assert out[110, 10].tolist() == expected.tolist() == [31, 56, 81]
    assert out[5, 150].tolist() == expected.tolist()  # top row, right of the legend
    darker = frame_overlay(frame, labels, dim=0.2, legend=[])
    assert darker[110, 10].tolist() == _dimmed(BGR, 0.2).tolist()


def test_a_layer_is_tinted_with_its_colour() -> None:
    frame, labels = _scene()
    out = frame_overlay(frame, labels)
    # 0.45 * (40, 120, 200) + 0.55 * (0, 128, 0) = (18, 124.4, 90)
    assert out[70, 100].tolist() == [18, 124, 90]
    out = frame_overlay(frame, labels, alpha=0.25, legend=[])
    expected = np.round(0.75 * np.array(BGR) + 0.25 * LAYER_COLOURS_BGR[1])  # (30, 122, 150)
    assert out[70, 100].tolist() == expected.tolist()


def test_another_label_can_be_the_background() -> None:
    frame, labels = _scene()
    out = frame_overlay(frame, labels, background=1, legend=[])
    assert out[70, 100].tolist() == _dimmed(BGR).tolist()  # label 1 now dimmed
    tinted = np.round(0.45 * np.array(BGR) + 0.55 * LAYER_COLOURS_BGR[0])
    assert out[110, 10].tolist() == tinted.tolist()  # label 0 tinted with its colour


def test_layers_are_outlined_on_their_border_only() -> None:
    frame, labels = _scene()
    out = frame_overlay(frame, labels, legend=[])
    is_colour = (out == LAYER_COLOURS_BGR[1]).all(axis=2)
    border = np.zeros_like(is_colour)
    border[40:100, 60:140] = True
    border[41:99, 61:139] = False
    assert is_colour[border].all()  # 120-pixel frame: 1-pixel outline on the border
    assert not is_colour[42:98, 62:138].any()  # inside: only tinted
    assert not is_colour[:38].any() and not is_colour[102:].any()
    plain = frame_overlay(frame, labels, contour=0, legend=[])
    assert not (plain == LAYER_COLOURS_BGR[1]).all(axis=2).any()


def test_outlines_grow_with_the_frame() -> None:
    def thickness(size: int) -> int:
        frame = np.full((size, size, 3), 200, np.uint8)
        labels = np.zeros((size, size), np.int64)
        labels[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
        out = frame_overlay(frame, labels, legend=[])
        return int((out[:, size // 2] == LAYER_COLOURS_BGR[1]).all(axis=1).sum()) // 2

    assert thickness(120) == 1
    assert thickness(960) > thickness(480) > thickness(120)


def test_colours_follow_labels_across_frames_and_layer_sets() -> None:
    frame, labels = _scene()
    other_frame = np.full_like(frame, 90)
    more_labels = labels.copy()
    more_labels[5:30, 5:30] = 7  # another layer appears: label 1 keeps its colour
    first = frame_overlay(frame, labels, legend=[])
    second = frame_overlay(other_frame, more_labels, legend=[])
    assert first[40, 100].tolist() == second[40, 100].tolist() == LAYER_COLOURS_BGR[1].tolist()
    expected = np.round(0.45 * 90 + 0.55 * LAYER_COLOURS_BGR[1].astype(float))
    assert second[70, 100].tolist() == expected.tolist()
    assert second[5, 15].tolist() == LAYER_COLOURS_BGR[7].tolist()


def test_the_legend_sits_in_the_top_left_corner() -> None:
    frame, labels = _scene()
    plain = frame_overlay(frame, labels, legend=[])
    named = frame_overlay(frame, labels)
    differs = (named != plain).any(axis=2)
    assert differs[:20, :40].mean() > 0.5  # the dark box
    rows, cols = np.nonzero(differs)
    assert rows.max() < 60 and cols.max() < 100  # and nothing outside it
    custom = frame_overlay(frame, labels, legend=["sky", "a much longer layer name"])
    assert (custom[:60, :100] != named[:60, :100]).any()
    assert (custom[60:] == plain[60:]).all()


def test_layer_names_background_first_and_custom_names() -> None:
    labels = np.array([[3, 0], [1, 3]])
    assert layer_names(labels) == [(0, "background"), (1, "layer 1"), (3, "layer 3")]
    assert layer_names(labels, background=3) == [(3, "background"), (0, "layer 0"), (1, "layer 1")]
    assert layer_names(labels, names=["sky", "car"]) == [(0, "sky"), (1, "car"), (3, "layer 3")]


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (60, 200)])
def test_small_frames_work_and_get_no_legend(size: tuple[int, int]) -> None:
    frame = np.full((*size, 3), 100, np.uint8)
    labels = np.zeros(size, np.int64)
    labels[0, 0] = 1
    out = frame_overlay(frame, labels)
    assert out.shape == (*size, 3)
    assert (out == frame_overlay(frame, labels, legend=[])).all()
    assert out[0, 0].tolist() == LAYER_COLOURS_BGR[1].tolist()  # a 1-pixel layer: its outline


def _event_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.zeros((100, 100), np.int64)
    labels[30:70, 30:70] = 1
    # pixel (x, y): (5, 5) background, 1 event; (50, 40) 1 event; (50, 50) 2; (60, 60) 3
    x = np.array([5, 50, 50, 50, 60, 60, 60])
    y = np.array([5, 40, 50, 50, 60, 60, 60])
    return x, y, labels


def test_event_overlay_black_grey_and_colours_by_counts() -> None:
    x, y, labels = _event_scene()
    out = event_overlay(x, y, labels, legend=[])
    # counts of the hit pixels 1, 1, 2, 3: 95th percentile 2.85, level min(1, .35 + .65 c / 2.85)
    level = {1: 0.35 + 0.65 / 2.85, 2: 0.35 + 1.3 / 2.85, 3: 1.0}
    assert (out[90, 90] == 0).all() and (out[20, 80] == 0).all() and (out[45, 45] == 0).all()
    assert out[5, 5].tolist() == [round(BACKGROUND_GREY * level[1])] * 3  # 64: grey
    green = LAYER_COLOURS_BGR[1].astype(float)
    assert out[40, 50].tolist() == np.round(green * level[1]).tolist()  # (0, 74, 0)
    assert out[50, 50].tolist() == np.round(green * level[2]).tolist()  # (0, 103, 0)
    assert out[60, 60].tolist() == LAYER_COLOURS_BGR[1].tolist()
    assert 0 < out[40, 50].sum() < out[50, 50].sum() < out[60, 60].sum()
    assert (out[30, 30:70] == LAYER_COLOURS_BGR[1]).all()  # the layer's outline
    other = event_overlay(x, y, labels, background=1, legend=[])
    assert other[50, 50].tolist() == [round(BACKGROUND_GREY * level[2])] * 3


def test_event_brightness_matches_the_percentile_formula() -> None:
    rng = np.random.default_rng(3)
    labels = np.zeros((64, 96), np.int64)
    labels[:, 48:] = 2
    x, y = rng.integers(0, 96, 3000), rng.integers(0, 64, 3000)
    out = event_overlay(x, y, labels, contour=0, legend=[])
    counts = np.zeros((64, 96))
    np.add.at(counts, (y, x), 1)
    c95 = np.percentile(counts[counts > 0], 95)
    level = np.where(counts > 0, np.minimum(1, 0.35 + 0.65 * counts / c95), 0)
    colours = np.where(labels[..., None] == 0, BACKGROUND_GREY, LAYER_COLOURS_BGR[labels])
    np.testing.assert_allclose(out, np.round(colours * level[..., None]), atol=1)


def test_event_overlay_has_the_legend_and_outlines() -> None:
    x, y, labels = _event_scene()
    named = event_overlay(x, y, labels)
    plain = event_overlay(x, y, labels, legend=[])
    differs = (named != plain).any(axis=2)
    assert differs[:15, :40].any() and not differs[30:].any()
    no_events = event_overlay(np.zeros(0, int), np.zeros(0, int), labels, legend=[])
    assert (no_events == LAYER_COLOURS_BGR[1]).all(axis=2).sum() == 4 * 39  # the square's border


def test_bad_shapes_raise_shape_errors_naming_the_shapes() -> None:
    with pytest.raises(ShapeError, match=r"labels \(H, W\) = \(4, 4\), got \(4, 5\)"):
        frame_overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.int64))
    with pytest.raises(ShapeError, match=r"\(4, 4\)"):
        frame_overlay(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.int64))
    with pytest.raises(ShapeError, match=r"x \(2,\), y \(3,\)"):
        event_overlay(np.zeros(2, int), np.zeros(3, int), np.zeros((4, 4), np.int64))
    with pytest.raises(ShapeError, match=r"labels \(4, 4, 1\)"):
        event_overlay(np.zeros(2, int), np.zeros(2, int), np.zeros((4, 4, 1), np.int64))


def test_bad_values_raise_input_errors() -> None:
    frame, labels = _scene(8, 8)
    with pytest.raises(InputError, match="256"):
        frame_overlay(frame, labels + 256)
    with pytest.raises(InputError, match="uint8"):
        frame_overlay(frame.astype(np.float32), labels)
    with pytest.raises(InputError, match="dim"):
        frame_overlay(frame, labels, dim=1.5)
    with pytest.raises(InputError, match="outside"):
        event_overlay(np.array([8]), np.array([0]), labels)
