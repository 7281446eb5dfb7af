"""Batched weighted fitting of parametric motion models to flow (thesis eq. 2.16).

For every batch item ``b`` and layer ``k`` we solve

    theta_bk = argmin_theta  sum_i w_bki * distance(f_bi, theta c(i))

with ``squared`` by exact weighted least squares (normal equations), and ``l1``, ``l2`` and
``huber`` by iteratively reweighted least squares (IRLS) started from the least-squares solution;
an optional L-BFGS refinement polishes the robust optimum. Everything is batched over ``B`` and
``K`` (no Python loop over them): one IRLS step is two matrix products over the pixels.

Why it is fast: the Gram matrix ``sum_i w_i c(i) c(i)^T`` of a monomial basis only holds the
distinct monomials of degree <= 2 * degree (15 for the quadratic basis, not 36 entries), so it is
one ``(B K, N) @ (N, U)`` product; temporal models factor as ``c(x, y, t) = b(t) (x) s(x, y)`` and
their Gram matrices are assembled from per-frame spatial moments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from motionlayers.errors import InputError, ShapeError, check_finite
from motionlayers.motion.bases import normalized_coordinates, normalized_times, temporal_basis
from motionlayers.motion.distances import check_distance, distance_map, irls_weights
from motionlayers.motion.models import (
    SPATIAL_EXPONENTS,
    MotionModel,
    param_map,
    params_to_theta,
    parse_model,
)
from motionlayers.motion.render import theta_per_frame


@dataclass(frozen=True)
class _Design:
    """Everything about the basis that does not depend on the data."""

    model: MotionModel
    spatial: torch.Tensor  # (N, J_s) spatial basis on the grid
    moments: torch.Tensor  # (N, U) distinct products of pairs of basis monomials
    gram_index: torch.Tensor  # (J_s, J_s) column of `moments` holding c_j c_k
    temporal: torch.Tensor  # (T, L) temporal basis at the frames
    mapping: torch.Tensor | None  # (2 J, P) free parameters -> vec(theta), None for identity


def _design(
    model: MotionModel,
    frames: int,
    height: int,
    width: int,
    dtype: torch.dtype,
    device: torch.device,
) -> _Design:
    exponents = SPATIAL_EXPONENTS[model.spatial]
    x, y = normalized_coordinates(height, width, dtype, device)
    x, y = x.reshape(-1), y.reshape(-1)
    spatial = torch.stack([x**a * y**b for a, b in exponents], dim=-1)
    products = sorted({(a1 + a2, b1 + b2) for a1, b1 in exponents for a2, b2 in exponents})
    column = {power: i for i, power in enumerate(products)}
    moments = torch.stack([x**a * y**b for a, b in products], dim=-1)
    gram_index = torch.tensor(
        [[column[(a1 + a2, b1 + b2)] for a2, b2 in exponents] for a1, b1 in exponents],
        device=device,
    )
    temporal_frames = frames if model.is_temporal else None
    times = normalized_times(frames, dtype, device)
    temporal = temporal_basis(model, times, temporal_frames)
    if not model.is_temporal:
        temporal = torch.ones(frames, 1, dtype=dtype, device=device)
    mapping = param_map(model, height, width, temporal_frames, torch.float64, device)
    return _Design(model, spatial, moments, gram_index, temporal, mapping)


def _as_volume(flow: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate inputs; return flow ``(B, 2, T, N)`` and weights ``(B, K, T, N)``."""
    if flow.ndim not in (4, 5) or flow.shape[1] != 2:
        raise ShapeError(
            f"fit: flow must be (B, 2, H, W) or (B, 2, T, H, W), got {tuple(flow.shape)}"
        )
    if (
        weights.ndim != flow.ndim
        or weights.shape[0] != flow.shape[0]
        or weights.shape[2:] != flow.shape[2:]
    ):
        raise ShapeError(
            f"fit: weights must be (B, K, {'T, ' if flow.ndim == 5 else ''}H, W) "
            f"matching flow {tuple(flow.shape)}, got {tuple(weights.shape)}"
        )
    # One cheap reduction each; the detailed (slower) checks only run when something is off.
    if not bool(torch.isfinite(flow.sum())):
        check_finite(flow, "fit: flow")
    if not bool(torch.isfinite(weights.sum())):
        check_finite(weights, "fit: weights")
    if weights.numel() and float(weights.min()) < 0:
        raise InputError("fit: weights", "must be non-negative")
    if flow.ndim == 4:
        flow, weights = flow.unsqueeze(2), weights.unsqueeze(2)
    return flow.flatten(3), weights.flatten(3)


def _flow_products(design: _Design, flow: torch.Tensor) -> torch.Tensor:
    """``f_c(i) s(i)`` for every site: flow ``(B, 2, T, N)`` -> ``(B, 2, T, N, J_s)``.

    Computed once per fit so that each right-hand side is a batched matrix product.
    """
    return flow.unsqueeze(-1) * design.spatial


