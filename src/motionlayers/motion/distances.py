"""Distances between a flow and a model's flow, and their IRLS weights.

All take the residual ``r = f - theta c`` with the vector components on dimension ``dim``.

    squared  ||r||_2^2                  (exact weighted least squares)
    l2       ||r||_2                    (vector norm)
    l1       |r_u| + |r_v|              (the thesis' default, eq. 4.4)
    huber    Huber on ||r||_2 with threshold ``delta`` pixels: ||r||^2 / 2 below, delta (||r|| -
             delta / 2) above.
"""

from __future__ import annotations

import torch

from motionlayers.errors import InputError

DISTANCES = ("l1", "l2", "squared", "huber")


def check_distance(distance: str) -> str:
    if distance not in DISTANCES:
        raise InputError(
            "distance", f"unknown distance {distance!r}; valid: {', '.join(DISTANCES)}"
        )
    return distance


def distance_map(
    residual: torch.Tensor, distance: str = "l1", dim: int = -1, huber_delta: float = 1.0
) -> torch.Tensor:
    """Per-site distance of a residual; reduces ``dim`` (the u/v axis)."""
    check_distance(distance)
    if distance == "l1":
        return residual.abs().sum(dim)
    if distance == "squared":
        return residual.square().sum(dim)
    # Smooth at zero so that gradients stay finite when a residual vanishes.
    norm = (residual.square().sum(dim) + 1e-12).sqrt()
    if distance == "l2":
        return norm
    quadratic = 0.5 * norm.square()
    linear = huber_delta * (norm - 0.5 * huber_delta)
    return torch.where(norm <= huber_delta, quadratic, linear)


def irls_weights(
    residual: torch.Tensor,
    distance: str,
    dim: int,
    eps: float,
    huber_delta: float = 1.0,
    inplace: bool = False,
) -> torch.Tensor:
    """Reweighting factors of one IRLS step (to multiply the support weights).

    ``l1`` is separable: one factor per component (same shape as ``residual``), ``1 / |r_c|``.
    ``l2`` and ``huber`` act on the vector norm: one factor per site, shape kept with size 1 on
    ``dim``. ``squared`` gives ones. ``eps`` (pixels) bounds the factors so that exactly fitted
    sites stay finite. ``inplace=True`` reuses ``residual``'s memory (the fitting hot path).
    """
    if distance == "l1":
        magnitude = residual.abs_() if inplace else residual.abs()
        return magnitude.clamp_min_(eps).reciprocal_()
    norm = residual.square_() if inplace else residual.square()
    norm = norm.sum(dim, keepdim=True).sqrt_().clamp_min_(eps)
    if distance == "l2":
        return norm.reciprocal_()
    if distance == "huber":
        return norm.reciprocal_().mul_(huber_delta).clamp_max_(1.0)
    return torch.ones_like(norm)
