"""Post-processing: temporal linking (eq. 3.9), components, upsampling, background rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import render
from motionlayers.postprocess import (
    absorb_explained,
    background_layers,
    border_contact,
    connected_components,
    drop_border_segments,
    foreground_masks,
    iou_matrix,
    labels_to_masks,
    link_labels,
    link_masks,
    masks_to_labels,
    relabel_table,
    remove_small_segments,
    smooth_masks,
    upsample_labels,
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


def test_border_contact_known_values_and_scale_invariance() -> None:
    components = np.zeros((40, 60), dtype=np.int64)
    components[10:20, 20:30] = 1  # inside the frame
    components[0:4, :] = 2  # a band along the top: 60 + 2 * 3 ring pixels over sqrt(240)
    components[30:40, 0:10] = 3  # a corner square: 19 ring pixels over sqrt(100)
    contact = border_contact(components, 4)
    assert contact[1] == 0.0
    assert contact[2] == pytest.approx(66 / np.sqrt(240))
    assert contact[3] == pytest.approx(19 / 10)
    doubled = np.kron(components, np.ones((2, 2), dtype=np.int64))
    assert border_contact(doubled, 4)[1:] == pytest.approx(contact[1:], rel=0.06)


def test_drop_border_segments_keeps_the_object_and_drops_the_band() -> None:
    foreground = np.zeros((48, 64), dtype=bool)
    foreground[20:32, 24:36] = True  # the object
    foreground[0:6, 10:64] = True  # a band of parallax background along the top and right
    foreground[0:30, 58:64] = True
    kept = drop_border_segments(foreground)
    assert kept[20:32, 24:36].all() and kept.sum() == 144
    # nothing to keep instead: a lone segment, or only border-hugging ones, stays
    band = foreground.copy()
    band[20:32, 24:36] = False
    assert (drop_border_segments(band) == band).all()
    assert (drop_border_segments(foreground, limit=0) == foreground).all()
    # a speck inside the frame does not make a large object entering the frame disappear
    entering = np.zeros((48, 64), dtype=bool)
    entering[10:48, 0:30] = True
    entering[20, 50] = True
    assert (drop_border_segments(entering) == entering).all()
    with pytest.raises(ShapeError):
        drop_border_segments(np.zeros((2, 3, 4), dtype=bool))


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


@pytest.mark.parametrize("layers", [1, 2, 6])
def test_upsample_labels_matches_torch_bilinear_then_argmax(layers: int) -> None:
    logits = torch.nn.functional.interpolate(
        torch.randn(1, layers, 5, 7, generator=torch.Generator().manual_seed(layers)) * 4,
        size=(16, 28),
        mode="bicubic",
    )
    masks = logits.softmax(1)[0]
    fast = upsample_labels(masks, 48, 85)
    reference = upsample_masks(masks[None], 48, 85)[0].argmax(0).numpy()
    assert fast.shape == (48, 85) and fast.dtype == np.uint8
    assert (fast == reference).mean() > 0.999  # float rounding may flip a near-tie
    np.testing.assert_array_equal(upsample_labels(masks, 16, 28), masks.argmax(0).numpy())
    with pytest.raises(ShapeError):
        upsample_labels(masks[None], 48, 85)


def _background_and_object(height: int = 32, width: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow: background translating by (1, 0), an object square by (6, -2); masks put the object
    and a stray background blob (which moves like the background) in layer 1."""
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = 1.0
    flow[:, :, 8:20, 20:34] = torch.tensor([6.0, -2.0]).view(1, 2, 1, 1)
    labels = torch.zeros(1, height, width, dtype=torch.long)
    labels[:, 8:20, 20:34] = 1
    labels[:, 22:30, 2:10] = 1  # the stray blob
    return flow, labels_to_masks(labels, 2)


