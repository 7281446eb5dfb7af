"""MoCA box IoU: inclusive boxes, largest 8-connected region, empty cases."""

from __future__ import annotations

import numpy as np
import pytest

from motionlayers.errors import ShapeError
from motionlayers.eval.boxes import box_iou, largest_component, largest_region_box_iou, mask_box


def test_mask_box_inclusive() -> None:
    mask = np.zeros((10, 12), bool)
    mask[5, 3] = True
    assert mask_box(mask) == (3, 5, 3, 5)
    mask[7, 9] = True
    assert mask_box(mask) == (3, 5, 9, 7)
    assert mask_box(np.zeros((4, 4))) is None
    with pytest.raises(ShapeError):
        mask_box(np.zeros(4))


def test_box_iou_known_answers() -> None:
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert box_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (3, 3, 4, 4)) == 0.0
    assert box_iou(None, None) == 1.0
    assert box_iou(None, (0, 0, 1, 1)) == 0.0
    assert box_iou((0, 0, 1, 1), None) == 0.0


def test_box_iou_equals_jaccard_of_filled_rectangles() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        xa, ya, xb, yb = (np.sort(rng.integers(0, 20, 2)).tolist() for _ in range(4))
        box_a = (xa[0], ya[0], xa[1], ya[1])
        box_b = (xb[0], yb[0], xb[1], yb[1])
        ra, rb = np.zeros((20, 20), bool), np.zeros((20, 20), bool)
        ra[ya[0] : ya[1] + 1, xa[0] : xa[1] + 1] = True
        rb[yb[0] : yb[1] + 1, xb[0] : xb[1] + 1] = True
        expected = (ra & rb).sum() / (ra | rb).sum()
        assert box_iou(box_a, box_b) == pytest.approx(expected)


def test_largest_component_is_8_connected() -> None:
    mask = np.zeros((10, 10), bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True  # diagonal: one 8-connected region of 3
    mask[6:8, 6:8] = True  # a 2 x 2 block: 4 pixels
    np.testing.assert_array_equal(
        largest_component(mask), np.pad(np.ones((2, 2), bool), ((6, 2), (6, 2)))
    )
    mask[3, 3] = mask[4, 4] = True  # diagonal now 5 pixels
    assert largest_component(mask).sum() == 5
    assert not largest_component(np.zeros((3, 3), bool)).any()


def test_largest_region_box_iou() -> None:
    gt = np.zeros((20, 20), bool)
    gt[2:8, 2:8] = True
    gt[15, 15] = True  # the ground-truth box covers all of its foreground
    pred = np.zeros((20, 20), bool)
    pred[2:8, 2:8] = True
    pred[18:20, 0:2] = True  # a smaller spurious region is ignored
    assert largest_region_box_iou(pred, gt) == pytest.approx(36 / 196)
    assert largest_region_box_iou(gt, gt) == pytest.approx(36 / 196)
    assert largest_region_box_iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    assert largest_region_box_iou(np.zeros_like(gt), gt) == 0.0
