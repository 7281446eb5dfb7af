"""Objectives of a flow network: unsupervised photometric and smoothness terms (thesis eq.
7.37-7.42, with UFlow's census and forward-backward occlusion as options) and supervised
end-point error, each weighted over the network's iterations (RAFT, eq. 7.35-7.36).

**Convention.** Frames ``(B, C, H, W)`` in ``[0, 1]``; flows ``(B, 2, H, W)`` forward from
``frame0`` to ``frame1`` in pixels, u (x) first: the pixel ``p`` of frame 0 is at ``p + w(p)``
in frame 1, so ``frame1`` warped backward by ``w`` should match ``frame0``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from motionlayers.errors import InputError
from motionlayers.flow.warp import backward_warp

PHOTOMETRIC = ("ssim", "census", "ssim+census", "l1")
"""Photometric penalties `photometric_loss` knows."""
SMOOTHNESS_ALPHA = 20.0
"""Edge weight of the smoothness term, alpha_smoo (thesis 7.4.4)."""
SEQUENCE_GAMMA = 0.8
"""Weight decay over iterations, gamma (RAFT, eq. 7.35)."""


def ssim_penalty(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(1 - SSIM) / 2`` per pixel with 3x3 mean windows (Monodepth/UFlow form), in ``[0, 1]``:
    ``(B, C, H, W)`` twice -> ``(B, 1, H, W)`` (mean over channels)."""
    c1, c2 = 0.01**2, 0.03**2
    pad = (1, 1, 1, 1)
    x, y = F.pad(x, pad, mode="reflect"), F.pad(y, pad, mode="reflect")
    mu_x, mu_y = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    var_x = F.avg_pool2d(x * x, 3, 1) - mu_x**2
    var_y = F.avg_pool2d(y * y, 3, 1) - mu_y**2
    cov = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ((1 - ssim) / 2).clamp(0, 1).mean(1, keepdim=True)


