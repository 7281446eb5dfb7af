"""Event segmentation metrics: event pixels, Hungarian-matched IoU, detection rate, EPE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.errors import ShapeError
from motionlayers.eval.events import (
    event_pixels,
    flow_epe,
    layer_flow,
    majority_labels,
    match_event_layers,
    score_event_window,
)


def test_event_pixels_and_majority_labels() -> None:
    x = np.array([0, 0, 0, 2, 3])
    y = np.array([1, 1, 1, 0, 2])
    labels = np.array([1, 1, 0, 2, 0])
    hit = event_pixels(x, y, 3, 4)
    assert hit.shape == (3, 4) and hit.sum() == 3 and hit[1, 0] and hit[0, 2] and hit[2, 3]
    major = majority_labels(x, y, labels, 3, 4)
    assert major[1, 0] == 1 and major[0, 2] == 2 and major[2, 3] == 0
    assert (major[~hit] == -1).all()
    # Ties go to the lower label.
    assert majority_labels([1, 1], [0, 0], [2, 1], 1, 2)[0, 1] == 1


def test_iou_is_computed_on_event_pixels_only_after_matching() -> None:
    gt = np.zeros((4, 4), int)
    gt[:, 2:] = 1
    pred = 1 - gt  # the same partition, labels swapped: matching undoes it
    valid = np.zeros((4, 4), bool)
    valid[:2] = True
    match = match_event_layers(pred, gt, valid)
    assert match.gt_ids.tolist() == [0, 1] and match.pred_ids.tolist() == [1, 0]
    np.testing.assert_allclose(match.iou, [1.0, 1.0])
    # A wrong prediction off the event pixels changes nothing.
    pred[3] = 7
    np.testing.assert_allclose(match_event_layers(pred, gt, valid).iou, [1.0, 1.0])


def test_known_iou_detection_and_false_positives() -> None:
    gt = np.zeros((1, 10), int)
    gt[0, 6:] = 1  # object: 4 pixels
    pred = np.zeros((1, 10), int)
    pred[0, 5:] = 1  # object prediction: 5 pixels, 4 right, 1 false positive
    match = match_event_layers(pred, gt, np.ones((1, 10), bool))
    np.testing.assert_allclose(match.iou, [5 / 6, 4 / 5])
    assert match.intersection.tolist() == [5, 4] and match.false_positives.tolist() == [0, 1]
    assert match.detected.tolist() == [True, True]
    scores = score_event_window(pred, gt, np.ones((1, 10), bool))
    assert scores["iou"] == pytest.approx((5 / 6 + 4 / 5) / 2)
    assert scores["object_iou"] == pytest.approx(4 / 5) and scores["detection_rate"] == 1.0
    # Over one pixel set, IoU >= 0.5 implies intersection >= false positives (I >= FP + FN).
    gt = np.zeros((1, 20), int)
    gt[0, 10:] = 1  # 10 object pixels
    pred = np.ones((1, 20), int)
    pred[0, 0] = 0  # layer 1: the object and 9 false positives, IoU 10/19
    m = match_event_layers(pred, gt, np.ones((1, 20), bool))
    assert m.pred_ids.tolist() == [0, 1] and m.iou[1] == pytest.approx(10 / 19)
    assert (m.intersection[1], m.false_positives[1]) == (10, 9) and m.detected[1]
    pred[0, 0], pred[0, 10] = 1, 0  # layer 1: 9 right, 10 false positives -> missed
    m = match_event_layers(pred, gt, np.ones((1, 20), bool))
    assert not m.detected[1] and m.iou[1] < 0.5


def test_unmatched_layers_score_zero_and_unknown_gt_is_void() -> None:
    gt = np.array([[0, 1, 2, -1]])
    pred = np.zeros((1, 4), int)  # one predicted layer for three true ones
    match = match_event_layers(pred, gt, np.ones((1, 4), bool))
    assert match.gt_ids.tolist() == [0, 1, 2]
    assert (match.pred_ids >= 0).sum() == 1 and match.iou.max() == pytest.approx(1 / 3)
    scores = score_event_window(pred, gt, np.ones((1, 4), bool))
    assert scores["detection_rate"] == 0.0 and np.isnan(scores["epe"])
    empty = score_event_window(pred, gt, np.zeros((1, 4), bool))
    assert np.isnan(empty["iou"]) and np.isnan(empty["detection_rate"])
    with pytest.raises(ShapeError):
        match_event_layers(pred, gt[:, :3], np.ones((1, 4), bool))


def test_flow_epe_and_layer_flow_known_answers() -> None:
    theta = torch.zeros(2, 2, 3, dtype=torch.float64)
    theta[0, 0, 0] = 3.0  # layer 0: (3, 0)
    theta[1, 1, 0] = -4.0  # layer 1: (0, -4)
    labels = np.array([[0, 1], [1, 0]])
    flow = layer_flow(labels, theta)
    assert flow.shape == (2, 2, 2)
    np.testing.assert_allclose(flow[:, 0, 0], [3, 0])
    np.testing.assert_allclose(flow[:, 0, 1], [0, -4])
    zero = np.zeros_like(flow)
    assert flow_epe(flow, zero) == pytest.approx(3.5)
    assert flow_epe(flow, zero, labels == 1) == pytest.approx(4.0)
    assert np.isnan(flow_epe(flow, zero, np.zeros((2, 2), bool)))
    scores = score_event_window(labels, labels, np.ones((2, 2), bool), flow, zero)
    assert scores["iou"] == 1.0 and scores["epe"] == pytest.approx(3.5)
    with pytest.raises(ShapeError):
        layer_flow(labels + 1, theta)
    with pytest.raises(ShapeError):
        flow_epe(flow, zero[:1])
