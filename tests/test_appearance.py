"""The foreground refined by the frame's colours: the colour model's closed form, recovery of an
object from a motion mask that bleeds into the background, and `frame_labels`' relabelling."""

import numpy as np
import pytest
import torch

from motionlayers.errors import ShapeError
from motionlayers.postprocess import colour_foreground, colour_log_ratio, frame_labels

RED, BLUE, GREEN = (0, 0, 200), (200, 0, 0), (0, 200, 0)


def square_scene(size: int = 64, lo: int = 20, hi: int = 44) -> tuple[np.ndarray, np.ndarray]:
    """A red square on a blue frame ``(size, size, 3)`` BGR and its mask."""
    frame = np.empty((size, size, 3), np.uint8)
    frame[:] = BLUE
    truth = np.zeros((size, size), bool)
    truth[lo:hi, lo:hi] = True
    frame[truth] = RED
    return frame, truth


def test_log_ratio_is_the_closed_form_of_the_two_eroded_histograms() -> None:
    frame, truth = square_scene()
    # erode 1/64 of 64 rows = 1 px: a 1x1 kernel keeps every pixel
    ratio = colour_log_ratio(frame, truth, bits=4, erode=1 / 64, prior=1.0)
    assert ratio is not None and ratio.shape == truth.shape and ratio.dtype == np.float32
    n_fg, n_bg, bins = truth.sum(), (~truth).sum(), 16**3
    red = np.log((n_fg + 1) / (n_fg + bins)) - np.log(1 / (n_bg + bins))
    blue = np.log(1 / (n_fg + bins)) - np.log((n_bg + 1) / (n_bg + bins))
    assert ratio[truth] == pytest.approx(red, rel=1e-5)
    assert ratio[~truth] == pytest.approx(blue, rel=1e-5)
    assert red > 0 > blue


def test_erosion_keeps_boundary_pixels_out_of_the_model() -> None:
    frame, truth = square_scene()
    grown = np.zeros_like(truth)
    grown[18:46, 18:46] = True  # 2 px of blue inside the foreground, at its boundary
    plain = colour_log_ratio(frame, grown, erode=1 / 64)
    eroded = colour_log_ratio(frame, grown, erode=5 / 64)
    assert plain is not None and eroded is not None
    assert eroded[0, 0] < plain[0, 0]  # blue no longer counted as foreground


def test_too_few_pixels_on_either_side_give_no_model() -> None:
    frame, _ = square_scene()
    tiny = np.zeros((64, 64), bool)
    tiny[30:33, 30:33] = True
    assert colour_log_ratio(frame, tiny) is None
    assert colour_log_ratio(frame, ~tiny) is None


def test_a_mask_that_bleeds_into_the_background_is_pulled_back_onto_the_object() -> None:
    frame, truth = square_scene()
    bleeding = np.zeros_like(truth)
    bleeding[14:50, 14:50] = True  # 6 px too wide on every side, as flow smears
    # the motion is sure of the object, unsure of the smeared ring, sure of the background
    motion = np.where(truth, 0.9, np.where(bleeding, 0.6, 0.1)).astype(np.float32)
    for radius in (0.0, 0.125):  # no filter; 8 of the 64 rows
        refined = colour_foreground(frame, motion, bleeding, weight=1.0, radius=radius)
        iou = (refined & truth).sum() / (refined | truth).sum()
        assert iou > 0.95, radius
    before = (bleeding & truth).sum() / (bleeding | truth).sum()
    assert before < 0.5
    assert colour_foreground(frame, motion, bleeding, weight=0.0) is bleeding


def test_colour_cannot_invent_an_object_that_motion_does_not_support_anywhere() -> None:
    frame, truth = square_scene()
    frame[5:10, 5:10] = GREEN  # a colour that neither model has seen
    motion = np.where(truth, 0.9, 0.1).astype(np.float32)
    refined = colour_foreground(frame, motion, truth)
    assert not refined[5:10, 5:10].any()
    assert np.array_equal(refined, truth)


def test_frame_labels_relabels_what_colour_moves_between_foreground_and_background() -> None:
    frame, truth = square_scene()
    # three layers at the working size 16x16 (4x down): background 0, object 1, a blob 2 in a
    # blue corner that is foreground by motion, and the square's right part only half-moving
    soft = torch.zeros(3, 16, 16)
    soft[0] = 1.0
    soft[:, 5:11, 5:9] = torch.tensor([0.1, 0.9, 0.0])[:, None, None]
    soft[:, 5:11, 9:11] = torch.tensor([0.55, 0.05, 0.4])[:, None, None]
    soft[:, 0:3, 0:3] = torch.tensor([0.4, 0.0, 0.6])[:, None, None]
    shape_off = {"border_limit": 0.0, "hole_fraction": 0.0}
    plain = frame_labels(soft, 64, 64, frame, 0.0, background=0, colour_weight=0.0, **shape_off)
    refined = frame_labels(soft, 64, 64, frame, 0.0, background=0, colour_weight=1.0, **shape_off)
    assert (plain[truth] == 0).sum() > 0  # the half-moving part was background
    gained = (plain == 0) & (refined != 0)
    upsampled = torch.nn.functional.interpolate(soft[None], (64, 64), mode="bilinear")[0]
    best_other = upsampled[1:].argmax(0).numpy() + 1
    assert gained.any() and np.array_equal(refined[gained], best_other[gained])
    assert (refined[gained] == 2).any()  # the half-moving part's best other layer
    assert (refined[0:8, 0:8] == 0).all()  # the blue blob went back to the background
    unchanged = frame_labels(soft, 64, 64, frame, 0.0)
    assert np.array_equal(unchanged, plain)  # no background given: no colour step


def test_bad_shapes_fail_clearly() -> None:
    frame, truth = square_scene()
    with pytest.raises(ShapeError, match="colour_log_ratio"):
        colour_log_ratio(frame[..., 0], truth)
    with pytest.raises(ShapeError, match="colour_foreground"):
        colour_foreground(frame, np.zeros((3, 3), np.float32), truth)


def test_frame_labels_drops_border_segments_and_fills_holes_of_the_foreground() -> None:
    # working size 16x16, output 64x64: object layer 1 with a hole, a band of layer 2 along the
    # top border (parallax background that moves unlike layer 0)
    soft = torch.zeros(3, 16, 16)
    soft[0] = 1.0
    soft[:, 5:12, 5:12] = torch.tensor([0.1, 0.9, 0.0])[:, None, None]
    soft[:, 7:9, 7:9] = torch.tensor([0.6, 0.3, 0.1])[:, None, None]
    soft[:, 0:2, :] = torch.tensor([0.2, 0.0, 0.8])[:, None, None]
    off = frame_labels(soft, 64, 64, None, background=0, border_limit=0.0, hole_fraction=0.0)
    on = frame_labels(soft, 64, 64, None, background=0)
    assert (off[0:4] == 2).all() and (on[0:4] == 0).all()  # the band went to the background
    hole = (off == 0)[24:40, 24:40]
    assert hole.any() and (on[24:40, 24:40][hole] == 1).all()  # filled by the best other layer
    assert np.array_equal(on[off == 1], off[off == 1])
