"""Segment selection: known answers, ground-truth flags, exhaustive >= greedy, invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from motionlayers.errors import InputError, ShapeError
from motionlayers.eval.regions import jaccard
from motionlayers.eval.selection import (
    SELECTIONS,
    best_subset,
    fair_overlap,
    get_selection,
    hungarian_foreground,
    largest_is_background,
    nonzero_foreground,
    select_foreground,
)


def layered() -> tuple[np.ndarray, np.ndarray]:
    """Two frames, 3 layers: 0 background (big), 1 the object, 2 a part of the object."""
    labels = np.zeros((2, 10, 10), np.uint8)
    labels[:, 2:6, 2:6] = 1
    labels[:, 6:8, 2:6] = 2
    gt = np.zeros((2, 10, 10), bool)
    gt[:, 2:8, 2:6] = True
    return labels, gt


def test_uses_ground_truth_flags() -> None:
    flags = {name: s.uses_ground_truth for name, s in SELECTIONS.items()}
    assert flags == {
        "nonzero": False,
        "largest-is-background": False,
        "fair": True,
        "exhaustive": True,
        "greedy": True,
        "hungarian": True,
    }
    with pytest.raises(InputError, match="valid: nonzero, largest-is-background"):
        get_selection("best")
    with pytest.raises(InputError, match="needs the ground truth"):
        select_foreground("fair", layered()[0])


def test_nonzero_and_largest_is_background() -> None:
    labels, gt = layered()
    np.testing.assert_array_equal(nonzero_foreground(labels), gt)
    np.testing.assert_array_equal(largest_is_background(labels), gt)
    swapped = np.where(labels == 0, 5, labels)  # the background is label 5 now
    np.testing.assert_array_equal(largest_is_background(swapped), gt)
    assert not nonzero_foreground(np.zeros((1, 3, 3), np.int64)).any()


def test_fair_overlap_more_than_half() -> None:
    labels, gt = layered()
    np.testing.assert_array_equal(fair_overlap(labels, gt), gt)
    half = gt.copy()
    half[:, 6:7, 2:6] = False  # exactly half of layer 2 inside: not more than half
    np.testing.assert_array_equal(fair_overlap(labels, half), labels == 1)


def test_subset_selection_known_answer_and_cuts() -> None:
    labels, gt = layered()
    for search in ("exhaustive", "greedy"):
        np.testing.assert_array_equal(best_subset(labels, gt, 10, search), gt)
    # with cuts of one frame the choice may change from frame to frame
    gt2 = gt.copy()
    gt2[1] = labels[1] == 2
    out = best_subset(labels, gt2, cut=1)
    np.testing.assert_array_equal(out[0], gt[0])
    np.testing.assert_array_equal(out[1], labels[1] == 2)
    empty_gt = np.zeros_like(gt)
    assert not best_subset(labels, empty_gt).any()  # the empty subset scores J = 1
    with pytest.raises(InputError, match="cut"):
        best_subset(labels, gt, cut=0)


def test_hungarian_picks_one_layer() -> None:
    labels, gt = layered()
    np.testing.assert_array_equal(hungarian_foreground(labels, gt), labels == 1)


def test_errors() -> None:
    with pytest.raises(ShapeError):
        nonzero_foreground(np.zeros((3, 3), np.int64))
    with pytest.raises(InputError, match="integer"):
        nonzero_foreground(np.zeros((1, 3, 3), float))
    labels = np.arange(17 * 4).reshape(1, 17, 4) % 17
    with pytest.raises(InputError, match="greedy"):
        best_subset(labels, np.zeros(labels.shape, bool))
    with pytest.raises(ShapeError):
        fair_overlap(labels, np.zeros((1, 3, 3), bool))


def brute_force_best(labels: np.ndarray, gt: np.ndarray) -> float:
    ids = np.unique(labels).tolist()
    best = -1.0
    for r in range(len(ids) + 1):
        for subset in itertools.combinations(ids, r):
            best = max(best, float(jaccard(np.isin(labels, subset), gt).sum()))
    return best


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 4), st.integers(2, 6), st.integers(2, 6)))
def test_exhaustive_is_optimal_and_beats_greedy(
    data: st.DataObject, shape: tuple[int, int, int]
) -> None:
    labels = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 4)))
    gt = data.draw(hnp.arrays(bool, shape))
    exhaustive = float(jaccard(best_subset(labels, gt, cut=10), gt).sum())
    greedy = float(jaccard(best_subset(labels, gt, cut=10, search="greedy"), gt).sum())
    assert exhaustive == pytest.approx(brute_force_best(labels, gt))
    assert greedy <= exhaustive + 1e-9
    for label in np.unique(labels):
        assert float(jaccard(labels == label, gt).sum()) <= greedy + 1e-9


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6)))
def test_selections_ignore_label_names(data: st.DataObject, shape: tuple[int, int, int]) -> None:
    labels = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 3)))
    gt = data.draw(hnp.arrays(bool, shape))
    permutation = np.array(data.draw(st.permutations(range(4))), np.uint8)
    for name in ("fair", "exhaustive"):
        a = select_foreground(name, labels, gt)
        b = select_foreground(name, permutation[labels], gt)
        assert float(jaccard(a, gt).sum()) == pytest.approx(float(jaccard(b, gt).sum()))
