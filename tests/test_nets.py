"""Tests of the configurable U-Net (thesis 3.4.1) and its block registries."""

from __future__ import annotations

import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.nets import DOWN_BLOCKS, NORMS, TRANSIT_BLOCKS, UP_BLOCKS, UNet, count_parameters


@pytest.mark.parametrize("size", [(13, 22), (16, 16), (7, 5), (1, 1)])
def test_2d_output_shape_for_any_size(size):
    net = UNet(in_channels=2, out_channels=3, depth=3, width=4, norm="group")
    out = net(torch.randn(2, 2, *size))
    assert out.shape == (2, 3, *size)


@pytest.mark.parametrize("down", sorted(DOWN_BLOCKS))
@pytest.mark.parametrize("up", sorted(UP_BLOCKS))
@pytest.mark.parametrize("transit", sorted(TRANSIT_BLOCKS))
def test_every_block_combination_2d_and_3d(down, up, transit):
    for dims, shape in ((2, (1, 2, 11, 14)), (3, (1, 2, 3, 11, 14))):
        net = UNet(2, 4, depth=2, width=4, dims=dims, down=down, up=up, transit=transit)
        out = net(torch.randn(*shape))
        assert out.shape == (1, 4, *shape[2:])
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("norm", NORMS)
def test_norms_and_gradients(norm):
    net = UNet(2, 2, depth=2, width=4, norm=norm)
    net(torch.randn(2, 2, 9, 10)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_3d_keeps_time_axis():
    net = UNet(2, 4, depth=3, width=4, dims=3)
    assert net(torch.randn(2, 2, 5, 17, 23)).shape == (2, 4, 5, 17, 23)


def test_parameter_counts_are_sane():
    tiny = count_parameters(UNet(2, 2, depth=2, width=8))
    small = count_parameters(UNet(2, 2, depth=3, width=8))
    thesis_like = count_parameters(UNet(2, 4, depth=5, width=32))
    assert 5_000 < tiny < 50_000
    assert tiny < small < thesis_like
    assert 5e6 < thesis_like < 5e7
    # Doubling the width roughly quadruples the parameters of a conv net.
    ratio = count_parameters(UNet(2, 2, depth=3, width=16)) / small
    assert 3.5 < ratio < 4.5
    # The width cap bounds the deep levels.
    assert count_parameters(UNet(2, 2, depth=4, width=8, max_width=16)) < count_parameters(
        UNet(2, 2, depth=4, width=8)
    )


def test_depth_zero_is_a_plain_conv_net():
    assert UNet(2, 3, depth=0, width=4)(torch.randn(1, 2, 5, 7)).shape == (1, 3, 5, 7)


def test_bad_arguments():
    with pytest.raises(InputError, match="maxpool"):
        UNet(down="nope")
    with pytest.raises(InputError, match="instance"):
        UNet(norm="nope")
    with pytest.raises(InputError):
        UNet(dims=4)
    with pytest.raises(ShapeError):
        UNet(dims=2)(torch.randn(1, 2, 3, 8, 8))
