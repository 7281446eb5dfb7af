"""Warping events by layer motion, splatting, mask sampling: known answers and invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.errors import ShapeError
from motionlayers.events import (
    Events,
    event_counts,
    event_flow,
    event_tensors,
    image_of_warped_events,
    layer_iwes,
    sample_masks,
    splat,
    warp_events,
)
from motionlayers.motion import render

H, W = 9, 13


def static_burst(n: int = 400, seed: int = 1) -> Events:
    """Events at fixed pixels (a flickering static scene), random times over 50 ms."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, H * W, 25)
    chosen = rng.choice(pixels, n)
    return Events(
        t=np.sort(rng.integers(0, 50_000, n)),
        x=chosen % W,
        y=chosen // W,
        p=rng.choice([-1, 1], n),
        sensor_size=(W, H),
    )


def test_event_tensors_are_new_and_relative_to_origin() -> None:
    events = Events(t=[10**12, 10**12 + 500], x=[1, 2], y=[3, 4], p=[1, -1], sensor_size=(W, H))
    x, y, t, p = event_tensors(events, dtype=torch.float64)
    torch.testing.assert_close(t, torch.tensor([0.0, 5e-4], dtype=torch.float64))
    x += 1  # our tensors are ours: the events stay as they were
    assert events.x.tolist() == [1, 2] and p.tolist() == [1.0, -1.0]
    _, _, t2, _ = event_tensors(events, t_origin_us=10**12 + 500)
    assert t2.tolist() == [pytest.approx(-5e-4), 0.0]


def test_zero_flow_changes_nothing() -> None:
    events = static_burst()
    x, y, t, p = event_tensors(events)
    copies = [a.clone() for a in (x, y, t, p)]
    theta = torch.zeros(1, 2, 2, 3)
    flow = event_flow(theta, "affine", x, y, H, W)
    assert flow.shape == (1, 2, 2, len(events))
    xw, yw = warp_events(x, y, t, flow, t_ref=0.025)
    assert torch.equal(xw, x.expand_as(xw)) and torch.equal(yw, y.expand_as(yw))
    counts = event_counts(events).sum(0)
    iwe = splat(xw, yw, H, W)
    assert torch.equal(iwe[0, 0], counts) and torch.equal(iwe[0, 1], counts)
    one_layer = image_of_warped_events(x, y, t, flow[:, :1], H, W, 0.01)
    assert torch.equal(one_layer[0], counts)
    for old, new in zip(copies, (x, y, t, p)):
        assert torch.equal(old, new)


def test_translation_moves_events_back_to_reference() -> None:
    # Events of a point moving at (40, -20) px/s from (3, 6): at t_ref = 0 they all land there.
    t = torch.linspace(0.0, 0.1, 11, dtype=torch.float64)
    x, y = 3.0 + 40.0 * t, 6.0 - 20.0 * t
    theta = torch.zeros(1, 2, 3, dtype=torch.float64)
    theta[0, :, 0] = torch.tensor([40.0, -20.0])
    flow = event_flow(theta, "affine", x, y, H, W)
    xw, yw = warp_events(x, y, t, flow, t_ref=0.0)
    torch.testing.assert_close(xw, torch.full_like(xw, 3.0))
    torch.testing.assert_close(yw, torch.full_like(yw, 6.0))
    xe, _ = warp_events(x, y, t, flow, t_ref=0.1)
    torch.testing.assert_close(xe, torch.full_like(xe, 7.0))


def test_event_flow_agrees_with_dense_render() -> None:
    theta = torch.randn(2, 3, 2, 6, dtype=torch.float64)
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    x, y = xs.reshape(-1).double(), ys.reshape(-1).double()
    dense = render(theta, "quadratic12", H, W).reshape(2, 3, 2, H * W)
    for on_pixels in (None, True, False):  # grid lookup and point evaluation agree
        flow = event_flow(theta, "quadratic12", x, y, H, W, on_pixels=on_pixels)
        torch.testing.assert_close(flow, dense)
    single = event_flow(theta[0], "quadratic12", x[:5], y[:5], H, W)  # theta (K, 2, J)
    torch.testing.assert_close(single, dense[0, :, :, :5])
    off_grid = event_flow(theta, "quadratic12", x[:5] + 0.25, y[:5], H, W)
    assert not torch.allclose(off_grid, dense[..., :5])
    torch.testing.assert_close(
        off_grid, event_flow(theta, "quadratic12", x[:5] + 0.25, y[:5], H, W, on_pixels=False)
    )


