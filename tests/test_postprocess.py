"""Post-processing: temporal linking (eq. 3.9), components, upsampling, background rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import render
from motionlayers.postprocess import (
    background_layers,
    connected_components,
    foreground_masks,
    iou_matrix,
    labels_to_masks,
    link_labels,
    link_masks,
    masks_to_labels,
    relabel_table,
    remove_small_segments,
    upsample_masks,
)


def _three_layers(height: int = 12, width: int = 16) -> np.ndarray:
    labels = np.zeros((height, width), dtype=np.int64)
    labels[:, width // 2 :] = 1
    labels[2:6, 2:6] = 2
    return labels


def test_iou_matrix_known_values() -> None:
    a = np.array([[0, 0, 1, 1]])
    b = np.array([[0, 1, 1, 1]])
    iou = iou_matrix(a, b, 2)
    np.testing.assert_allclose(iou, [[0.5, 1 / 4], [0.0, 2 / 3]])


@pytest.mark.parametrize("method", ["hungarian", "greedy"])
def test_permuted_labels_are_relinked(method: str) -> None:
    base = _three_layers()
    permutation = np.array([2, 0, 1])
    sequence = np.stack([base, permutation[base], permutation[permutation[base]]])
    linked = link_labels(sequence, 3, method)
    for frame in linked:
        np.testing.assert_array_equal(frame, base)


def test_greedy_merges_where_hungarian_permutes() -> None:
    previous = np.zeros((4, 8), dtype=np.int64)
    previous[:, 4:] = 1
    current = np.zeros((4, 8), dtype=np.int64)  # layer 0 split in two: labels 0 and 2
    current[:, 2:4] = 2
    current[:, 4:] = 1
    greedy = link_labels(np.stack([previous, current]), 3, "greedy")[1]
    hungarian = link_labels(np.stack([previous, current]), 3, "hungarian")[1]
    assert set(np.unique(greedy)) == {0, 1}  # label 2 merged into 0
    np.testing.assert_array_equal(greedy, previous)
    assert set(np.unique(hungarian)) == {0, 1, 2}  # one-to-one: label 2 kept apart
    assert sorted(relabel_table(iou_matrix(previous, current, 3))) == [0, 1, 2]


def test_link_masks_permutes_soft_channels() -> None:
    base = torch.from_numpy(_three_layers())
    masks = labels_to_masks(torch.stack([base, (base + 1) % 3]), 3) * 0.8 + 0.2 / 3
    linked = link_masks(masks)
    torch.testing.assert_close(linked[1], masks[0])
    torch.testing.assert_close(linked.sum(1), torch.ones(2, 12, 16))
    merged = link_masks(masks, "greedy")
    assert merged.shape == masks.shape


def test_unknown_linking_and_bad_shapes() -> None:
    with pytest.raises(InputError, match="hungarian"):
        relabel_table(np.eye(2), "best")
    with pytest.raises(ShapeError):
        link_labels(np.zeros((4, 4)), 2)


def test_connected_components_and_small_segment_removal() -> None:
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[1:3, 1:3] = 1  # two separate pieces of label 1
    labels[6:9, 6:9] = 1
    labels[5, 0] = 2  # a one-pixel speck
    regions = connected_components(labels)
    assert len(np.unique(regions)) == 4
    cleaned = remove_small_segments(labels, min_size=3)
    assert cleaned[5, 0] == 0 and (cleaned == 1).sum() == 4 + 9
    assert (remove_small_segments(labels, min_size=10) == 1).sum() == 0


def test_upsample_soft_masks_then_argmax() -> None:
    labels = torch.from_numpy(_three_layers(6, 8))[None]
    masks = labels_to_masks(labels, 3)
    big = upsample_masks(masks, 12, 16)
    assert big.shape == (1, 3, 12, 16)
    torch.testing.assert_close(big.sum(1), torch.ones(1, 12, 16))
    up = masks_to_labels(masks, 12, 16)[0]
    assert up.dtype == torch.int64
    assert up[0, 0] == 0 and up[-1, -1] == 1


def test_background_rules() -> None:
    height, width = 24, 32
    labels = torch.zeros(1, height, width, dtype=torch.long)
    labels[:, 2:, 4:-4] = 1  # a large foreground object, touching only the bottom border
    assert int(background_layers(labels, "largest")) == 1
    assert int(background_layers(labels, "border", band=2)) == 0
    theta = torch.zeros(1, 2, 2, 6)
    theta[0, 1, 0, 0] = 3.0
    flow = torch.gather(
        render(theta, "quadratic12", height, width)[0],
        0,
        labels.view(1, 1, height, width).expand(1, 2, height, width),
    )
    bg = background_layers(labels, "border", flow, theta, band=2)
    assert int(bg) == 0
    fg = foreground_masks(labels, bg)
    assert fg.dtype == np.uint8 and set(np.unique(fg)) == {0, 255}
    with pytest.raises(InputError, match="border"):
        background_layers(labels, "smallest")
