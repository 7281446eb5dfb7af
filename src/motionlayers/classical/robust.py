"""Hierarchical robust affine motion segmentation (thesis 5.2.2, eq. 5.5).

Layers are peeled off one at a time. At iteration k an affine model is fitted with the Huber
function to the flow of the pixels not yet assigned (``Omega_k``; eq. 5.5, `motion.fit` with
``distance="huber"``); its inliers,

    1/2 (|u_p - u_p^k| / sigma_u^k + |v_p - v_p^k| / sigma_v^k) < beta,   beta = 1.6,

with ``sigma`` the deviations of the residual components over ``Omega_k`` (the thesis
writes them as factors gamma "to avoid being affected by diverse motion magnitudes": the residuals
are divided by their spread), form layer k; the outliers go on to the next iteration. It stops
when at most ``min_outliers`` pixels (50) remain, or when ``layers - 1`` layers are peeled; the
remaining pixels form the last layer. Finally each layer may be split into connected components
(`motionlayers.postprocess.connected_components`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from motionlayers.errors import InputError, check_shape
from motionlayers.limits import check_layers
from motionlayers.motion import fit, parse_model, render
from motionlayers.postprocess.components import connected_components

DEVIATIONS = ("mad", "std")


@dataclass
class RobustResult:
    """``labels (B, H, W)`` int64 layer index (in peeling order), ``theta (B, K, 2, J)`` (zero for
    unused layers), ``layers (B,)`` the number of layers found, ``regions (B, H, W)`` int64 the
    connected components of the layers."""

    labels: torch.Tensor
    theta: torch.Tensor
    layers: torch.Tensor
    regions: torch.Tensor


def robust_layers(
    flow: torch.Tensor,
    layers: int = 8,
    beta: float = 1.6,
    min_outliers: int = 50,
    model: str = "affine",
    huber_delta: float = 1.0,
    iterations: int = 20,
    min_sigma: float = 1e-3,
    deviation: str = "mad",
    refits: int = 2,
    start: str = "mode",
    bins: int = 24,
) -> RobustResult:
    """Hierarchical robust segmentation of flows ``(B, 2, H, W)`` into at most ``layers`` layers.

    The batch items are processed together (each with its own remaining support); an item whose
    outliers are exhausted stops gaining layers.

    Args:
        flow: ``(B, 2, H, W)`` flow in pixels.
        layers: K, the most layers per item (the last holds every remaining pixel), at most
            `motionlayers.limits.MAX_CLASSICAL_LAYERS`.
        beta: inlier threshold on the deviation-scaled residual (thesis: 1.6).
        min_outliers: stop when at most this many pixels remain (thesis: 50).
        model: the motion model (thesis: affine).
        huber_delta: Huber threshold in pixels.
        iterations: IRLS iterations of each Huber fit.
        min_sigma: floor of the residual deviations (pixels), for exact synthetic flows.
        deviation: ``"mad"`` (default; 1.4826 x the median absolute deviation of each residual
            component over ``Omega_k``) or ``"std"`` (the thesis' standard deviation). The standard
            deviation is inflated by the outliers themselves, so when a second motion covers a
            large part of ``Omega_k`` its pixels pass the test and two layers merge; the MAD
            ignores up to half of the pixels as outliers.
        refits: after the fit on ``Omega_k``, refit this many times on the current inliers and
            test ``Omega_k`` again (a convex Huber fit on ``Omega_k`` is pulled towards the
            outliers; refitting on the inliers removes that bias). 0 is the thesis' single fit.
        start: ``"mode"`` (default): the first fit of each layer uses only the pixels whose flow
            vector falls near the mode of the 2-D histogram of the flow over ``Omega_k``; a Huber
            fit on all of ``Omega_k`` (``"all"``, the thesis) is convex, so a second motion
            covering a third of the image pulls it into a compromise (an affine ramp across a
            motion boundary) whose inliers belong to no layer.
        bins: bins per axis of that histogram.
    """
    check_shape(flow, ("B", 2, "H", "W"), "robust_layers: flow")
    if deviation not in DEVIATIONS:
        raise InputError("deviation", f"unknown {deviation!r}; valid: {', '.join(DEVIATIONS)}")
    if start not in ("mode", "all"):
        raise InputError("start", f"unknown {start!r}; valid: mode, all")
    check_layers(layers)  # at most MAX_CLASSICAL_LAYERS
    flow = flow.detach()
    batch, _, height, width = flow.shape
    size = parse_model(model).basis_size(None)
    labels = torch.full((batch, height, width), layers - 1, dtype=torch.long, device=flow.device)
    theta = torch.zeros(batch, layers, 2, size, dtype=flow.dtype, device=flow.device)
    remaining = torch.ones(batch, height, width, dtype=torch.bool, device=flow.device)
    for k in range(layers - 1):
        active = remaining.flatten(1).sum(1) > min_outliers  # (B,)
        if not bool(active.any()):
            break
        support = _mode_support(flow, remaining, bins) if start == "mode" else remaining
        for _ in range(1 + refits):
            weights = support.unsqueeze(1).to(flow.dtype)
            theta_k = fit(
                flow, weights, model, "huber", iterations=iterations, huber_delta=huber_delta
            )  # (B, 1, 2, J)
            residual = flow - render(theta_k, model, height, width)[:, 0]  # (B, 2, H, W)
            support = _inliers(residual, remaining, beta, min_sigma, deviation)
        inliers = support & active.view(-1, 1, 1)
        labels[inliers] = k
        theta[:, k] = torch.where(active.view(-1, 1, 1), theta_k[:, 0], theta[:, k])
        remaining &= ~inliers
        stuck = active & ~inliers.flatten(1).any(1)
        remaining &= ~stuck.view(-1, 1, 1)  # no inlier: the rest is the last layer
    last = remaining.unsqueeze(1).to(flow.dtype)
    if bool(last.any()):
        theta[:, -1] = fit(
            flow, last, model, "huber", iterations=iterations, huber_delta=huber_delta
        )[:, 0]
    found = torch.stack(
        [(torch.bincount(f.reshape(-1), minlength=layers) > 0).sum() for f in labels]
    )
    regions = torch.from_numpy(
        np.stack([connected_components(f) for f in labels.cpu().numpy()])
    ).to(flow.device)
    return RobustResult(labels, theta, found, regions)


def _mode_support(flow: torch.Tensor, support: torch.Tensor, bins: int) -> torch.Tensor:
    """Pixels of ``support (B, H, W)`` whose flow ``(B, 2, H, W)`` lies in the most populated
    cell of a ``bins x bins`` histogram (between the 1st and 99th percentiles) or next to it."""
    out = torch.zeros_like(support)
    for b in range(flow.shape[0]):
        if not bool(support[b].any()):
            continue
        vectors = flow[b][:, support[b]]  # (2, n)
        low = torch.quantile(vectors, 0.01, dim=1, keepdim=True)
        high = torch.quantile(vectors, 0.99, dim=1, keepdim=True)
        width = ((high - low) / bins).clamp_min(1e-3)
        values = flow[b].flatten(1)  # (2, H W)
        # a value equal to the 99th percentile (a constant flow covering most pixels) belongs to
        # the last cell, not outside the histogram
        cells = ((values - low) / width).floor().long().clamp(max=bins - 1)
        inside = support[b].flatten() & ((values >= low) & (values <= high)).all(0)
        flat = cells[0] * bins + cells[1]
        mode = int(torch.bincount(flat[inside], minlength=bins * bins).argmax())
        near = ((cells[0] - mode // bins).abs() <= 1) & ((cells[1] - mode % bins).abs() <= 1)
        out[b] = (near & support[b].flatten()).view(support.shape[1:])
    return out


def _inliers(
    residual: torch.Tensor, support: torch.Tensor, beta: float, min_sigma: float, deviation: str
) -> torch.Tensor:
    """Sites of ``support (B, H, W)`` whose deviation-scaled residual ``(B, 2, H, W)`` < beta."""
    if deviation == "mad":
        inside = residual.masked_fill(~support.unsqueeze(1), float("nan")).flatten(2)
        centre = inside.nanmedian(-1, keepdim=True).values
        sigma = 1.4826 * (inside - centre).abs().nanmedian(-1).values
    else:
        weight = support.unsqueeze(1).to(residual.dtype)
        count = weight.sum((-2, -1)).clamp_min(1)
        mean = (weight * residual).sum((-2, -1)) / count
        var = (weight * (residual - mean[..., None, None]).square()).sum((-2, -1)) / count
        sigma = var.sqrt()
    sigma = sigma.nan_to_num(0.0).clamp_min(min_sigma)  # (B, 2)
    score = 0.5 * (residual.abs() / sigma[..., None, None]).sum(1)
    return (score < beta) & support
