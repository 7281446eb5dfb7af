"""Tests of the EM loss (thesis eq. 2.12-2.17, eq. 4.4, Theorem 1)."""

from __future__ import annotations

import math

import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.losses import EMLoss, em_loss, em_loss_fitted, fit_models, negative_entropy
from motionlayers.motion import render

# A 2x3 flow (u, v per site, row-major) and two layers in constant translation.
U = [[1.0, 2.0, 0.0], [1.0, -1.0, 3.0]]
V = [[0.0, 1.0, 2.0], [2.0, 2.0, -1.0]]
M0 = [[1.0, 0.5, 0.2], [0.9, 0.0, 0.6]]
T0, T1 = (1.0, 0.0), (0.0, 2.0)  # translations of layers 0 and 1


def _case():
    flow = torch.tensor([U, V], dtype=torch.float64).unsqueeze(0)  # (1, 2, 2, 3)
    m0 = torch.tensor(M0, dtype=torch.float64)
    masks = torch.stack([m0, 1 - m0]).unsqueeze(0)  # (1, 2, 2, 3)
    theta = torch.zeros(1, 2, 2, 6, dtype=torch.float64)
    theta[0, 0, :, 0] = torch.tensor(T0)
    theta[0, 1, :, 0] = torch.tensor(T1)
    return flow, masks, theta


def _hand(distance: str) -> tuple[float, float, float]:
    """(sum m * delta, sum m log m, sum ||f||_1) computed site by site."""
    data = entropy = norm = 0.0
    for r in range(2):
        for c in range(3):
            u, v = U[r][c], V[r][c]
            norm += abs(u) + abs(v)
            for m, (tu, tv) in ((M0[r][c], T0), (1 - M0[r][c], T1)):
                du, dv = u - tu, v - tv
                delta = {
                    "l1": abs(du) + abs(dv),
                    "l2": math.hypot(du, dv),
                    "squared": du * du + dv * dv,
                }[distance]
                data += m * delta
                entropy += m * math.log(m) if m > 0 else 0.0
    return data, entropy, norm


@pytest.mark.parametrize("distance", ["l1", "l2", "squared"])
def test_closed_form_on_hand_case(distance):
    flow, masks, theta = _case()
    data, entropy, norm = _hand(distance)
    alpha = 0.5
    kw = dict(model="quadratic12", distance=distance, alpha=alpha)
    none = em_loss(flow, masks, theta, normalise="none", **kw)
    pixels = em_loss(flow, masks, theta, normalise="pixels", **kw)
    by_flow = em_loss(flow, masks, theta, normalise="flow", **kw)
    # l2 is smoothed at zero residual (sqrt(r^2 + 1e-12)) in motion.distance_map.
    tol = dict(rel=1e-6, abs=1e-5)
    assert none.item() == pytest.approx(data / alpha + entropy, **tol)
    assert pixels.item() == pytest.approx((data / alpha + entropy) / 6, **tol)
    assert by_flow.item() == pytest.approx(data / (alpha * norm) + entropy / 6, **tol)


def test_l1_hand_values_spelled_out():
    # Per site, m0 * |f - T0|_1 + m1 * |f - T1|_1:
    # (0,0) 1*0 + 0*3 = 0; (0,1) .5*2 + .5*3 = 2.5; (0,2) .2*3 + .8*0 = .6;
    # (1,0) .9*2 + .1*1 = 1.9; (1,1) 0*4 + 1*1 = 1; (1,2) .6*3 + .4*6 = 4.2; total 10.2.
    flow, masks, theta = _case()
    assert _hand("l1")[0] == pytest.approx(10.2)
    entropy = (
        2 * (0.5 * math.log(0.5))
        + 0.2 * math.log(0.2)
        + 0.8 * math.log(0.8)
        + 0.9 * math.log(0.9)
        + 0.1 * math.log(0.1)
        + 0.6 * math.log(0.6)
        + 0.4 * math.log(0.4)
    )
    loss = em_loss(flow, masks, theta, alpha=1.0, normalise="none")
    assert loss.item() == pytest.approx(10.2 + entropy, rel=1e-6)


