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
(EV-LayerSegNet) this is a test-time refinement, `refine_window`, which first searches every
layer's translation over a grid (`search_translations`: the network's object motions are often
farther from the truth than the contrast peak is wide) and smooths the masks (single events'
weights are noisy). Measured on the simulated benchmark (`benchmarks/event_segmentation.py
--refine`, 30 held-out sequences, the deblurring-only 64x64 model; the self-trained model that
ships now: 0.569 -> 0.617): IoU 0.432 (network) -> 0.486 (5 EM
iterations alone) -> 0.589 (`refine_window`'s defaults with 10 iterations), detection rate 0.00
-> 0.25 -> 0.52, EPE 3.42 -> 2.47 -> 1.79 px/window. Variants measured and left out (with EM
alone, 10 sequences): a spatial prior on the assignments (neighbouring events' weights, as an MRF
would) helps from the ground truth (0.744 -> 0.773) but not from the network (0.532 -> 0.505);
starting without a network from the peaks of the contrast over translations reaches only 0.35
even with the true number of layers. The IWEs are taken at the window's middle (``t_ref =
0.5``): at its start, contrast maximisation of affine models collapsed events onto a few pixels
(IoU 0.34, EPE 27 px on the same 10 sequences), the known failure of a single reference time
(Shiba et al. 2022).

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
from motionlayers.events.sharpness import contrast
from motionlayers.events.warp import event_flow, sample_masks, splat, warp_events
from motionlayers.motion import pixels_to_normalized

__all__ = [
    "REFINE_ROUNDS",
    "EventEMResult",
    "event_masks",
    "gaussian_blur",
    "motion_compensation_em",
    "refine_window",
    "search_translations",
    "subpixel_offsets",
]

REFINE_ROUNDS = 2
"""Rounds of translation search + EM in `refine_window` (IoU on the development windows: 1
round 0.550, 2 rounds 0.556, 3 rounds 0.559; 5 iterations, before the sub-pixel offsets)."""
REFINE_SIGMA = 0.5
"""Gaussian smoothing (pixels) of the IWEs in `refine_window` (0.25/0.5/0.75/1/1.5 measured on
the development windows: IoU 0.584/0.588/0.580/0.556/0.500)."""
START_SIGMA = 2.0
"""Gaussian smoothing (pixels) of the network's masks before the first round (1/2/4: IoU
0.546/0.556/0.550 on the development windows)."""
MASK_SIGMA = 4.0
"""Gaussian smoothing (pixels) of the refined masks (2/3/4/5 measured on the development windows,
4 best)."""
SEARCH_MAX_EVENTS = 20_000
"""Events scored by `search_translations`; larger windows are subsampled evenly."""


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


