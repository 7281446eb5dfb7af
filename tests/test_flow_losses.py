"""Flow objectives: warping, SSIM and census penalties, smoothness, occlusion, EPE, and the
unsupervised loss at the true flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.data.compositing import random_texture
from motionlayers.errors import InputError
from motionlayers.flow.warp import backward_warp
from motionlayers.losses.flow import (
    census_penalty,
    edge_aware_smoothness,
    endpoint_error,
    forward_backward_occlusion,
    photometric_loss,
    sequence_loss,
    sequence_weights,
    ssim_penalty,
    unsupervised_flow_loss,
)


def texture(height=32, width=40, seed=0):
    image = random_texture(np.random.default_rng(seed), height, width) / 255.0
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


def translated_pair(dx=3, dy=-2):
    """Frame 1 is frame 0 moved by (dx, dy): the true flow is constant (dx, dy)."""
    frame0 = texture()
    frame1 = torch.roll(frame0, shifts=(dy, dx), dims=(-2, -1))
    flow = torch.zeros(1, 2, *frame0.shape[-2:])
    flow[:, 0], flow[:, 1] = dx, dy
    return frame0, frame1, flow


def test_backward_warp_recovers_a_translation():
    frame0, frame1, flow = translated_pair()
    warped, inside = backward_warp(frame1, flow)
    mask = inside.bool().expand_as(warped)
    assert torch.allclose(warped[mask], frame0[mask], atol=1e-5)
    assert inside[0, 0, :, -3:].eq(0).all() and inside[0, 0, :2].eq(0).all()
    assert inside[0, 0, 2:, :-3].eq(1).all()


def test_unsupervised_loss_is_zero_at_the_true_flow():
    frame0, frame1, flow = translated_pair()
    assert unsupervised_flow_loss(frame0, frame1, flow).item() == pytest.approx(0.0, abs=1e-5)
    for kind in ("census", "ssim+census", "l1"):
        loss = unsupervised_flow_loss(frame0, frame1, flow, photometric=kind)
        assert loss.item() == pytest.approx(0.0, abs=1e-5)
    wrong = flow + torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    assert unsupervised_flow_loss(frame0, frame1, wrong) > 0.02


def test_loss_has_gradient_towards_the_true_flow():
    frame0, frame1, flow = translated_pair(dx=2, dy=0)
    guess = (flow + 0.3).requires_grad_(True)
    photometric_loss(frame0, frame1, guess).backward()
    assert guess.grad is not None and guess.grad.mean() > 0  # lowering the guess helps


def test_ssim_penalty_bounds_and_identity():
    image = texture()
    assert ssim_penalty(image, image).abs().max() < 1e-6
    penalty = ssim_penalty(image, 1 - image)
    assert penalty.shape == (1, 1, 32, 40) and 0 <= penalty.min() and penalty.max() <= 1
    assert penalty.mean() > 0.3


def test_census_is_almost_blind_to_a_lighting_change():
    image = texture()
    brighter = (image * 1.2 + 0.05).clamp(0, 1)
    shifted = torch.roll(image, 1, dims=-1)
    assert census_penalty(image, image).abs().max() < 1e-6
    assert census_penalty(image, brighter).mean() < 0.5 * census_penalty(image, shifted).mean()


def test_smoothness_zero_for_constant_flow_and_edge_aware():
    image = texture()
    assert edge_aware_smoothness(torch.ones(1, 2, 32, 40), image) == 0
    step = torch.zeros(1, 2, 32, 40)
    step[..., 20:] = 1.0
    flat = torch.zeros(1, 3, 32, 40)
    edge = flat.clone()
    edge[..., 20:] = 1.0
    assert edge_aware_smoothness(step, edge) < 1e-3 * edge_aware_smoothness(step, flat)


def test_forward_backward_occlusion():
    forward = torch.zeros(1, 2, 16, 16)
    forward[:, 0] = 2.0
    backward = -forward.clone()
    assert forward_backward_occlusion(forward, backward).all()
    backward[..., 8:] = 0.0  # the backward flow disagrees there: occluded
    visible = forward_backward_occlusion(forward, backward)
    assert visible[..., :5].all() and not visible[..., 9:14].any()


def test_endpoint_error_and_sequence_weights():
    truth = torch.zeros(1, 2, 4, 4)
    flow = truth.clone()
    flow[:, 0] = 3.0
    flow[:, 1] = 4.0
    assert endpoint_error(flow, truth).item() == pytest.approx(5.0)
    valid = torch.zeros(1, 4, 4)
    valid[:, :2] = 1
    flow[..., 2:, :] = 0
    assert endpoint_error(flow, truth, valid).item() == pytest.approx(5.0)
    assert sequence_weights(3, 0.5) == [0.25, 0.5, 1.0]
    total = sequence_loss([flow, flow], lambda f: endpoint_error(f, truth), gamma=0.5)
    assert total.item() == pytest.approx(1.5 * endpoint_error(flow, truth).item())
    with pytest.raises(InputError, match="no iteration"):
        sequence_loss([], lambda f: f.sum())
    with pytest.raises(InputError, match="penalty"):
        photometric_loss(texture(), texture(), torch.zeros(1, 2, 32, 40), "ncc")
