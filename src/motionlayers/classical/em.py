"""Classical EM motion segmentation of a flow field (thesis 2.4.4).

A mixture of K parametric motion models explains the flow: site ``i`` belongs to layer ``k`` with
prior ``pi_k`` and likelihood ``p(f_i | theta_k)``, Laplace (``-log p`` = L1 residual / scale,
the default) or Gaussian (squared residual, as in thesis 2.4.4). EM alternates

- E step: responsibilities ``r_ik ∝ pi_k p(f_i | theta_k, s_k)`` (softmax over k of the log terms);
- M step: ``theta_k = motion.fit(flow, r_k)`` (L1 IRLS or exact least squares), then the
  per-layer scale ``s_k`` and the proportions ``pi_k = mean_i r_ik`` in closed form.

EM only reaches a local optimum that depends on the initialisation, so it is run from N random
initialisations (random smooth soft masks, or random models) **in parallel as the batch dimension
of** `motionlayers.motion.fit`, and the run with the largest final log-likelihood is kept (no
ground truth involved).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from motionlayers.errors import InputError, check_shape
from motionlayers.limits import check_layers
from motionlayers.motion import distance_map, fit, parse_model, render

LIKELIHOODS = {"laplace": "l1", "gaussian": "squared"}
"""Likelihood name -> the distance its negative log uses (and `motion.fit` minimises)."""
INITIALISATIONS = ("masks", "models")


@dataclass
class EMResult:
    """Best-of-N result per batch item. ``masks (B, K, H, W)``, ``labels (B, H, W)`` int64,
    ``theta (B, K, 2, J)``, ``log_likelihood (B,)`` per-site mean, ``all_log_likelihood (B, N)``."""

    masks: torch.Tensor
    labels: torch.Tensor
    theta: torch.Tensor
    log_likelihood: torch.Tensor
    all_log_likelihood: torch.Tensor


def random_masks(
    count: int,
    layers: int,
    height: int,
    width: int,
    generator: torch.Generator,
    grid: int = 4,
    sharpness: float = 4.0,
) -> torch.Tensor:
    """Random spatially smooth soft masks ``(count, K, H, W)``: Gaussian logits on a coarse
    ``grid x grid`` lattice, upsampled bicubically, softmax over K."""
    logits = torch.randn(count, layers, grid, grid, generator=generator) * sharpness
    logits = F.interpolate(logits, size=(height, width), mode="bicubic", align_corners=False)
    return logits.softmax(1)


def _log_terms(
    flow: torch.Tensor,
    theta: torch.Tensor,
    scale: torch.Tensor,
    prior: torch.Tensor,
    model: str,
    likelihood: str,
) -> torch.Tensor:
    """``log pi_k + log p(f_i | theta_k, s_k)``: ``(B, K, H, W)``."""
    height, width = flow.shape[-2:]
    residual = flow.unsqueeze(1) - render(theta, model, height, width)
    dist = distance_map(residual, LIKELIHOODS[likelihood], dim=2)
    s = scale.view(*scale.shape, 1, 1)
    if likelihood == "laplace":  # two independent Laplace components (u, v), scale s
        log_p = -dist / s - 2 * torch.log(2 * s)
    else:  # isotropic 2-D Gaussian, variance s
        log_p = -dist / (2 * s) - torch.log(2 * math.pi * s)
    return log_p + prior.clamp_min(1e-8).log().view(*prior.shape, 1, 1)


def _m_step(
    flow: torch.Tensor,
    resp: torch.Tensor,
    model: str,
    likelihood: str,
    irls: int,
    min_scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """theta ``(B, K, 2, J)``, scale ``(B, K)`` and prior ``(B, K)`` from responsibilities."""
    distance = LIKELIHOODS[likelihood]
    theta = fit(flow, resp, model, distance, iterations=irls)
    height, width = flow.shape[-2:]
    dist = distance_map(flow.unsqueeze(1) - render(theta, model, height, width), distance, dim=2)
    mass = resp.sum((-2, -1))
    scale = (resp * dist).sum((-2, -1)) / (2 * mass.clamp_min(1e-6))
    scale = scale.clamp_min(min_scale if likelihood == "laplace" else min_scale**2)
    return theta, scale, mass / resp[0, 0].numel()


def classical_em(
    flow: torch.Tensor,
    layers: int = 2,
    initialisations: int = 10,
    iterations: int = 20,
    model: str = "quadratic12",
    likelihood: str = "laplace",
    init: str = "models",
    irls: int = 5,
    min_scale: float = 0.05,
    seed: int = 0,
) -> EMResult:
    """Segment flows with classical EM, best of ``initialisations`` runs by likelihood.

    Args:
        flow: ``(B, 2, H, W)`` flow in pixels (u first).
        layers: K, the number of motion layers, at most `motionlayers.limits.MAX_CLASSICAL_LAYERS`.
        initialisations: N random starts, run together as a batch of ``B * N``.
        iterations: EM iterations.
        model: motion model of every layer (see `motionlayers.motion.models`).
        likelihood: ``"laplace"`` (L1, robust) or ``"gaussian"`` (squared L2, thesis 2.4.4).
        init: ``"masks"`` (random smooth soft masks, then an M step) or ``"models"`` (random
            affine-like models with the flow's spread, then an E step).
        irls: IRLS steps of each M step (Laplace only).
        min_scale: smallest likelihood scale in pixels (keeps a perfect fit finite).
        seed: seed of the random initialisations.

    Returns:
        `EMResult` of the best run of each batch item.
    """
    check_shape(flow, ("B", 2, "H", "W"), "classical_em: flow")
    if likelihood not in LIKELIHOODS:
        raise InputError("likelihood", f"unknown {likelihood!r}; valid: {', '.join(LIKELIHOODS)}")
    if init not in INITIALISATIONS:
        raise InputError("init", f"unknown {init!r}; valid: {', '.join(INITIALISATIONS)}")
    check_layers(layers)  # at most MAX_CLASSICAL_LAYERS
    if initialisations < 1:
        raise InputError("initialisations", f"must be >= 1, got {initialisations}")
    batch, _, height, width = flow.shape
    runs = flow.detach().repeat_interleave(initialisations, 0)  # (B N, 2, H, W)
    generator = torch.Generator().manual_seed(seed)
    count = runs.shape[0]
    if init == "masks":
        resp = random_masks(count, layers, height, width, generator).to(flow)
        theta, scale, prior = _m_step(runs, resp, model, likelihood, irls, min_scale)
    else:
        size = parse_model(model).basis_size(None)
        spread = runs.flatten(2).std(-1).mean(-1).clamp_min(1.0).view(-1, 1, 1, 1)
        mean = runs.flatten(2).mean(-1).view(-1, 1, 2, 1)
        theta = torch.randn(count, layers, 2, size, generator=generator).to(flow) * spread
        theta[..., :1] += mean
        scale = torch.full((count, layers), 1.0).to(flow)
        prior = torch.full((count, layers), 1.0 / layers).to(flow)
    for _ in range(iterations):
        resp = _log_terms(runs, theta, scale, prior, model, likelihood).softmax(1)
        resp = torch.where(resp < 1e-6, 0.0, resp)  # no denormals in the IRLS weights
        theta, scale, prior = _m_step(runs, resp, model, likelihood, irls, min_scale)
    terms = _log_terms(runs, theta, scale, prior, model, likelihood)
    resp = terms.softmax(1)
    loglik = terms.logsumexp(1).mean((-2, -1)).view(batch, initialisations)
    best = loglik.argmax(1) + torch.arange(batch, device=flow.device) * initialisations
    masks = resp[best]
    return EMResult(masks, masks.argmax(1), theta[best], loglik.max(1).values, loglik)