def _normal_equations(
    design: _Design, flow_products: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted normal equations.

    Args:
        flow_products: ``(B, 2, T, N, J_s)`` from `_flow_products`.
        weights: ``(B, K, C, T, N)`` with ``C = 1`` (shared by u and v) or ``C = 2``.

    Returns:
        gram ``(B, K, C, J, J)`` and right-hand side ``(B, K, 2, J)``.
    """
    moments = weights @ design.moments  # (B, K, C, T, U)
    spatial_gram = moments[..., design.gram_index]  # (B, K, C, T, Js, Js)
    temporal = design.temporal
    steps, js = temporal.shape[1], design.spatial.shape[1]
    if steps == 1:
        gram = torch.einsum("t,...tjk->...jk", temporal[:, 0] ** 2, spatial_gram)
    else:
        gram = torch.einsum("tl,tm,...tjk->...ljmk", temporal, temporal, spatial_gram)
        gram = gram.reshape(*gram.shape[:3], steps * js, steps * js)
    # sum_i w_kci f_c(i) s(i): (B, 2, T, K, N) @ (B, 2, T, N, Js) -> (B, 2, T, K, Js)
    batch, layers = weights.shape[:2]
    per_component = weights.expand(batch, layers, 2, *weights.shape[3:]).permute(0, 2, 3, 1, 4)
    spatial_rhs = per_component @ flow_products
    rhs = torch.einsum("tl,bctkj->bkclj", temporal, spatial_rhs)
    return gram, rhs.flatten(-2)


def _solve(design: _Design, gram: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """Solve the normal equations for theta ``(B, K, 2, J)`` in float64.

    Jacobi scaling and a tiny relative ridge keep empty or degenerate supports finite (theta -> 0
    along directions the support does not constrain).
    """
    gram64, rhs64 = gram.double(), rhs.double()
    size = rhs.shape[-1]
    if design.mapping is None:
        gram64 = gram64.expand(*rhs.shape[:2], 2, size, size)
        solution = _jacobi_ridge_solve(gram64, rhs64, ridge)
        return solution.to(rhs.dtype)
    joint = torch.zeros(*rhs.shape[:2], 2 * size, 2 * size, dtype=torch.float64, device=rhs.device)
    joint[..., :size, :size] = gram64[:, :, 0]
    joint[..., size:, size:] = gram64[:, :, -1]
    mapping = design.mapping
    reduced = mapping.T @ joint @ mapping
    params = _jacobi_ridge_solve(reduced, rhs64.flatten(-2) @ mapping, ridge)
    return (params @ mapping.T).reshape(rhs.shape).to(rhs.dtype)


def _jacobi_ridge_solve(gram: torch.Tensor, rhs: torch.Tensor, ridge: float) -> torch.Tensor:
    """Solve ``gram @ x = rhs`` batched; ``gram (..., P, P)`` symmetric PSD, ``rhs (..., P)``."""
    diag = gram.diagonal(dim1=-2, dim2=-1)
    tiny = torch.finfo(gram.dtype).tiny ** 0.5
    scale = torch.where(diag > tiny, diag.clamp_min(tiny).rsqrt(), torch.zeros_like(diag))
    scaled = gram * scale.unsqueeze(-1) * scale.unsqueeze(-2)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    solution = torch.linalg.solve(scaled + ridge * eye, (rhs * scale).unsqueeze(-1))
    return solution.squeeze(-1) * scale


def _residual(design: _Design, flow: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``f - theta c`` for every layer: flow ``(B, 2, T, N)``, theta ``(B, K, 2, J)`` ->
    ``(B, K, 2, T, N)``."""
    per_frame = theta_per_frame(theta, design.model, design.temporal)  # (B, K, 2, T, Js)
    return (per_frame @ design.spatial.T).neg_().add_(flow.unsqueeze(1))


def fit(
    flow: torch.Tensor,
    weights: torch.Tensor,
    model: str | MotionModel = "quadratic12",
    distance: str = "l1",
    *,
    iterations: int = 10,
    tolerance: float = 1e-4,
    eps: float = 1e-3,
    huber_delta: float = 1.0,
    lbfgs_steps: int = 0,
    ridge: float = 1e-9,
) -> torch.Tensor:
    """Fit one parametric motion model per layer to a flow, weighted by the layer's support.

    Minimises ``sum_i w_ik * distance(f_i, theta_k c(i))`` for each ``k`` independently. The
    result is detached (thesis eq. 2.16-2.17: the models are fitted, then held fixed while the
    network is updated).

    Args:
        flow: ``(B, 2, H, W)`` flow in pixels, or a volume ``(B, 2, T, H, W)`` for a temporal
            model (``"affine+linear"``, ``"quadratic12+spline3"``; any model on a volume fits
            one model over all its frames).
        weights: ``(B, K, H, W)`` (or ``(B, K, T, H, W)``) non-negative supports, e.g. masks.
        model: motion model (see `motionlayers.motion.models`).
        distance: ``"l1"`` (default, |u| + |v|), ``"l2"``, ``"squared"``, ``"huber"``.
        iterations: maximum IRLS steps for the robust distances.
        tolerance: stop IRLS when no entry of theta moves by more than ``tolerance`` pixels.
        eps: smallest residual (pixels) in the IRLS weights.
        huber_delta: Huber threshold in pixels.
        lbfgs_steps: if > 0, refine the IRLS result with that many L-BFGS iterations
            (strong Wolfe line search) on the exact objective.
        ridge: relative Tikhonov term of the normal equations (keeps empty supports finite).

    Returns:
        theta ``(B, K, 2, J)`` in the dtype and on the device of ``flow``. Empty or degenerate
        supports give finite values (zero along unconstrained directions).
    """
    spec = parse_model(model)
    check_distance(distance)
    frames = flow.shape[2] if flow.ndim == 5 else 1
    if spec.is_temporal and flow.ndim != 5:
        raise ShapeError(f"fit: temporal model {spec} needs a flow volume (B, 2, T, H, W)")
    with torch.no_grad():
        flow_v, weights_v = _as_volume(flow.detach(), weights.detach())
        weights_v = weights_v.to(flow_v.dtype)
        height, width = flow.shape[-2:]
        design = _design(spec, frames, height, width, flow_v.dtype, flow_v.device)
        support = weights_v.unsqueeze(2)  # (B, K, 1, T, N)
        products = _flow_products(design, flow_v)
        theta = _solve(design, *_normal_equations(design, products, support), ridge)
        if distance != "squared":
            for _ in range(iterations):
                residual = _residual(design, flow_v, theta)
                factors = irls_weights(residual, distance, 2, eps, huber_delta, inplace=True)
                update = _solve(
                    design, *_normal_equations(design, products, factors.mul_(support)), ridge
                )
                step = float((update - theta).abs().max()) if update.numel() else 0.0
                theta = update
                if step < tolerance:
                    break
    if lbfgs_steps > 0:
        theta = refine_lbfgs(flow, weights, theta, spec, distance, lbfgs_steps, huber_delta)
    return theta


def weighted_loss(
    flow: torch.Tensor,
    weights: torch.Tensor,
    theta: torch.Tensor,
    model: str | MotionModel = "quadratic12",
    distance: str = "l1",
    huber_delta: float = 1.0,
) -> torch.Tensor:
    """The fitting objective ``sum_i w_ik * distance(f_i, theta_k c(i))`` per layer.

    Differentiable in ``flow``, ``weights`` and ``theta``.

    Args:
        flow: ``(B, 2, H, W)`` or ``(B, 2, T, H, W)``.
        weights: ``(B, K, H, W)`` or ``(B, K, T, H, W)``.
        theta: ``(B, K, 2, J)``.

    Returns:
        ``(B, K)`` losses.
    """
    spec = parse_model(model)
    check_distance(distance)
    frames = flow.shape[2] if flow.ndim == 5 else 1
    if flow.ndim == 4:
        flow, weights = flow.unsqueeze(2), weights.unsqueeze(2)
    height, width = flow.shape[-2:]
    design = _design(spec, frames, height, width, flow.dtype, flow.device)
    residual = _residual(design, flow.flatten(3), theta)
    per_site = distance_map(residual, distance, dim=2, huber_delta=huber_delta)  # (B, K, T, N)
    return (weights.flatten(3) * per_site).sum((-2, -1))


def refine_lbfgs(
    flow: torch.Tensor,
    weights: torch.Tensor,
    theta: torch.Tensor,
    model: MotionModel,
    distance: str,
    steps: int,
    huber_delta: float = 1.0,
) -> torch.Tensor:
    """Polish theta ``(B, K, 2, J)`` with L-BFGS (strong Wolfe) on `weighted_loss`; detached.

    Optimises the free parameters, so that quadratic8's tie holds throughout.
    """
    frames = flow.shape[2] if flow.ndim == 5 else None
    height, width = flow.shape[-2:]
    temporal_frames = frames if model.is_temporal else None
    mapping = param_map(model, height, width, temporal_frames, theta.dtype, theta.device)
    flat = theta.detach().flatten(-2)
    start = flat if mapping is None else flat @ torch.linalg.pinv(mapping).T
    params = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([params], max_iter=steps, line_search_fn="strong_wolfe")
    flow, weights = flow.detach(), weights.detach()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        current = params_to_theta(params, model, height, width, temporal_frames)
        loss = weighted_loss(flow, weights, current, model, distance, huber_delta).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return params_to_theta(params.detach(), model, height, width, temporal_frames)