def test_absorb_explained_returns_background_blobs_to_the_background() -> None:
    flow, masks = _background_and_object()
    theta = torch.zeros(1, 2, 2, 6)
    theta[0, 0, 0, 0] = 1.0  # constant term of u: the background's translation
    out = absorb_explained(masks, torch.tensor([0]), flow, theta, "quadratic12")
    labels = out.argmax(1)[0]
    assert labels[8:20, 20:34].eq(1).all()  # the moving object stays
    assert labels[22:30, 2:10].eq(0).all()  # the blob that moves like the background goes
    assert out.sum(1).allclose(torch.ones(1, 32, 48))
    assert torch.equal(absorb_explained(masks, torch.tensor([0]), flow, theta, ratio=0), masks)


def test_absorb_explained_keeps_the_least_explained_segment() -> None:
    flow, masks = _background_and_object()
    flow[:, 0] = 1.0  # now nothing moves differently from the background
    flow[:, 0, 8:20, 20:34] = 1.2
    theta = torch.zeros(1, 2, 2, 6)
    theta[0, 0, 0, 0] = 1.0
    labels = absorb_explained(masks, torch.tensor([0]), flow, theta).argmax(1)[0]
    assert labels[8:20, 20:34].eq(1).all() and labels[22:30, 2:10].eq(0).all()
    with pytest.raises(ShapeError):
        absorb_explained(masks, torch.tensor([0]), flow[..., :-1], theta)


def test_smooth_masks_averages_clipped_windows_and_keeps_the_simplex() -> None:
    masks = torch.softmax(torch.randn(4, 3, 5, 6, generator=torch.Generator().manual_seed(0)), 1)
    smooth = smooth_masks(masks, radius=1)
    assert torch.allclose(smooth[0], masks[:2].mean(0), atol=1e-6)
    assert torch.allclose(smooth[1], masks[:3].mean(0), atol=1e-6)
    assert torch.allclose(smooth[3], masks[2:].mean(0), atol=1e-6)
    assert torch.allclose(smooth.sum(1), torch.ones(4, 5, 6), atol=1e-6)
    assert torch.allclose(smooth_masks(masks, radius=10)[0], masks.mean(0), atol=1e-6)
    steady = masks[:1].expand(6, -1, -1, -1)
    assert torch.allclose(smooth_masks(steady, 2), steady, atol=1e-6)
    copy = smooth_masks(masks, radius=0)
    assert torch.equal(copy, masks) and copy is not masks
    with pytest.raises(ShapeError):
        smooth_masks(masks[0])
    with pytest.raises(InputError, match="temporal radius"):
        smooth_masks(masks, -1)


def test_smooth_masks_along_the_flow_follows_a_moving_layer() -> None:
    # a layer whose mask is a ramp translated by (1.5, 0.5) px per frame: bilinear sampling of
    # a ramp is exact, so motion-compensated averaging gives every frame back where the paths
    # stay in the image, and with zero flow it is the plain mean
    frames, height, width, velocity = 5, 20, 30, (1.5, 0.5)
    y, x = torch.meshgrid(torch.arange(height * 1.0), torch.arange(width * 1.0), indexing="ij")
    ramps = [0.2 + 0.01 * (x - velocity[0] * t) + 0.005 * (y - velocity[1] * t) for t in range(5)]
    first = torch.stack(ramps)
    masks = torch.stack([first, 1 - first], 1)
    flows = torch.tensor(velocity).view(1, 2, 1, 1).expand(frames, 2, height, width)
    smooth = smooth_masks(masks, 2, flows)
    assert torch.allclose(smooth, masks, atol=1e-5)
    assert not torch.allclose(smooth_masks(masks, 2), masks, atol=1e-2)
    still = smooth_masks(masks, 2, torch.zeros_like(flows))
    assert torch.allclose(still, smooth_masks(masks, 2), atol=1e-6)
    assert torch.allclose(still.sum(1), torch.ones(frames, height, width), atol=1e-5)
    with pytest.raises(ShapeError, match="flows"):
        smooth_masks(masks, 1, flows[:, :, :10])
