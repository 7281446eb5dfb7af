"""Event motion segmentation by motion compensation (Stoffregen et al. ICCV 2019).

A window of events is explained by K layers, each a parametric motion model ``theta_k`` and a
soft assignment ``w_k(e)`` of every event. Each layer's image of warped events (IWE)
``I_k = splat(warp(e, theta_k), w_k)``, smoothed by a Gaussian of ``sigma`` pixels, is sharp when
its model is right and its events belong to it. The method alternates

- motion step: ``theta_k = argmax contrast(I_k)`` with the weights fixed (L-BFGS on the summed
  variances, every layer at once, from the current models);
- assignment step: ``w_k(e) ∝ I_k(warp(e, theta_k))``, the density of layer k's sharp image
  where its model sends the event (an event that sharpens layer k lands on one of its edges).

EM only finds a local optimum near its start: from a network's masks and motions
(EV-LayerSegNet) this is a test-time refinement, `refine_window`. Measured on the simulated
benchmark (`benchmarks/event_segmentation.py --refine`, 30 held-out sequences, shipped 64x64
model): IoU 0.432 -> 0.486, detection rate 0.00 -> 0.25, EPE 3.42 -> 2.47 px/window with 5
iterations. Two variants measured and left out: a spatial prior on the assignments (neighbouring
events' weights, as an MRF would) helps from the ground truth (0.744 -> 0.773) but not from the
network (0.532 -> 0.505 on 10 sequences); starting without a network from the peaks of the
contrast over translations reaches only 0.35 even with the true number of layers. The IWEs are
taken at the window's middle (``t_ref = 0.5``): at its start, contrast maximisation of affine
models collapsed events onto a few pixels (IoU 0.34, EPE 27 px on the same 10 sequences), the
known failure of a single reference time (Shiba et al. 2022).

Convention: events ``(N,)`` tensors ``x, y`` (integer pixels), ``t`` in the time unit of theta
(EV-LayerSegNet: 0 at the window's first event, 1 at its last; theta in pixels per window);
``theta`` ``(K, 2, J)`` on the basis of ``model`` at normalised pixel centres; weights
``(K, N)`` summing to 1 over K; masks ``(K, H, W)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from motionlayers.errors import InputError, ShapeError
from motionlayers.events.warp import event_flow, sample_masks, splat, warp_events
from motionlayers.losses.events import contrast
from motionlayers.motion import pixels_to_normalized

__all__ = [
    "EventEMResult",
    "event_masks",
    "gaussian_blur",
    "motion_compensation_em",
    "refine_window",
]


@dataclass
class EventEMResult:
    """``weights (K, N)`` per-event assignments, ``theta (K, 2, J)``, ``contrast (K,)`` the
    variance of each layer's smoothed IWE at the end."""

    weights: torch.Tensor
    theta: torch.Tensor
    contrast: torch.Tensor


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(..., H, W)`` smoothed by a separable Gaussian of ``sigma`` pixels (zero padding,
    radius ``ceil(3 sigma)``); returned unchanged when ``sigma <= 0``."""
    if sigma <= 0:
        return image
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    lead, (height, width) = image.shape[:-2], image.shape[-2:]
    flat = image.reshape(-1, 1, height, width)
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return flat.reshape(*lead, height, width)


@dataclass(frozen=True)
class _Window:
    """The fixed data of one EM run: events ``(N,)``, sensor size, motion model, reference time
    and smoothing of the IWEs."""

    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    height: int
    width: int
    model: str
    t_ref: float
    sigma: float

    def images(
        self, theta: torch.Tensor, weights: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Smoothed per-layer IWEs ``(K, H, W)`` and the warped positions ``(K, N)`` x and y."""
        flow = event_flow(theta, self.model, self.x, self.y, self.height, self.width, True)
        xw, yw = warp_events(self.x, self.y, self.t, flow, self.t_ref)
        image = splat(xw, yw, self.height, self.width, weights)
        return gaussian_blur(image, self.sigma), xw, yw


