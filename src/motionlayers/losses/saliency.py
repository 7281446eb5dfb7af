"""Adversarial saliency masking, solved by the basic differential multiplier method (thesis ch. 6).

A mask generator ``g`` gives K soft masks (0: background support, 1: salient, the others: other
non-salient motions, 6.3.4). The salient mask is the smallest region whose inpainting by the
background's motion makes a frozen frame classifier ``phi`` call the flow non-salient:

    min_g  S = mean_p m_s(p)   subject to   phi(omega(m, f)) <= 1/2               (eq. 6.2)

    theta_b  = argmin_theta sum_p m_b(p) |f(p) - f_theta(p)|_1                   (eq. 6.9)
    omega    = (1 - m_s) f + m_s f_theta_b                                        (eq. 6.10)
    L        = S + lambda sigma(phi(omega), 1/2) + w_r L_r                        (eq. 6.3, 6.11)
    sigma(x, kappa) = x if x >= kappa else 0

with descent on g's weights and ascent on lambda (eq. 6.4-6.5): a gradient reversal layer on
lambda lets one optimiser step do both. ``dL / dlambda = sigma >= 0``, so lambda only grows, and
it stops growing once every frame satisfies the constraint; on a non-salient frame sigma is 0
from the start and only S acts, so the salient mask goes blank (as the thesis reports).

The coherence term (eq. 6.11-6.12) keeps every mask a region of one parametric motion:
``L_r = sum_p sum_k m_k |f - f_theta_k|_1 / sum_p |f|_1``. The models are fitted (IRLS for the
L1 objective; the thesis uses L-BFGS on the same objective) and detached: the gradient reaches
``g`` through the masks only. S is the per-pixel mean (the thesis does not say how S is scaled,
spec B.6 [U]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from motionlayers.errors import ShapeError
from motionlayers.losses.em import fit_models
from motionlayers.motion import render, weighted_loss

BACKGROUND, SALIENT = 0, 1
"""Mask channels (spec B.5: background first, salient second)."""


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, value: torch.Tensor) -> torch.Tensor:
        return value.view_as(value)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_gradient(value: torch.Tensor) -> torch.Tensor:
    """Identity forward, negated gradient backward (Ganin & Lempitsky's layer)."""
    return _ReverseGradient.apply(value)  # type: ignore[no-any-return]


def hinge(probability: torch.Tensor, kappa: float = 0.5) -> torch.Tensor:
    """sigma(x, kappa) = x where x >= kappa, else 0 (eq. 6.3)."""
    return torch.where(probability >= kappa, probability, torch.zeros_like(probability))


def _check(flow: torch.Tensor, masks: torch.Tensor) -> None:
    if flow.ndim != 4 or flow.shape[1] != 2 or masks.ndim != 4 or masks.shape[1] < 2:
        raise ShapeError(
            f"expected flow (B, 2, H, W) and masks (B, K >= 2, H, W), got {tuple(flow.shape)} "
            f"and {tuple(masks.shape)}"
        )
    if masks.shape[0] != flow.shape[0] or masks.shape[-2:] != flow.shape[-2:]:
        raise ShapeError(f"masks {tuple(masks.shape)} do not match flow {tuple(flow.shape)}")


def perturbed_flow(
    flow: torch.Tensor, masks: torch.Tensor, model: str = "quadratic12", iterations: int = 5
) -> torch.Tensor:
    """omega ``(B, 2, H, W)`` of eq. 6.9-6.10: the salient mask's flow replaced by the background
    model's (fitted on the background mask, detached); differentiable in the salient mask."""
    _check(flow, masks)
    support = masks[:, BACKGROUND : BACKGROUND + 1].detach()
    theta = fit_models(flow, support, model=model, distance="l1", iterations=iterations)
    inpainted = render(theta, model, *flow.shape[-2:])[:, 0].to(flow)
    salient = masks[:, SALIENT : SALIENT + 1]
    return (1 - salient) * flow + salient * inpainted


def coherence_loss(
    flow: torch.Tensor,
    masks: torch.Tensor,
    model: str = "quadratic12",
    iterations: int = 5,
    eps: float = 1e-6,
) -> torch.Tensor:
    """L_r ``(B,)`` of eq. 6.11-6.12 (models fitted per mask, detached)."""
    _check(flow, masks)
    theta = fit_models(flow, masks, model=model, distance="l1", iterations=iterations)
    residual = weighted_loss(flow, masks, theta, model=model, distance="l1").sum(1)
    return residual / flow.abs().flatten(1).sum(1).clamp_min(eps)


def bdmm_loss(
    flow: torch.Tensor,
    masks: torch.Tensor,
    classifier: Callable[[torch.Tensor], torch.Tensor],
    lam: torch.Tensor,
    coherence_weight: float = 1.0,
    model: str = "quadratic12",
    iterations: int = 5,
    kappa: float = 0.5,
) -> dict[str, torch.Tensor]:
    """The Lagrangian of eq. 6.3 plus ``coherence_weight`` L_r, per sample, and its parts.

    Args:
        flow: ``(B, 2, H, W)`` in pixels.
        masks: ``(B, K, H, W)`` soft masks of the generator (softmax over K).
        classifier: the frozen ``phi``: flows ``(B, 2, H, W)`` -> p(salient) ``(B,)``.
        lam: the multiplier (a scalar parameter; its gradient is reversed here).

    Returns:
        ``loss``, ``size`` (S), ``constraint`` (sigma(phi(omega))), ``probability``
        (phi(omega)) and ``coherence`` (L_r), each ``(B,)``.
    """
    size = masks[:, SALIENT].flatten(1).mean(1)
    probability = classifier(perturbed_flow(flow, masks, model, iterations))
    constraint = hinge(probability, kappa)
    coherence = (
        coherence_loss(flow, masks, model, iterations)
        if coherence_weight > 0
        else torch.zeros_like(size)
    )
    loss = size + reverse_gradient(lam) * constraint + coherence_weight * coherence
    return {
        "loss": loss,
        "size": size,
        "constraint": constraint,
        "probability": probability,
        "coherence": coherence,
    }


__all__ = [
    "BACKGROUND",
    "SALIENT",
    "bdmm_loss",
    "coherence_loss",
    "hinge",
    "perturbed_flow",
    "reverse_gradient",
]
