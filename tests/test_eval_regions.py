"""Region similarity J: known answers, DAVIS empty-mask convention, invariances, pairwise J."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from motionlayers.errors import ShapeError
from motionlayers.eval.regions import jaccard, joint_histogram, overlap_counts, pairwise_jaccard

masks = hnp.arrays(bool, st.tuples(st.integers(1, 12), st.integers(1, 12)))


def square(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_square_shifted_by_one_pixel() -> None:
    a = square((30, 30), 10, 10, 10)
    b = square((30, 30), 10, 11, 10)
    assert float(jaccard(a, b)) == pytest.approx(90 / 110)


def test_empty_cases() -> None:
    empty = np.zeros((5, 5), bool)
    full = np.ones((5, 5), bool)
    assert float(jaccard(empty, empty)) == 1.0
    assert float(jaccard(empty, full)) == 0.0
    assert float(jaccard(full, empty)) == 0.0


def test_batched_and_void() -> None:
    a = np.stack([square((8, 8), 0, 0, 4), np.zeros((8, 8), bool)])
    b = np.stack([square((8, 8), 0, 0, 2), np.zeros((8, 8), bool)])
    np.testing.assert_allclose(jaccard(a, b), [4 / 16, 1.0])
    void = np.zeros((2, 8, 8), bool)
    void[0, 2:4, :] = True  # removes 8 of the 12 pixels only in a
    np.testing.assert_allclose(jaccard(a, b, void), [4 / 8, 1.0])


def test_label_values_are_foreground_when_non_zero() -> None:
    a = np.array([[0, 3], [7, 0]])
    assert float(jaccard(a, a != 0)) == 1.0


def test_shape_errors() -> None:
    with pytest.raises(ShapeError):
        jaccard(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ShapeError):
        jaccard(np.zeros(3), np.zeros(3))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), a=masks)
def test_symmetric_bounded_identity(data: st.DataObject, a: np.ndarray) -> None:
    b = data.draw(hnp.arrays(bool, a.shape))
    j = float(jaccard(a, b))
    assert j == float(jaccard(b, a))
    assert 0.0 <= j <= 1.0
    assert float(jaccard(a, a)) == 1.0
    assert (j == 1.0) == bool(np.array_equal(a, b))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 10), st.integers(1, 10)))
def test_pairwise_matches_binary_jaccard(data: st.DataObject, shape: tuple[int, int]) -> None:
    pred = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 4)))
    gt = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 3)))
    pred_ids, gt_ids = [0, 1, 2, 3, 4, 9], [1, 2, 3]  # 9 is absent: an empty segment
    table = pairwise_jaccard(pred, gt, pred_ids, gt_ids)
    for i, p in enumerate(pred_ids):
        for k, g in enumerate(gt_ids):
            assert table[i, k] == pytest.approx(float(jaccard(pred == p, gt == g)))
    assert joint_histogram(pred, gt).sum() == pred.size


def test_overlap_counts_with_void() -> None:
    pred = np.array([[1, 1, 0], [2, 2, 0]])
    gt = np.array([[1, 0, 0], [1, 1, 255]])
    inter, pred_area, gt_area = overlap_counts(pred, gt, [1, 2], [1], void=gt == 255)
    assert inter.tolist() == [[1], [2]]
    assert pred_area.tolist() == [2, 2] and gt_area.tolist() == [3]