def _fit_motions(
    window: _Window, theta: torch.Tensor, weights: torch.Tensor, steps: int
) -> torch.Tensor:
    """Motion step: the models maximising the summed contrast of the layers' IWEs, by L-BFGS
    from ``theta`` (``(K, 2, J)``, returned as a new tensor)."""
    params = theta.detach().clone().requires_grad_(True)
    # The summed variances scale with the squared event density; normalising by the unwarped
    # image's variance keeps L-BFGS's first step and tolerances independent of the window.
    with torch.no_grad():
        still = splat(window.x, window.y, window.height, window.width)
        scale = contrast(gaussian_blur(still, window.sigma)).clamp_min(1e-12)
    optimiser = torch.optim.LBFGS(
        [params], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe", tolerance_grad=1e-6
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = -contrast(window.images(params, weights)[0]).sum() / scale
        loss.backward()
        return loss

    optimiser.step(closure)
    return params.detach()


def _assign(images: torch.Tensor, xw: torch.Tensor, yw: torch.Tensor, floor: float) -> torch.Tensor:
    """Assignment step: ``(K, N)`` weights ∝ each layer's smoothed IWE ``(K, H, W)`` read
    (bilinearly) where that layer warps the event, plus ``floor`` so that no weight is 0."""
    height, width = images.shape[-2:]
    gx, gy = pixels_to_normalized(xw, yw, height, width)
    grid = torch.stack([gx, gy], -1)[:, None]  # (K, 1, N, 2)
    density = F.grid_sample(
        images[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[:, 0, 0]  # (K, N)
    density = density.clamp_min(0) + floor
    return density / density.sum(0, keepdim=True)


def motion_compensation_em(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    theta: torch.Tensor,
    weights: torch.Tensor,
    height: int,
    width: int,
    *,
    model: str = "affine",
    iterations: int = 5,
    motion_steps: int = 20,
    sigma: float = 1.0,
    t_ref: float = 0.5,
    floor: float = 1e-3,
) -> EventEMResult:
    """Alternate motion and assignment steps (module doc) from ``theta (K, 2, J)`` and
    ``weights (K, N)``, ``iterations`` times. Inputs are not modified; no gradient flows.

    ``t_ref`` is the reference time of the IWEs, in the unit of ``t`` (the middle of a
    normalised window by default); ``floor`` is added to every density of the assignment step,
    relative to the mean event density (it keeps weights positive where an event lands on no
    layer's edge, e.g. noise)."""
    if theta.ndim != 3 or theta.shape[1] != 2:
        raise ShapeError(f"theta: expected (K, 2, J), got {tuple(theta.shape)}")
    if weights.shape != (theta.shape[0], x.shape[0]):
        raise ShapeError(
            f"weights: expected (K, N) = {(theta.shape[0], x.shape[0])}, got {tuple(weights.shape)}"
        )
    if iterations < 0 or motion_steps < 1:
        raise InputError("iterations", "needs iterations >= 0 and motion_steps >= 1")
    x, y, t = (v.detach().to(theta.dtype) for v in (x, y, t))
    window = _Window(x, y, t, height, width, model, t_ref, sigma)
    theta, weights = theta.detach().clone(), weights.detach().to(theta.dtype).clone()
    density = x.shape[0] / (height * width)
    for _ in range(iterations):
        theta = _fit_motions(window, theta, weights, motion_steps)
        with torch.no_grad():
            weights = _assign(*window.images(theta, weights), floor * density)
    with torch.no_grad():
        images = window.images(theta, weights)[0]
    return EventEMResult(weights, theta, contrast(images))


def event_masks(
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    height: int,
    width: int,
    fallback: torch.Tensor | None = None,
    sigma: float = 2.0,
) -> torch.Tensor:
    """Soft masks ``(K, H, W)`` from per-event weights ``(K, N)``: at a pixel with events, the
    mean weight of its events; elsewhere the Gaussian-weighted (``sigma`` pixels) mean of its
    neighbours' events, and ``fallback (K, H, W)`` (default: uniform) where none is near."""
    k = weights.shape[0]
    index = (y.long() * width + x.long()).expand(k, -1)
    sums = torch.zeros(k, height * width, dtype=weights.dtype, device=weights.device)
    sums = sums.scatter_add(1, index, weights).view(k, height, width)
    counts = sums.sum(0)
    smooth_sums, smooth_counts = gaussian_blur(sums, sigma), gaussian_blur(counts, sigma)
    masks = torch.where(
        counts > 0,
        sums / counts.clamp_min(1e-12),
        smooth_sums / smooth_counts.clamp_min(1e-12),
    )
    if fallback is None:
        fallback = torch.full_like(masks, 1.0 / k)
    near = (counts > 0) | (smooth_counts > 1e-3)
    return torch.where(near, masks, fallback.to(masks.dtype))


def refine_window(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    masks: torch.Tensor,
    theta: torch.Tensor,
    *,
    model: str = "affine",
    iterations: int = 5,
    motion_steps: int = 20,
    sigma: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-time refinement of a network's ``masks (K, H, W)`` and motions ``theta (K, 2, J)``
    of one window by `motion_compensation_em` (in float64); returns refined ``(masks, theta)``
    in the input dtypes, the masks from the refined event weights (`event_masks`; the
    network's masks where no event is near)."""
    height, width = masks.shape[-2:]
    masks64, theta64 = masks.detach().double(), theta.detach().double()
    weights = sample_masks(masks64[None], x, y, mode="nearest")[0]
    result = motion_compensation_em(
        x,
        y,
        t,
        theta64,
        weights,
        height,
        width,
        model=model,
        iterations=iterations,
        motion_steps=motion_steps,
        sigma=sigma,
    )
    refined = event_masks(x.double(), y.double(), result.weights, height, width, masks64)
    return refined.to(masks.dtype), result.theta.to(theta.dtype)