def subpixel_offsets(
    count: int, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dx, dy)``, each ``(count,)`` in ``[-0.5, 0.5)``: fixed (seeded) positions of events
    inside their pixels.

    A sensor's events sit on integer pixels; warped by a zero component of motion they stay
    on the pixel lattice, where bilinear splatting does not spread them, so that the contrast
    of any image has a spurious peak at ``u = 0`` and ``v = 0`` (on the simulated benchmark
    several refined layers ended at exactly ``u = 0`` or ``v = 0``). Spreading every event
    uniformly inside its pixel removes the lattice; the seed keeps results reproducible."""
    generator = torch.Generator().manual_seed(0)
    offsets = torch.rand(2, count, generator=generator, dtype=torch.float64) - 0.5
    return offsets[0].to(dtype=dtype, device=device), offsets[1].to(dtype=dtype, device=device)


@dataclass(frozen=True)
class _Window:
    """The fixed data of one EM run: events ``(N,)`` (integer pixels ``x, y`` where the models
    are evaluated, sub-pixel offsets ``dx, dy`` added before warping), sensor size, motion
    model, reference time and smoothing of the IWEs."""

    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    dx: torch.Tensor | float
    dy: torch.Tensor | float
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
        xw, yw = warp_events(self.x + self.dx, self.y + self.dy, self.t, flow, self.t_ref)
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


def _check_layers(theta: torch.Tensor, weights: torch.Tensor, count: int) -> None:
    """Raise `ShapeError` unless ``theta`` is ``(K, 2, J)`` and ``weights`` ``(K, count)``."""
    if theta.ndim != 3 or theta.shape[1] != 2:
        raise ShapeError(f"theta: expected (K, 2, J), got {tuple(theta.shape)}")
    if weights.shape != (theta.shape[0], count):
        raise ShapeError(
            f"weights: expected (K, N) = {(theta.shape[0], count)}, got {tuple(weights.shape)}"
        )


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
    subpixel: bool = False,
) -> EventEMResult:
    """Alternate motion and assignment steps (module doc) from ``theta (K, 2, J)`` and
    ``weights (K, N)``, ``iterations`` times. Inputs are not modified; no gradient flows.

    ``t_ref`` is the reference time of the IWEs, in the unit of ``t`` (the middle of a
    normalised window by default); ``floor`` is added to every density of the assignment step,
    relative to the mean event density (it keeps weights positive where an event lands on no
    layer's edge, e.g. noise); ``subpixel`` spreads the events inside their pixels
    (`subpixel_offsets`) before warping."""
    _check_layers(theta, weights, x.shape[0])
    if iterations < 0 or motion_steps < 1:
        raise InputError("iterations", "needs iterations >= 0 and motion_steps >= 1")
    x, y, t = (v.detach().to(theta.dtype) for v in (x, y, t))
    dx, dy = subpixel_offsets(x.shape[0], x.dtype, x.device) if subpixel else (0.0, 0.0)
    window = _Window(x, y, t, dx, dy, height, width, model, t_ref, sigma)
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


def search_translations(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    theta: torch.Tensor,
    weights: torch.Tensor,
    height: int,
    width: int,
    *,
    model: str = "affine",
    span: float | None = None,
    steps: int = 21,
    levels: int = 2,
    sigma: float = 1.0,
    t_ref: float = 0.5,
    subpixel: bool = False,
    max_events: int = SEARCH_MAX_EVENTS,
) -> torch.Tensor:
    """Global search of each layer's translation: ``theta (K, 2, J)`` with, per layer, the
    offset ``(u, v)`` added to its flow that maximises the contrast of its weighted IWE.

    EM and L-BFGS only climb the nearest peak of the contrast; a network's motion for a small
    layer is often farther from the truth than the peak's width (on the simulated benchmark
    its object motions are off by 9 px/window for objects moving 8). This scores a grid of
    ``steps x steps`` offsets over ``[-span, span]`` (default: 30 % of the sensor's larger
    side per window), then ``levels - 1`` finer 9x9 grids around the best, each a quarter of
    the last step. The IWEs of a grid of step ``s`` are smoothed by ``max(sigma, s / 2)`` so
    that no peak falls between its nodes, and drawn ``floor(s / 2)`` times smaller (cost).
    Events beyond ``max_events`` are subsampled evenly (the contrast's peak does not need them
    all); ``subpixel`` as in `motion_compensation_em`.

    Args:
        x, y, t: ``(N,)`` events (module convention).
        theta: ``(K, 2, J)`` current models on the basis of ``model`` (translation = ``J``'s
            constant term).
        weights: ``(K, N)`` the layers' soft assignments.

    Returns:
        ``(K, 2, J)`` a new tensor: ``theta`` with each layer's best offset added to its
        constant term.
    """
    if steps < 2 or levels < 1:
        raise InputError("translation search", "needs steps >= 2 and levels >= 1")
    _check_layers(theta, weights, x.shape[0])
    stride = max(1, math.ceil(x.shape[0] / max_events))
    if subpixel:
        dx, dy = subpixel_offsets(x.shape[0], theta.dtype, x.device)
    else:
        dx, dy = torch.zeros_like(x), torch.zeros_like(y)
    x, y, t, dx, dy = (v.detach()[::stride].to(theta.dtype) for v in (x, y, t, dx, dy))
    weights = weights.detach()[:, ::stride].to(theta.dtype)
    with torch.no_grad():
        flow = event_flow(theta, model, x, y, height, width, True)  # (K, 2, N)
        xw, yw = warp_events(x + dx, y + dy, t, flow, t_ref)
        dt = t - t_ref
        span = 0.3 * max(height, width) if span is None else span
        step = 2 * span / (steps - 1)
        best = torch.zeros(theta.shape[0], 2, dtype=theta.dtype, device=theta.device)
        for level in range(levels):
            count = steps if level == 0 else 9
            grid = (torch.arange(count, dtype=theta.dtype, device=theta.device) - count // 2) * step
            du, dv = (g.reshape(-1) for g in torch.meshgrid(grid, grid, indexing="xy"))
            # A coarse grid needs no finer image than its own blur: downscale by half a step.
            scale = max(1, int(step // 2))
            size = (math.ceil(height / scale), math.ceil(width / scale))
            blur = max(sigma, step / 2) / scale
            for k in range(theta.shape[0]):
                u, v = best[k, 0] + du, best[k, 1] + dv  # (C,)
                scores = torch.cat(
                    [
                        contrast(
                            gaussian_blur(
                                splat(
                                    (xw[k] - dt * u[c, None]) / scale,
                                    (yw[k] - dt * v[c, None]) / scale,
                                    *size,
                                    weights[k],
                                ),
                                blur,
                            )
                        )
                        for c in torch.split(torch.arange(len(u), device=u.device), 128)
                    ]
                )
                i = int(scores.argmax())
                best[k] = torch.stack([u[i], v[i]])
            step /= 4
    out = theta.detach().clone()
    out[:, :, 0] += best
    return out


def refine_window(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    masks: torch.Tensor,
    theta: torch.Tensor,
    *,
    model: str = "affine",
    iterations: int = 5,
    rounds: int = REFINE_ROUNDS,
    motion_steps: int = 20,
    sigma: float = REFINE_SIGMA,
    start_sigma: float = START_SIGMA,
    mask_sigma: float = MASK_SIGMA,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-time refinement of a network's ``masks (K, H, W)`` and motions ``theta (K, 2, J)``
    of one window, in float64; returns refined ``(masks, theta)`` in the input dtypes.

    Each of ``rounds`` rounds re-reads the event weights from the current masks, searches
    every layer's translation globally (`search_translations`) and runs ``iterations`` of
    `motion_compensation_em` from there; the masks are rebuilt from the event weights
    (`event_masks`; the network's masks where no event is near). The network's masks are
    smoothed by a Gaussian of ``start_sigma`` pixels, the final ones by ``mask_sigma``: single
    events' weights are noisy (a layer's sharp image is a weak witness for one event), the
    layers are regions.

    Events are spread inside their pixels (`subpixel_offsets`) for the search and EM.
    ``rounds=0`` (or ``iterations=0``) returns the network's smoothed masks and its motions.
    Measured on 60 simulated development sequences (`docs/benchmarks.md`): IoU 0.409 for the
    network, 0.460 for 5 EM iterations alone, 0.511 with one search round first, 0.550 with
    smoothed masks, 0.556 with two rounds, 0.588 with ``sigma`` 0.5, 0.590 with sub-pixel
    events, 0.594 with 10 iterations.
    """
    if rounds < 0:
        raise InputError("rounds", f"must be >= 0, got {rounds}")
    height, width = masks.shape[-2:]
    masks64 = gaussian_blur(masks.detach().double(), start_sigma)
    theta64 = theta.detach().double()
    x64, y64 = x.double(), y.double()
    for _ in range(rounds if iterations > 0 else 0):
        weights = sample_masks(masks64[None], x, y, mode="nearest")[0]
        theta64 = search_translations(
            x, y, t, theta64, weights, height, width, model=model, subpixel=True
        )
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
            subpixel=True,
        )
        theta64 = result.theta
        masks64 = event_masks(x64, y64, result.weights, height, width, masks64)
    smooth = gaussian_blur(masks64, mask_sigma)  # zero padding: renormalised at the borders
    smooth = smooth / smooth.sum(0, keepdim=True).clamp_min(1e-12)
    return smooth.to(masks.dtype), theta64.to(theta.dtype)