def test_entropy_term():
    masks = torch.full((1, 4, 3, 5), 0.25)
    assert negative_entropy(masks).item() == pytest.approx(-15 * math.log(4))
    hard = torch.zeros(1, 2, 3, 5)
    hard[:, 0] = 1
    assert negative_entropy(hard).item() == 0.0


def test_gradient_reaches_masks_only():
    torch.manual_seed(0)
    flow = torch.randn(2, 2, 6, 7, requires_grad=True)
    logits = torch.randn(2, 3, 6, 7, requires_grad=True)
    masks = torch.softmax(logits, 1)
    loss, theta = em_loss_fitted(flow, masks)
    assert not theta.requires_grad
    loss.sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # The flow is data: its gradient exists (it is a leaf here) but theta carries none back.
    assert theta.grad_fn is None


def test_theorem1_global_quadratic_field_leaves_loss_unchanged():
    gen = torch.Generator().manual_seed(1)
    height, width = 12, 15
    truth = torch.randn(1, 2, 2, 6, generator=gen, dtype=torch.float64)
    fields = render(truth, "quadratic12", height, width)  # (1, 2, 2, H, W)
    inside = torch.zeros(height, width, dtype=torch.bool)
    inside[3:8, 4:10] = True
    flow = torch.where(inside, fields[:, 1], fields[:, 0])
    flow = flow + 0.1 * torch.randn(flow.shape, generator=gen, dtype=torch.float64)
    masks = torch.softmax(torch.randn(1, 2, height, width, generator=gen, dtype=torch.float64), 1)
    zeta = 3 * torch.randn(1, 1, 2, 6, generator=gen, dtype=torch.float64)
    shifted = flow + render(zeta, "quadratic12", height, width)[:, 0]
    for distance in ("squared", "l1"):
        kw = dict(distance=distance, normalise="pixels", iterations=50)
        before, theta = em_loss_fitted(flow, masks, **kw)
        after, theta_shifted = em_loss_fitted(shifted, masks, **kw)
        assert after.item() == pytest.approx(before.item(), rel=1e-3)
        # The fitted models move by exactly the added field (change of variable, eq. 7.21).
        if distance == "squared":
            torch.testing.assert_close(theta_shifted - theta, zeta.expand_as(theta))


def test_module_agrees_with_function():
    torch.manual_seed(2)
    flow = torch.randn(3, 2, 5, 6)
    masks = torch.softmax(torch.randn(3, 2, 5, 6), 1)
    module = EMLoss(distance="l2", alpha=0.1, normalise="flow", iterations=4)
    expected, theta = em_loss_fitted(
        flow, masks, distance="l2", alpha=0.1, normalise="flow", iterations=4
    )
    assert module(flow, masks).item() == pytest.approx(expected.mean().item(), rel=1e-6)
    torch.testing.assert_close(module.theta, theta)


def test_flow_normalisation_is_scale_invariant_in_data_term():
    torch.manual_seed(3)
    flow = torch.randn(1, 2, 5, 6).double()
    masks = torch.softmax(torch.randn(1, 2, 5, 6).double(), 1)
    theta = fit_models(flow, masks, distance="squared")
    one = em_loss(flow, masks, theta, distance="squared", normalise="flow")
    entropy = negative_entropy(masks) / 30
    ten = em_loss(10 * flow, masks, 10 * theta, distance="l1", normalise="flow")
    one_l1 = em_loss(flow, masks, theta, distance="l1", normalise="flow")
    assert (ten - entropy).item() == pytest.approx((one_l1 - entropy).item(), rel=1e-9)
    assert torch.isfinite(one).all()


def test_bad_inputs():
    flow, masks, theta = _case()
    with pytest.raises(ShapeError):
        em_loss(flow[:, :1], masks, theta)
    with pytest.raises(ShapeError):
        em_loss(flow, masks[..., :2], theta)
    with pytest.raises(InputError):
        em_loss(flow, masks, theta, normalise="mean")
    with pytest.raises(InputError):
        em_loss(flow, masks, theta, alpha=0.0)
