"""The flow network's pieces: correlation volumes (against the per-pixel and all-pairs forms,
finite differences), pyramid lookups, upsampling, and the network's shapes and padding."""

from __future__ import annotations

import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.nets.correlation import (
    AllPairsCorrelationPyramid,
    LocalCorrelationPyramid,
    all_pairs_correlation,
    local_correlation,
    unfold_correlation,
)
from motionlayers.nets.flownet import (
    FLOW_VARIANTS,
    RecurrentFlowNet,
    bilinear_upsample,
    convex_upsample,
    flow_network,
)


def features(batch=2, channels=5, height=6, width=7, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, channels, height, width)
    return (
        torch.randn(shape, generator=generator, dtype=dtype),
        torch.randn(shape, generator=generator, dtype=dtype),
    )


@pytest.mark.parametrize("radius", [0, 1, 3])
def test_local_equals_unfold(radius):
    f0, f1 = features()
    assert torch.allclose(
        local_correlation(f0, f1, radius), unfold_correlation(f0, f1, radius), atol=1e-5
    )


def test_local_equals_all_pairs_at_each_shift():
    f0, f1 = features(batch=1, height=5, width=6)
    radius, size = 2, 5
    local = local_correlation(f0, f1, radius).view(1, size, size, 5, 6)
    full = all_pairs_correlation(f0, f1)
    for y in range(5):
        for x in range(6):
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    value = local[0, dy + radius, dx + radius, y, x]
                    inside = 0 <= y + dy < 5 and 0 <= x + dx < 6
                    expected = full[0, y, x, y + dy, x + dx] if inside else torch.tensor(0.0)
                    assert torch.isclose(value, expected, atol=1e-5)


def test_zero_shift_is_the_scaled_dot_product():
    f0, f1 = features(channels=16)
    volume = local_correlation(f0, f1, 2)
    assert torch.allclose(volume[:, 12], (f0 * f1).sum(1) / 4.0, atol=1e-5)


def test_manual_backward_against_finite_differences():
    f0, f1 = features(batch=1, channels=3, height=4, width=5, dtype=torch.float64)
    f0.requires_grad_(True)
    f1.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: local_correlation(a, b, 2), (f0, f1))


def test_manual_backward_equals_autograd_of_unfold():
    f0, f1 = features()
    a0, a1 = f0.clone().requires_grad_(True), f1.clone().requires_grad_(True)
    b0, b1 = f0.clone().requires_grad_(True), f1.clone().requires_grad_(True)
    weights = torch.randn(2, 9, 6, 7)
    (local_correlation(a0, a1, 1) * weights).sum().backward()
    (unfold_correlation(b0, b1, 1) * weights).sum().backward()
    assert torch.allclose(a0.grad, b0.grad, atol=1e-5)
    assert torch.allclose(a1.grad, b1.grad, atol=1e-5)


def test_bad_feature_shapes():
    f0, f1 = features()
    with pytest.raises(ShapeError, match="feature maps"):
        local_correlation(f0, f1[:, :, :5], 1)
    with pytest.raises(ShapeError, match="radius"):
        local_correlation(f0, f1, -1)


def test_local_lookup_reads_the_shift_of_an_integer_flow():
    f0, f1 = features(batch=1, height=6, width=7)
    radius = 3
    pyramid = LocalCorrelationPyramid(radius=radius, levels=2, lookup_radius=1)
    grids = pyramid.build(f0, f1)
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # dx = 2, dy = -1
    out = pyramid.lookup(grids, flow)
    assert out.shape == (1, pyramid.channels, 6, 7) == (1, 18, 6, 7)
    volume = local_correlation(f0, f1, radius).view(1, 7, 7, 6, 7)
    # channel 4 of level 0 is the window's centre: the volume at (dy, dx) = (-1, 2)
    assert torch.allclose(out[:, 4], volume[:, -1 + radius, 2 + radius], atol=1e-5)
    # one cell right of the centre: (dy, dx) = (-1, 3)
    assert torch.allclose(out[:, 5], volume[:, -1 + radius, 3 + radius], atol=1e-5)


def test_local_pooled_levels_stay_centred_on_the_zero_shift():
    f0, f1 = features(batch=1)
    pyramid = LocalCorrelationPyramid(radius=2, levels=3, lookup_radius=0)
    grids = pyramid.build(f0, f1)
    assert [tuple(g.shape[-2:]) for g in grids] == [(5, 5), (3, 3), (2, 2)]
    out = pyramid.lookup(grids, torch.zeros(1, 2, 6, 7))
    volume = local_correlation(f0, f1, 2).view(1, 5, 5, 6, 7)
    assert torch.allclose(out[:, 0], volume[:, 2, 2], atol=1e-5)
    # level 1, cell (1, 1): the mean of the 3x3 shifts around zero
    assert torch.allclose(out[:, 1], volume[:, 1:4, 1:4].mean((1, 2)), atol=1e-5)
    # level 2 at (0.5, 0.5): the mean of its four cells, each a mean over the level-1 grid
    assert torch.allclose(out[0, 2], grids[2].view(6, 7, 4).mean(-1), atol=1e-5)
    # a flow of two feature pixels along x reads the next level-1 cell to the right
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0] = 2.0
    moved = pyramid.lookup(grids, flow)
    level1 = grids[1].view(6, 7, 3, 3)
    assert torch.allclose(moved[0, 1], level1[..., 1, 2], atol=1e-5)


def test_all_pairs_lookup_reads_p_plus_w():
    f0, f1 = features(batch=1, height=6, width=7)
    pyramid = AllPairsCorrelationPyramid(levels=2, lookup_radius=1)
    grids = pyramid.build(f0, f1)
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0] = 1.0
    out = pyramid.lookup(grids, flow)
    full = all_pairs_correlation(f0, f1)
    assert torch.isclose(out[0, 4, 2, 3], full[0, 2, 3, 2, 4], atol=1e-5)
    assert torch.isclose(out[0, 4, 2, 6], torch.tensor(0.0))  # x + 1 = 7 is outside


def test_convex_upsampling_of_a_constant_flow():
    flow = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1).expand(1, 2, 4, 5).contiguous()
    weights = torch.randn(1, 9 * 4, 4, 5)
    fine = convex_upsample(flow, weights, 2)
    assert fine.shape == (1, 2, 8, 10)
    inner = fine[:, :, 2:-2, 2:-2]  # away from the zero padding of the unfold
    assert torch.allclose(inner, 2 * flow[:, :, :1, :1].expand_as(inner), atol=1e-5)
    assert torch.allclose(bilinear_upsample(flow, 2), 2 * flow[:, :, :1, :1].expand(1, 2, 8, 10))


@pytest.mark.parametrize("variant", list(FLOW_VARIANTS))
def test_network_shapes_and_padding(variant):
    network = flow_network(
        variant, widths=[8, 8, 8], feature_channels=8, hidden_channels=8, context_channels=4
    )
    frames = torch.rand(2, 3, 21, 30), torch.rand(2, 3, 21, 30)
    flows = network(*frames, iterations=3)
    assert len(flows) == 3 and all(f.shape == (2, 2, 21, 30) for f in flows)
    flows[-1].sum().backward()
    assert all(p.grad is not None for p in network.parameters() if p.requires_grad)


def test_network_errors():
    with pytest.raises(InputError, match="correlation"):
        RecurrentFlowNet(correlation="global")
    with pytest.raises(InputError, match="stride"):
        RecurrentFlowNet(stride=3)
    with pytest.raises(InputError, match="variant"):
        flow_network("pwc")
    with pytest.raises(ShapeError, match="frames"):
        RecurrentFlowNet()(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