def census_transform(image: torch.Tensor, patch: int = 7) -> torch.Tensor:
    """Soft census signature (UFlow): for each pixel, the normalised differences to its
    ``patch x patch`` neighbours of the grey image. ``(B, C, H, W) -> (B, patch^2, H, W)``."""
    grey = image.mean(1, keepdim=True) * 255.0
    neighbours = F.unfold(F.pad(grey, (patch // 2,) * 4, mode="replicate"), patch)
    neighbours = neighbours.view(grey.shape[0], patch * patch, *grey.shape[-2:])
    difference = neighbours - grey
    return difference / torch.sqrt(0.81 + difference**2)


def census_penalty(x: torch.Tensor, y: torch.Tensor, patch: int = 7) -> torch.Tensor:
    """Soft Hamming distance of census signatures, robust to lighting changes:
    ``(B, C, H, W)`` twice -> ``(B, 1, H, W)`` in ``[0, 1)``."""
    difference = (census_transform(x, patch) - census_transform(y, patch)) ** 2
    return (difference / (0.1 + difference)).mean(1, keepdim=True)


def photometric_penalty(x: torch.Tensor, y: torch.Tensor, kind: str = "ssim") -> torch.Tensor:
    """Per-pixel penalty ``(B, 1, H, W)`` between ``frame0`` and the warped ``frame1``
    (`PHOTOMETRIC`; ``"ssim+census"`` averages the two)."""
    if kind == "ssim":
        return ssim_penalty(x, y)
    if kind == "census":
        return census_penalty(x, y)
    if kind == "ssim+census":
        return 0.5 * (ssim_penalty(x, y) + census_penalty(x, y))
    if kind == "l1":
        return (x - y).abs().mean(1, keepdim=True)
    raise InputError("photometric", f"unknown penalty {kind!r}; choose from {PHOTOMETRIC}")


def forward_backward_occlusion(
    forward: torch.Tensor, backward: torch.Tensor, alpha1: float = 0.01, alpha2: float = 0.5
) -> torch.Tensor:
    """Visibility from the forward-backward check (UnFlow): ``p`` is occluded when
    ``|w_f(p) + w_b(p + w_f(p))|^2 > alpha1 (|w_f|^2 + |w_b(p + w_f)|^2) + alpha2``.
    ``(B, 2, H, W)`` twice -> ``(B, 1, H, W)`` 1.0 visible, 0.0 occluded (no gradient)."""
    with torch.no_grad():
        back, _ = backward_warp(backward, forward)
        mismatch = ((forward + back) ** 2).sum(1, keepdim=True)
        bound = alpha1 * ((forward**2).sum(1, keepdim=True) + (back**2).sum(1, keepdim=True))
        return (mismatch <= bound + alpha2).to(forward.dtype)


def edge_aware_smoothness(
    flow: torch.Tensor, image: torch.Tensor, alpha: float = SMOOTHNESS_ALPHA
) -> torch.Tensor:
    """First-order edge-aware smoothness (eq. 7.39): the mean over pixels and over ``u`` in
    ``{x, y}`` of ``|d_u w|_1 exp(-alpha |d_u I|)``, ``|d_u I|`` averaged over channels.
    ``flow (B, 2, H, W)`` pixels, ``image (B, C, H, W)`` -> scalar."""
    terms = []
    for axis in (-1, -2):
        d_flow = flow.diff(dim=axis).abs().sum(1, keepdim=True)
        d_image = image.diff(dim=axis).abs().mean(1, keepdim=True)
        terms.append((d_flow * torch.exp(-alpha * d_image)).mean())
    return sum(terms) / 2  # type: ignore[return-value]


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` over ``mask`` (same shape or broadcastable; None: all)."""
    if mask is None:
        return values.mean()
    mask = mask.expand_as(values)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def photometric_loss(
    frame0: torch.Tensor,
    frame1: torch.Tensor,
    flow: torch.Tensor,
    kind: str = "ssim",
    visible: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean penalty between ``frame0`` and ``frame1`` warped by ``flow`` (eq. 7.37-7.38) over
    the pixels whose target is inside the image and, when given, ``visible (B, 1, H, W)``."""
    warped, inside = backward_warp(frame1, flow)
    # A windowed penalty compares neighbourhoods: one that reaches outside frame 1 compares
    # border padding, so only pixels whose whole window lands inside count.
    window = {"ssim": 3, "census": 7, "ssim+census": 7}.get(kind, 1)
    if window > 1:
        inside = -F.max_pool2d(-inside, window, 1, window // 2)
    mask = inside if visible is None else inside * visible
    return masked_mean(photometric_penalty(frame0, warped, kind), mask)


def unsupervised_flow_loss(
    frame0: torch.Tensor,
    frame1: torch.Tensor,
    flow: torch.Tensor,
    *,
    photometric: str = "ssim",
    smoothness_weight: float = 1.0,
    alpha: float = SMOOTHNESS_ALPHA,
    visible: torch.Tensor | None = None,
) -> torch.Tensor:
    """``L = L_sim + omega_smoo L_smoo`` (eq. 7.40, omega_sim = 1, no sparsity term): zero at
    the true flow of a pair without occlusion or lighting change, for a piecewise-constant flow."""
    similarity = photometric_loss(frame0, frame1, flow, photometric, visible)
    return similarity + smoothness_weight * edge_aware_smoothness(flow, frame0, alpha)


def endpoint_error(
    flow: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Average end-point error ``|w - w_gt|_2`` over ``valid (B, H, W)`` pixels (all if None):
    ``(B, 2, H, W)`` twice -> scalar."""
    error = torch.linalg.vector_norm(flow - truth, dim=1)
    return masked_mean(error, valid)


def sequence_weights(count: int, gamma: float = SEQUENCE_GAMMA) -> list[float]:
    """``gamma^(M - k)`` for iterations ``k = 1..M`` (the last estimate weighs 1)."""
    return [gamma ** (count - 1 - k) for k in range(count)]


def sequence_loss(
    flows: Sequence[torch.Tensor],
    per_flow: Callable[[torch.Tensor], torch.Tensor],
    gamma: float = SEQUENCE_GAMMA,
) -> torch.Tensor:
    """``sum_k gamma^(M-k) loss(w_k)`` over a network's iterations (eq. 7.35): ``per_flow`` is a
    function of one flow ``(B, 2, H, W)`` returning a scalar."""
    if not flows:
        raise InputError("flows", "the network returned no iteration")
    weights = sequence_weights(len(flows), gamma)
    return sum(w * per_flow(f) for w, f in zip(weights, flows, strict=True))  # type: ignore[return-value]


__all__ = [
    "PHOTOMETRIC",
    "SEQUENCE_GAMMA",
    "SMOOTHNESS_ALPHA",
    "census_penalty",
    "census_transform",
    "edge_aware_smoothness",
    "endpoint_error",
    "forward_backward_occlusion",
    "masked_mean",
    "photometric_loss",
    "photometric_penalty",
    "sequence_loss",
    "sequence_weights",
    "ssim_penalty",
    "unsupervised_flow_loss",
]
