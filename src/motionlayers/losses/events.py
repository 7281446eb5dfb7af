"""Event deblurring objectives (contrast maximisation), differentiable, for minimisation.

All functions take events as ``(N,)`` tensors (``x, y`` pixels, ``t`` seconds, ``p`` +-1; see
`motionlayers.events.warp`), a per-event velocity ``flow`` of shape ``(..., K, 2, N)`` in pixels
per second (from `motionlayers.events.event_flow` for parametric layers) and optional soft
assignments ``weights`` ``(..., K, N)`` (from `motionlayers.events.sample_masks`). They return a
scalar: the mean over the leading dimensions ``...``.

- `contrast_loss`: minus the variance of an IWE (Gallego et al. CVPR 2018).
- `average_timestamp_loss`: squared average timestamps of warped events per polarity, at the
  window's end and start (Zhu et al. CVPR 2019; as in Hagenaars et al. NeurIPS 2021), averaged
  over the warped events (``normalise="count"``) or over the pixels they hit (``"pixels"``).
- `multi_reference_focus_loss`: the focus of the IWE at several reference times, normalised by
  the focus of the unwarped events (Shiba et al. ECCV 2022).

The sharpness measures themselves (`contrast`, `focus`, `FOCUS_FUNCTIONS`) live in
`motionlayers.events.sharpness` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from motionlayers.errors import InputError, check_choice
from motionlayers.events.sharpness import FOCUS_FUNCTIONS, contrast, focus
from motionlayers.events.warp import image_of_warped_events, splat, warp_events

__all__ = [
    "FOCUS_FUNCTIONS",
    "TIMESTAMP_NORMALISATIONS",
    "AverageTimestampLoss",
    "ContrastLoss",
    "MultiReferenceFocusLoss",
    "average_timestamp_loss",
    "contrast",
    "contrast_loss",
    "focus",
    "multi_reference_focus_loss",
]

TIMESTAMP_NORMALISATIONS = ("count", "pixels")
_EPS = 1e-9


def contrast_loss(iwe: torch.Tensor) -> torch.Tensor:
    """``-var(IWE)``, averaged over the leading dimensions of ``iwe`` ``(..., H, W)``."""
    return -contrast(iwe).mean()


def _bounds(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = t.detach()
    return t.min(), t.max()


def _timestamp_term(counts: torch.Tensor, stamps: torch.Tensor, normalise: str) -> torch.Tensor:
    """The term of one reference time: per-polarity images ``(2, ..., H, W)`` -> ``(...)``."""
    if normalise == "count":
        # S^2 / C <= C: a pixel reached by a copy of weight w adds at most w, so the loss is
        # continuous in the weights (empty pixels need no threshold).
        ratio = stamps.square() / (counts + _EPS)
        total = counts.flatten(-2).sum(-1)
        return (ratio.flatten(-2).sum(-1) / (total + _EPS)).sum(0)
    average = (stamps / (counts + _EPS)).square().sum(0)
    hit = (counts.sum(0) > _EPS).flatten(-2).sum(-1).to(counts.dtype)
    return average.flatten(-2).sum(-1) / (hit + _EPS)


def average_timestamp_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    p: torch.Tensor,
    flow: torch.Tensor,
    height: int,
    width: int,
    weights: torch.Tensor | None = None,
    normalise: str = "count",
) -> torch.Tensor:
    """Squared per-pixel average timestamps of warped events, per polarity, averaged.

    With ``s = (t - t_start) / (t_end - t_start)``, events are warped to ``t_end`` carrying the
    timestamp ``s`` and to ``t_start`` carrying ``1 - s``. At each reference ``r`` and polarity
    ``q`` the images of warped (weighted) counts ``C_p`` and timestamps ``S_p`` give the
    per-pixel average timestamp ``S_p / C_p``; the loss adds, over both references,

    - ``normalise="count"`` (default): ``sum_q [sum_p S_p^2 / C_p] / [sum_p C_p]``, the
      count-weighted mean of the squared averages. It is continuous in positions and weights:
      a copy of an event with a small weight adds little wherever it lands.
    - ``normalise="pixels"`` (the EV-LayerSegNet / Zhu et al. code): ``sum_q sum_p (S_p /
      C_p)^2`` divided by the number of pixels with ``C_on + C_off > 1e-9``. Every hit pixel
      counts fully however small its count, so it jumps when an event is split among layers
      with soft weights (a copy of weight 0.01 on an empty pixel counts like a full one).

    Both are lower when each pixel gathers events of similar timestamps (a sharper IWE).

    Args:
        x, y, t, p: ``(N,)`` events.
        flow: ``(..., K, 2, N)`` pixels/second.
        height, width: image size.
        weights: ``(..., K, N)`` soft layer assignments (default 1).
        normalise: one of `TIMESTAMP_NORMALISATIONS`, see above.

    Returns:
        Scalar loss (>= 0), mean over ``...``.
    """
    check_choice(normalise, TIMESTAMP_NORMALISATIONS, "normalise")
    t0, t1 = _bounds(t)
    s = (t - t0) / (t1 - t0).clamp(min=_EPS)
    on = (p > 0).to(flow.dtype)
    total = flow.new_zeros(flow.shape[:-3])
    for t_ref, stamp in ((t1, s), (t0, 1.0 - s)):
        xw, yw = warp_events(x.to(flow.dtype), y.to(flow.dtype), t.to(flow.dtype), flow, t_ref)
        per_event = torch.stack([on, 1.0 - on, on * stamp, (1.0 - on) * stamp])  # (4, N)
        w = per_event.to(flow.dtype).reshape(4, *[1] * (xw.ndim - 1), -1)  # (4, ..., 1, N)
        if weights is not None:
            w = w * weights.to(flow.dtype)  # (4, ..., K, N)
        w = w.expand(4, *xw.shape).flatten(-2)
        images = splat(xw.flatten(-2), yw.flatten(-2), height, width, w)
        # (4, ..., H, W): counts ON, OFF, then timestamps ON, OFF
        total = total + _timestamp_term(images[:2], images[2:], normalise)
    return total.mean()


def multi_reference_focus_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    flow: torch.Tensor,
    height: int,
    width: int,
    weights: torch.Tensor | None = None,
    references: Sequence[float] = (0.0, 0.5, 1.0),
    kind: str = "variance",
) -> torch.Tensor:
    """Normalised multi-reference focus loss (Shiba et al. ECCV 2022, eq. 7-8).

    ``L = (1 / R) sum_r G(0) / G(theta; t_r)``: the focus ``G`` of the unwarped events divided by
    the focus of the IWE at each reference time ``t_r``, averaged. It is 1 for zero flow and
    decreases as the events sharpen at every reference at once, which penalises flows that
    collapse events onto a few pixels at one reference only.

    Args:
        x, y, t: ``(N,)`` events.
        flow: ``(..., K, 2, N)`` pixels/second.
        height, width: image size.
        weights: ``(..., K, N)`` soft layer assignments (default 1).
        references: reference times as fractions of the window (0 = start, 1 = end).
        kind: the focus function, one of `FOCUS_FUNCTIONS`.

    Returns:
        Scalar loss (> 0), mean over ``...``.
    """
    if not references:
        raise InputError("references", "expected at least one reference time")
    t0, t1 = _bounds(t)
    w = None if weights is None else weights.to(flow.dtype)
    still = image_of_warped_events(x, y, t, torch.zeros_like(flow), height, width, 0.0, w)
    base = focus(still, kind)
    ratios = []
    for fraction in references:
        t_ref = t0 + float(fraction) * (t1 - t0)
        image = image_of_warped_events(x, y, t, flow, height, width, t_ref, w)
        ratios.append(base / (focus(image, kind) + _EPS))
    return torch.stack(ratios).mean(0).mean()


class ContrastLoss(nn.Module):
    """Module form of `contrast_loss`: ``forward(iwe (..., H, W)) -> scalar``."""

    def forward(self, iwe: torch.Tensor) -> torch.Tensor:
        return contrast_loss(iwe)


class AverageTimestampLoss(nn.Module):
    """Module form of `average_timestamp_loss` on a sensor of ``height x width``."""

    def __init__(self, height: int, width: int, normalise: str = "count") -> None:
        super().__init__()
        self.height, self.width, self.normalise = height, width, normalise

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor,
        p: torch.Tensor,
        flow: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return average_timestamp_loss(
            x, y, t, p, flow, self.height, self.width, weights, self.normalise
        )


class MultiReferenceFocusLoss(nn.Module):
    """Module form of `multi_reference_focus_loss` on a sensor of ``height x width``."""

    def __init__(
        self,
        height: int,
        width: int,
        references: Sequence[float] = (0.0, 0.5, 1.0),
        kind: str = "variance",
    ) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.references, self.kind = tuple(references), kind

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor,
        flow: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return multi_reference_focus_loss(
            x, y, t, flow, self.height, self.width, weights, self.references, self.kind
        )
