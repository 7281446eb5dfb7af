"""Middlebury colour wheel: the wheel itself, known colours, invariances, the legend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.errors import ShapeError
from motionlayers.flow import colorwheel_legend, flow_to_color, make_colorwheel, to_tensor


def one_vector(u: float, v: float, max_magnitude: float | None = None) -> np.ndarray:
    return flow_to_color(np.array([[[u, v]]], np.float32), max_magnitude)[0, 0]


def test_wheel_segments():
    wheel = make_colorwheel()
    assert wheel.shape == (55, 3) and wheel.dtype == np.uint8
    # Segment starts: red, yellow, green, cyan, blue, magenta (RY=15, YG=6, GC=4, CB=11, BM=13).
    starts = {0: (255, 0, 0), 15: (255, 255, 0), 21: (0, 255, 0), 25: (0, 255, 255)}
    starts.update({36: (0, 0, 255), 49: (255, 0, 255)})
    for index, rgb in starts.items():
        assert tuple(wheel[index]) == rgb, index
    assert tuple(wheel[1]) == (255, 17, 0)  # floor(255 / 15)
    assert tuple(wheel[54]) == (255, 0, 43)  # 255 - floor(255 * 5 / 6)


def test_zero_flow_is_white_and_shape():
    image = flow_to_color(np.zeros((4, 6, 2), np.float32))
    assert image.shape == (4, 6, 3) and image.dtype == np.uint8
    assert (image == 255).all()


@pytest.mark.parametrize(
    "u, v, rgb",
    [
        (1.0, 0.0, (255, 0, 0)),  # right: wheel[0], red
        (-1.0, 0.0, (0, 209, 255)),  # left: wheel[27], cyan-blue
        (0.0, -1.0, (88, 0, 255)),  # up: halfway between wheel[40] and [41], blue-violet
        (0.0, 1.0, (255, 229, 0)),  # down: halfway between wheel[13] and [14], orange-yellow
    ],
)
def test_directions_at_full_saturation(u, v, rgb):
    assert tuple(one_vector(u, v)) == rgb


def test_saturation_grows_with_magnitude_and_darkens_beyond_max():
    half = one_vector(-0.5, 0.0, max_magnitude=1.0)
    full = one_vector(-1.0, 0.0, max_magnitude=1.0)
    beyond = one_vector(-2.0, 0.0, max_magnitude=1.0)
    assert tuple(full) == (0, 209, 255)
    assert tuple(half) == (127, 232, 255)  # halfway from white to the wheel colour
    assert tuple(beyond) == (0, 156, 191)  # the wheel colour times 0.75


def test_scale_invariance_with_automatic_maximum():
    flow = np.random.default_rng(0).normal(size=(8, 9, 2)).astype(np.float32)
    np.testing.assert_array_equal(flow_to_color(flow), flow_to_color(flow * 4))
    largest = float(np.hypot(flow[..., 0], flow[..., 1]).max())
    np.testing.assert_array_equal(flow_to_color(flow), flow_to_color(flow, largest))


def test_non_finite_is_black_and_input_untouched():
    flow = np.ones((3, 3, 2), np.float32)
    flow[1, 1, 0] = np.nan
    flow[0, 2, 1] = np.inf
    original = flow.copy()
    image = flow_to_color(flow)
    assert (image[1, 1] == 0).all() and (image[0, 2] == 0).all()
    assert (image[0, 0] == one_vector(1.0, 1.0)).all()
    np.testing.assert_array_equal(flow, original)


def test_torch_input_matches_numpy():
    flow = np.random.default_rng(1).normal(size=(5, 7, 2)).astype(np.float32)
    np.testing.assert_array_equal(flow_to_color(to_tensor(flow)), flow_to_color(flow))
    np.testing.assert_array_equal(
        flow_to_color(torch.from_numpy(flow).permute(2, 0, 1)), flow_to_color(flow)
    )


def test_bad_shape():
    with pytest.raises(ShapeError):
        flow_to_color(np.zeros((4, 5, 3)))


def test_legend():
    legend = colorwheel_legend(51)
    assert legend.shape == (51, 51, 3) and legend.dtype == np.uint8
    assert (legend[25, 25] == 255).all()  # centre: zero flow
    assert (legend[0, 0] == 255).all()  # corner: background
    assert tuple(legend[25, 50]) == tuple(one_vector(1.0, 0.0))  # right rim
    assert tuple(legend[50, 25]) == tuple(one_vector(0.0, 1.0))  # bottom rim
    assert (colorwheel_legend(21, background=0)[0, 0] == 0).all()
