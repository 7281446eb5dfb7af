"""Hungarian matching, linear assignment and bootstrap IoU of segments to objects."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from motionlayers.errors import ShapeError
from motionlayers.eval.contours import f_measure
from motionlayers.eval.matching import (
    assign,
    bootstrap_iou,
    labels_present,
    match_pair_scores,
    match_sequence,
    padded_ids,
)
from motionlayers.eval.regions import jaccard


def two_objects(frames: int = 3) -> np.ndarray:
    gt = np.zeros((frames, 24, 24), np.uint8)
    for t in range(frames):
        gt[t, 2:10, 2 + t : 10 + t] = 1
        gt[t, 14:22, 12:20] = 2
    return gt


def test_assign_maximises_and_marks_unmatched() -> None:
    score = np.array([[0.1, 0.9], [0.8, 0.7], [0.0, 0.0]])
    assert assign(score).tolist() == [1, 0]
    assert assign(score.T[:, :2]).tolist() == [1, 0]
    assert assign(np.array([[0.5, 0.2]])).tolist() == [0, -1]
    with pytest.raises(ShapeError):
        assign(np.zeros(3))


def test_swapped_labels_match_perfectly() -> None:
    gt = two_objects()
    pred = np.where(gt == 1, 5, np.where(gt == 2, 3, 0)).astype(np.uint8)
    match = match_sequence(list(pred), list(gt))
    assert match.gt_ids == (1, 2)
    assert match.pred_ids == (5, 3)
    np.testing.assert_allclose(match.j, 1.0)
    assert match.f is not None
    np.testing.assert_allclose(match.f, 1.0)


def test_fewer_segments_than_objects_pads_with_empty_segments() -> None:
    gt = two_objects(2)
    pred = (gt == 2).astype(np.uint8) * 7
    pred[1] = 0  # the second frame predicts nothing
    match = match_sequence(list(pred), list(gt), pred_ids=[7])
    assert match.pred_ids == (-1, 7)
    np.testing.assert_allclose(match.j[:, 0], 0.0)  # object 1 is present, empty segment
    np.testing.assert_allclose(match.j[:, 1], [1.0, 0.0])


def test_matches_binary_scores_and_void() -> None:
    gt = two_objects(2)
    pred = np.zeros_like(gt)
    pred[:, 2:10, 4:12] = 1
    pred[:, 14:20, 12:20] = 2
    match = match_sequence(list(pred), list(gt))
    for t in range(2):
        assert match.j[t, 0] == pytest.approx(float(jaccard(pred[t] == 1, gt[t] == 1)))
        assert match.f is not None
        assert match.f[t, 1] == pytest.approx(f_measure(pred[t] == 2, gt[t] == 2))
    gt_void = gt.copy()
    gt_void[:, 20:22, 12:20] = 255  # void hides the rows the prediction missed
    match = match_sequence(list(pred), list(gt_void), void_label=255)
    np.testing.assert_allclose(match.j[:, 1], 1.0)
    assert match.gt_ids == (1, 2)


def test_j_only_criterion_and_errors() -> None:
    gt = two_objects(2)
    match = match_sequence(list(gt), list(gt), with_f=False)
    assert match.f is None and match.pred_ids == (1, 2)
    np.testing.assert_allclose(match.j, 1.0)
    with pytest.raises(ShapeError):
        match_sequence(list(gt), list(gt[:1]))
    with pytest.raises(ShapeError, match="empty ones"):
        match_pair_scores(np.zeros((2, 1, 2)), None, [1], [1, 2])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 3), st.integers(3, 9), st.integers(3, 9)))
def test_label_permutation_does_not_change_matched_scores(
    data: st.DataObject, shape: tuple[int, int, int]
) -> None:
    gt = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 2)))
    pred = data.draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 3)))
    if not (gt != 0).any():
        gt[0, 0, 0] = 1
    permutation = np.array(data.draw(st.permutations(range(4))), np.uint8)
    a = match_sequence(list(pred), list(gt))
    b = match_sequence(list(permutation[pred]), list(gt))
    assert a.f is not None and b.f is not None
    total_a = (a.j.mean(axis=0) + a.f.mean(axis=0)).sum()
    total_b = (b.j.mean(axis=0) + b.f.mean(axis=0)).sum()
    assert total_a == pytest.approx(total_b)


def test_bootstrap_iou_takes_best_segment_per_frame() -> None:
    j = np.array([[[0.2, 0.9], [0.7, 0.1]], [[0.3, 0.3], [0.1, 0.8]]])  # (T=2, P=2, G=2)
    np.testing.assert_allclose(bootstrap_iou(j), [[0.7, 0.9], [0.3, 0.8]])
    assert bootstrap_iou(np.zeros((2, 0, 3))).shape == (2, 3)


def test_helpers() -> None:
    assert labels_present([np.array([[0, 3]]), np.array([[7, 3]])]) == [0, 3, 7]
    assert padded_ids([4, 2], 4) == [4, 2, 5, 6]
    assert padded_ids([], 2) == [0, 1]
    assert padded_ids([1], 3, avoid=[0, 1, 5]) == [1, 6, 7]


def test_padding_avoids_labels_left_out_of_the_candidates() -> None:
    gt = two_objects(1)
    pred = np.where(gt == 1, 1, 0).astype(np.uint8)
    pred[0, 14:22, 12:20] = 2  # label 2 matches object 2 but is not a candidate
    match = match_sequence(list(pred), list(gt), pred_ids=[1])
    assert match.pred_ids == (1, -1)
    np.testing.assert_allclose(match.j[0], [1.0, 0.0])
