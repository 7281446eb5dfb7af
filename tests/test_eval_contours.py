"""Contour accuracy F: DAVIS boundary definition, disk tolerance, empty cases, known answers.

`reference_f` is an independent, loop-by-loop transcription of the DAVIS definition (boundaries
with zero padding and the special last row/column, disk matching by explicit distances).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from motionlayers.errors import ShapeError
from motionlayers.eval.contours import (
    boundary_map,
    boundary_radius,
    disk_kernel,
    f_measure,
    f_measure_frames,
    pairwise_f_measure,
)


def reference_boundary(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    m = mask.astype(bool)
    out = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            right = m[i, j + 1] if j + 1 < w else False
            down = m[i + 1, j] if i + 1 < h else False
            down_right = m[i + 1, j + 1] if i + 1 < h and j + 1 < w else False
            value = (m[i, j] != right) or (m[i, j] != down) or (m[i, j] != down_right)
            if i == h - 1:
                value = m[i, j] != right
            if j == w - 1:
                value = m[i, j] != down
            if i == h - 1 and j == w - 1:
                value = False
            out[i, j] = value
    return out


def reference_f(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    pb, gb = reference_boundary(pred), reference_boundary(gt)
    p_pts, g_pts = np.argwhere(pb), np.argwhere(gb)
    if len(p_pts) == 0 and len(g_pts) == 0:
        return 1.0
    if len(p_pts) == 0 or len(g_pts) == 0:
        return 0.0

    def matched(points: np.ndarray, others: np.ndarray) -> int:
        d2 = ((points[:, None, :] - others[None, :, :]) ** 2).sum(-1)
        return int((d2.min(axis=1) <= radius * radius).sum())

    precision = matched(p_pts, g_pts) / len(p_pts)
    recall = matched(g_pts, p_pts) / len(g_pts)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def square(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_radius_is_ceil_of_diagonal_fraction() -> None:
    assert boundary_radius(480, 854) == 8  # 0.008 * 979.6 = 7.84
    assert boundary_radius(100, 100) == 2  # 0.008 * 141.4 = 1.13
    assert boundary_radius(100, 100, tolerance=3) == 3
    assert boundary_radius(100, 100, tolerance=0) == 0


def test_disk_kernel_is_euclidean_disk_not_opencv_ellipse() -> None:
    kernel = disk_kernel(8)
    y, x = np.mgrid[-8:9, -8:9]
    np.testing.assert_array_equal(kernel, (x**2 + y**2 <= 64).astype(np.uint8))
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))
    assert (kernel != ellipse).sum() > 0  # why the kernel is built by hand
    np.testing.assert_array_equal(disk_kernel(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def test_boundary_of_square_is_ring_shifted_towards_origin() -> None:
    mask = square((20, 20), 5, 5, 10)
    b = boundary_map(mask)
    ring = np.zeros((20, 20), bool)
    ring[4:15, 4:15] = True
    ring[5:14, 5:14] = False
    np.testing.assert_array_equal(b, ring)
    assert b.sum() == 40


@settings(max_examples=80, deadline=None)
@given(mask=hnp.arrays(bool, st.tuples(st.integers(1, 9), st.integers(1, 9))))
def test_boundary_matches_reference(mask: np.ndarray) -> None:
    np.testing.assert_array_equal(boundary_map(mask), reference_boundary(mask))


def test_full_and_empty_masks_have_no_boundary() -> None:
    assert not boundary_map(np.ones((6, 7), bool)).any()
    assert not boundary_map(np.zeros((6, 7), bool)).any()


def test_shifted_square_known_answers() -> None:
    a = square((100, 100), 10, 10, 10)
    b = square((100, 100), 10, 11, 10)
    # exact matching: top and bottom rows of the two 40-pixel rings overlap on 10 + 10 pixels
    assert f_measure(a, b, tolerance=0) == pytest.approx(0.5)
    assert f_measure(a, b) == 1.0  # radius ceil(0.008 * 141.4) = 2 covers a 1-pixel shift
    far = square((100, 100), 10, 14, 10)  # shifted by 4: only the rows match within 2 pixels
    assert f_measure(a, far) == pytest.approx(reference_f(a, far, 2))


def test_empty_cases_as_davis() -> None:
    empty = np.zeros((30, 30), bool)
    obj = square((30, 30), 5, 5, 10)
    assert f_measure(empty, empty) == 1.0
    assert f_measure(empty, obj) == 0.0
    assert f_measure(obj, empty) == 0.0
    # a full-frame mask has no boundary either: DAVIS scores it 1 against an empty one
    assert f_measure(np.ones((30, 30), bool), empty) == 1.0


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(2, 14), st.integers(2, 14)))
def test_f_matches_reference(data: st.DataObject, shape: tuple[int, int]) -> None:
    pred = data.draw(hnp.arrays(bool, shape))
    gt = data.draw(hnp.arrays(bool, shape))
    tolerance = data.draw(st.sampled_from([0.0, 0.008, 0.1, 2.0]))
    radius = boundary_radius(*shape, tolerance=tolerance)
    assert f_measure(pred, gt, tolerance=tolerance) == pytest.approx(reference_f(pred, gt, radius))


@settings(max_examples=40, deadline=None)
@given(mask=hnp.arrays(bool, st.tuples(st.integers(1, 16), st.integers(1, 16))))
def test_f_of_mask_with_itself_is_one(mask: np.ndarray) -> None:
    assert f_measure(mask, mask) == 1.0
    assert f_measure(mask, mask, tolerance=0) == 1.0


def test_frames_pairwise_and_void() -> None:
    a = square((40, 40), 5, 5, 10)
    b = square((40, 40), 20, 20, 8)
    both = a.astype(np.uint8) + 2 * b
    np.testing.assert_allclose(
        f_measure_frames(np.stack([a, b]), np.stack([a, a])), [1.0, f_measure(b, a)]
    )
    table = pairwise_f_measure(both, both, [0, 1, 2, 7], [1, 2])
    assert table.shape == (4, 2)
    np.testing.assert_allclose(table[1:3], np.eye(2) + (1 - np.eye(2)) * f_measure(a, b))
    assert table[3].tolist() == [0.0, 0.0]  # label 7 is absent: an empty segment
    assert table[0, 0] == pytest.approx(f_measure(both == 0, a))
    void = np.zeros((40, 40), bool)
    void[:, 15:] = True  # hides b entirely
    assert f_measure(b, np.zeros((40, 40), bool), void=void) == 1.0
    with pytest.raises(ShapeError):
        f_measure(a, a[:-1])
    assert math.isclose(pairwise_f_measure(a, b, [1], [1])[0, 0], f_measure(a, b))
