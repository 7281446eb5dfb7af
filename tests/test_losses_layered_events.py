"""Layered event deblurring loss (EV-LayerSegNet): known motions, gradients, regularisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.losses.layered_events import (
    MIXINGS,
    OBJECTIVES,
    LayeredDeblurLoss,
    area_imbalance,
    assignment_entropy,
    charbonnier_smoothness,
    event_layer_weights,
    layered_deblur_loss,
    pixel_flow,
)

H = W = 40
MOTIONS = ((8.0, 0.0), (-6.0, 5.0))  # pixels per window of layers 0 (left) and 1 (right)


def dot_events(seed: int = 0, dots: int = 80, per_dot: int = 25) -> torch.Tensor:
    """``(1, N, 4)`` events of dots crossing the window: left dots move by MOTIONS[0], right
    dots by MOTIONS[1]; an event at time t (fraction of the window) sits at the dot's position
    then, rounded to its pixel."""
    rng = np.random.default_rng(seed)
    layer = np.arange(dots) % 2
    x0 = np.where(layer == 0, rng.uniform(5, 14, dots), rng.uniform(26, 34, dots))
    y0 = rng.uniform(5, 30, dots)
    t = rng.random((dots, per_dot))
    u = np.asarray(MOTIONS)[layer]  # (dots, 2)
    x = np.rint(x0[:, None] + t * u[:, :1])
    y = np.rint(y0[:, None] + t * u[:, 1:])
    p = np.where(rng.random((dots, per_dot)) < 0.5, -1.0, 1.0)
    rows = np.stack([x, y, t, p], -1).reshape(-1, 4)
    return torch.from_numpy(rows[np.argsort(rows[:, 2])])[None].double()


def true_masks() -> torch.Tensor:
    masks = torch.zeros(1, 2, H, W, dtype=torch.float64)
    masks[0, 0, :, :20] = 1
    masks[0, 1, :, 20:] = 1
    return masks


def true_theta() -> torch.Tensor:
    theta = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    theta[0, :, :, 0] = torch.tensor(MOTIONS, dtype=torch.float64)
    return theta


@pytest.mark.parametrize("mixing", MIXINGS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_true_motions_deblur_best(objective: str, mixing: str) -> None:
    events, masks, theta = dot_events(), true_masks(), true_theta()

    def loss(th: torch.Tensor, m: torch.Tensor = masks) -> float:
        return float(layered_deblur_loss(m, th, events, objective=objective, mixing=mixing)[0])

    truth = loss(theta)
    assert truth < loss(torch.zeros_like(theta))
    assert truth < loss(theta.flip(1))  # the layers' motions swapped
    assert truth < loss(theta[:, [0, 0]])  # one motion for every event
    assert truth < loss(0.5 * theta) and truth < loss(1.5 * theta)
    assert truth < loss(theta, masks.flip(1))  # the right motions on the wrong supports


def test_gradients_reach_masks_and_thetas() -> None:
    events = dot_events().float()
    logits = torch.zeros(1, 2, H, W, requires_grad=True)
    theta = (0.8 * true_theta()).float().requires_grad_()
    for objective in OBJECTIVES:
        for mixing in MIXINGS:
            logits.grad, theta.grad = None, None
            masks = torch.softmax(logits + 2 * (true_masks().float() - 0.5), 1)
            total, _ = LayeredDeblurLoss(
                objective=objective,
                mixing=mixing,
                entropy_weight=0.1,
                area_weight=0.1,
                smoothness_weight=0.01,
            )(masks, theta, events)
            total.backward()
            assert logits.grad is not None and theta.grad is not None
            assert torch.isfinite(logits.grad).all() and torch.isfinite(theta.grad).all()
            assert logits.grad.abs().sum() > 0 and theta.grad[..., 0].abs().min() > 0


def test_one_hot_masks_make_all_mixings_equal() -> None:
    events, masks, theta = dot_events(), true_masks(), 0.7 * true_theta()
    for objective in OBJECTIVES:
        split = layered_deblur_loss(masks, theta, events, objective=objective, mixing="split")
        for mixing in ("flow", "hard"):
            other = layered_deblur_loss(masks, theta, events, objective=objective, mixing=mixing)
            torch.testing.assert_close(split, other)


def test_soft_masks_near_the_truth_keep_the_timestamp_loss() -> None:
    """Masks 0.99/0.01 score like one-hot masks, below zero or wrong motions (the per-pixel
    normalisation of the seed code jumps there: each copy of weight 0.01 counts as a pixel)."""
    events, masks, theta = dot_events(), true_masks(), true_theta()
    soft_masks = 0.98 * masks + 0.01  # 0.99 / 0.01

    def loss(m: torch.Tensor, th: torch.Tensor, normalise: str = "count") -> float:
        out = layered_deblur_loss(
            m, th, events, objective="timestamp", timestamp_normalise=normalise
        )
        return float(out[0])

    hard, soft = loss(masks, theta), loss(soft_masks, theta)
    assert abs(soft - hard) < 0.002 * hard
    assert soft < loss(masks, torch.zeros_like(theta)) and soft < loss(soft_masks, 0 * theta)
    assert soft < loss(masks, theta.flip(1)) and soft < loss(soft_masks, 0.5 * theta)
    jump = loss(soft_masks, theta, "pixels") - loss(masks, theta, "pixels")
    assert abs(jump) > 0.05 * hard


def test_hard_mixing_warps_each_event_once_by_its_most_likely_layer() -> None:
    events, theta = dot_events(), true_theta()
    masks = 0.6 * true_masks() + 0.2  # 0.8 / 0.2: the argmax is the true layer
    hard = layered_deblur_loss(masks, theta, events, objective="timestamp", mixing="hard")
    truth = layered_deblur_loss(true_masks(), theta, events, objective="timestamp")
    torch.testing.assert_close(hard, truth)  # one confidence for every event: a mean unchanged
    logits = torch.zeros(1, 2, H, W, dtype=torch.float64, requires_grad=True)
    theta = theta.clone().requires_grad_()
    masks = torch.softmax(logits + 3 * true_masks() + 0.1 * torch.rand(1, 2, H, W), 1)
    out = layered_deblur_loss(masks, theta, events, objective="timestamp", mixing="hard")
    assert out.shape == (1,)
    out.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0 and theta.grad[..., 0].abs().min() > 0


def test_charbonnier_smoothness_of_the_pixel_flow() -> None:
    masks, theta = true_masks(), true_theta()
    flow = pixel_flow(masks, theta)
    assert flow.shape == (1, 2, H, W)
    torch.testing.assert_close(flow[0, :, 5, 3], theta[0, 0, :, 0])
    torch.testing.assert_close(flow[0, :, 5, 30], theta[0, 1, :, 0])
    eps = 1e-3
    constant = charbonnier_smoothness(pixel_flow(masks, theta[:, [0, 0]]), eps)
    torch.testing.assert_close(constant, torch.full((1,), eps, dtype=torch.float64))
    # one step of (du, dv) = (-14, 5) between columns 19 and 20: H of the H (W - 1) pairs
    du, dv = (math.hypot(d, eps) for d in (-14.0, 5.0))
    expected = ((du + dv) / (W - 1) + 2 * eps * (W - 2) / (W - 1) + 2 * eps) / 4
    assert charbonnier_smoothness(flow, eps).item() == pytest.approx(expected)
    small = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(charbonnier_smoothness, (small,))


def test_module_matches_functions_and_batches() -> None:
    events = torch.cat([dot_events(0), dot_events(1)])
    masks = torch.softmax(torch.randn(2, 2, H, W, dtype=torch.float64), 1)
    theta = true_theta().repeat(2, 1, 1, 1)
    module = LayeredDeblurLoss(
        objective="timestamp", entropy_weight=0.3, area_weight=0.2, smoothness_weight=0.1
    )
    total, terms = module(masks, theta, events)
    per_window = layered_deblur_loss(masks, theta, events, objective="timestamp")
    weights = event_layer_weights(masks, events)
    expected = (
        per_window.mean()
        + 0.3 * assignment_entropy(weights).mean()
        + 0.2 * area_imbalance(weights).mean()
        + 0.1 * charbonnier_smoothness(pixel_flow(masks, theta)).mean()
    )
    torch.testing.assert_close(total, expected)
    assert set(terms) == {"deblur", "entropy", "area", "smoothness"}
    assert per_window.shape == (2,)
    single = layered_deblur_loss(masks[1:], theta[1:], events[1:], objective="timestamp")
    torch.testing.assert_close(per_window[1:], single)


def test_regularisers_known_answers() -> None:
    uniform = torch.full((1, 4, 10), 0.25)
    assert assignment_entropy(uniform).item() == pytest.approx(math.log(4))
    assert area_imbalance(uniform).item() == pytest.approx(0.0, abs=1e-6)
    one_layer = torch.zeros(1, 4, 10)
    one_layer[:, 2] = 1
    assert assignment_entropy(one_layer).item() == pytest.approx(0.0, abs=1e-6)
    assert area_imbalance(one_layer).item() == pytest.approx(math.log(4))
    halves = torch.zeros(1, 2, 10)
    halves[0, 0, :5] = halves[0, 1, 5:] = 1
    assert assignment_entropy(halves).item() == pytest.approx(0.0, abs=1e-6)
    assert area_imbalance(halves).item() == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs_raise_typed_errors() -> None:
    events, masks, theta = dot_events(), true_masks(), true_theta()
    with pytest.raises(ShapeError):
        layered_deblur_loss(masks[0], theta, events)
    with pytest.raises(ShapeError):
        layered_deblur_loss(masks, theta[:, :1], events)
    with pytest.raises(ShapeError):
        layered_deblur_loss(masks, theta, events[..., :3])
    with pytest.raises(InputError):
        layered_deblur_loss(masks, theta, events, objective="sharpness")
    with pytest.raises(InputError):
        layered_deblur_loss(masks, theta, events, mixing="average")
    with pytest.raises(InputError):
        layered_deblur_loss(masks, theta, events, timestamp_normalise="median")
    with pytest.raises(InputError):
        LayeredDeblurLoss(objective="nope")
    with pytest.raises(InputError):
        LayeredDeblurLoss(mixing="soft")
    before = events.clone()
    layered_deblur_loss(masks, theta, events)
    assert torch.equal(before, events)  # inputs are not modified