def test_splat_bilinear_weights_and_bounds() -> None:
    xw = torch.tensor([[2.25, -0.5, 12.5]])
    yw = torch.tensor([[3.5, 1.0, 8.0]])
    image = splat(xw, yw, H, W, torch.tensor([[2.0, 1.0, 1.0]]))
    assert image.shape == (1, H, W)
    expected = {(3, 2): 0.75, (3, 3): 0.25, (4, 2): 0.75, (4, 3): 0.25, (1, 0): 0.5, (8, 12): 0.5}
    for (row, col), value in expected.items():
        assert image[0, row, col].item() == pytest.approx(value), (row, col)
    assert image.sum().item() == pytest.approx(sum(expected.values()))


def test_splat_drops_far_events_and_broadcasts_weights() -> None:
    xw = torch.tensor([-1.5, 40.0, 3.0, -0.25, 3.0])
    yw = torch.tensor([2.0, 2.0, -7.0, 4.0, 2.0])
    image = splat(xw, yw, H, W)
    assert image.sum().item() == pytest.approx(1.75)  # the last one and 3/4 of the fourth one
    assert image[2, 3].item() == 1.0 and image[4, 0].item() == pytest.approx(0.75)
    channels = torch.stack([torch.ones(5), torch.arange(5.0)])  # (C=2, N): two weightings
    both = splat(xw[None].expand(3, -1), yw[None].expand(3, -1), H, W, channels[:, None])
    assert both.shape == (2, 3, H, W)
    torch.testing.assert_close(both[0, 1], image)
    torch.testing.assert_close(both[1, 2], splat(xw, yw, H, W, channels[1]))


def test_splat_gradcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    xw = (torch.rand(7, generator=gen, dtype=torch.float64) * 4 + 0.1).requires_grad_()
    yw = (torch.rand(7, generator=gen, dtype=torch.float64) * 3 + 0.1).requires_grad_()
    w = torch.rand(7, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: splat(a, b, 5, 6, c), (xw, yw, w))


def test_sample_masks_reads_pixel_values() -> None:
    masks = torch.softmax(torch.randn(2, 3, H, W), dim=1)
    x = torch.tensor([0.0, 5.0, 12.0])
    y = torch.tensor([0.0, 4.0, 8.0])
    for mode in ("bilinear", "nearest"):
        weights = sample_masks(masks, x, y, mode)
        assert weights.shape == (2, 3, 3)
        torch.testing.assert_close(weights, masks[:, :, y.long(), x.long()])
    half = sample_masks(masks, torch.tensor([5.5]), torch.tensor([4.0]))
    torch.testing.assert_close(half[..., 0], masks[:, :, 4, 5:7].mean(-1))
    with pytest.raises(ShapeError):
        sample_masks(masks[0], x, y)


def test_layer_iwes_split_events_by_masks() -> None:
    events = static_burst()
    x, y, t, _ = event_tensors(events)
    masks = torch.softmax(torch.randn(1, 2, H, W), dim=1)
    theta = torch.zeros(1, 2, 2, 3)
    iwes = layer_iwes(x, y, t, theta, "affine", H, W, masks=masks)
    assert iwes.shape == (1, 2, H, W)
    counts = event_counts(events).sum(0)
    torch.testing.assert_close(iwes.sum(1)[0], counts)  # soft assignments sum to one
    torch.testing.assert_close(iwes[0], masks[0] * counts)


def test_bad_flow_shape() -> None:
    x = torch.zeros(4)
    with pytest.raises(ShapeError):
        warp_events(x, x, x, torch.zeros(1, 3, 4))
    with pytest.raises(ShapeError):
        splat(torch.zeros(3), torch.zeros(4), 2, 2)
