"""Layered event deblurring (EV-LayerSegNet): soft masks and per-layer motions that sharpen events.

Each event ``e = (x, y, t, p)`` of a window is split among K layers by the soft masks read at its
pixel, ``w_k(e) = m_k(x, y)``; its copy in layer k is warped by that layer's parametric motion,
``x' = x - (t - t_ref) u_k(x, y)``, and the K weighted copies of every event are splatted into
one image of warped events (IWE) (``mixing="split"``, the default). Two alternatives warp every
event once: ``mixing="flow"`` by the mask-weighted mixture of the layers' motions
``sum_k w_k u_k``; ``mixing="hard"`` (after the EV-LayerSegNet code) by the motion of its most
likely layer ``k* = argmax_k w_k``, the event weighted by ``w_k*`` so that gradients reach the
masks. With one-hot masks the three agree. The deblurring objective scores the IWE:

- ``"timestamp"``: the squared per-pixel average timestamps of the warped events, per polarity,
  forward and backward (Zhu et al. 2019), the objective of the EV-LayerSegNet code base
  (`motionlayers.losses.events.average_timestamp_loss`), by default count-weighted so that it is
  continuous in the soft weights (``timestamp_normalise="count"``; ``"pixels"``: the code's).
- ``"focus"``: the focus of the unwarped events divided by the focus of the IWE, averaged over
  reference times (Shiba et al. 2022; one reference at the middle is plain contrast maximisation
  normalised by the blurred image's contrast), `multi_reference_focus_loss`.

Three optional regularisers: on the per-event weights, the mean assignment entropy
``-sum_k w_k log w_k`` (pushes events to one layer) and the area imbalance
``log K - H(mean_e w)`` (>= 0; 0 when the layers take equal shares of the events; keeps every
layer alive); on the per-pixel flow ``F = sum_k m_k u_k`` (pixels per time unit), the
Charbonnier smoothness ``mean sqrt(dF^2 + eps^2)`` over horizontal and vertical neighbours and
both components (the EV-LayerSegNet code adds such a term with weight 0.001, on a sum over
pixels, diagonals included).

Convention:
    ``events`` ``(B, N, 4)`` rows ``(x, y, t, p)``: ``x`` column and ``y`` row as integer pixel
    indices, ``t`` in the time unit of theta (EV-LayerSegNet: fractions of the window, 0 = first
    event, 1 = last), ``p`` in {-1, +1}. ``masks`` ``(B, K, H, W)`` sum to 1 over K; ``theta``
    ``(B, K, 2, J)`` motion models (``affine``: J = 3, basis ``[1, x, y]`` at normalised pixel
    centres) giving pixels per time unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from motionlayers.errors import InputError, ShapeError, check_choice
from motionlayers.events.warp import event_flow, sample_masks
from motionlayers.losses.events import (
    TIMESTAMP_NORMALISATIONS,
    average_timestamp_loss,
    multi_reference_focus_loss,
)
from motionlayers.motion import render

__all__ = [
    "MIXINGS",
    "OBJECTIVES",
    "LayeredDeblurLoss",
    "area_imbalance",
    "assignment_entropy",
    "charbonnier_smoothness",
    "deblur_objective",
    "event_layer_weights",
    "layered_deblur_loss",
    "pixel_flow",
]

OBJECTIVES = ("timestamp", "focus")
MIXINGS = ("split", "flow", "hard")
_EPS = 1e-12


def _check(masks: torch.Tensor, theta: torch.Tensor, events: torch.Tensor) -> None:
    if masks.ndim != 4:
        raise ShapeError(f"masks: expected (B, K, H, W), got {tuple(masks.shape)}")
    if theta.ndim != 4 or theta.shape[:2] != masks.shape[:2] or theta.shape[2] != 2:
        raise ShapeError(
            f"theta: expected (B, K, 2, J) with (B, K) = {tuple(masks.shape[:2])}, "
            f"got {tuple(theta.shape)}"
        )
    if events.ndim != 3 or events.shape[0] != masks.shape[0] or events.shape[2] != 4:
        raise ShapeError(
            f"events: expected (B, N, 4) with B = {masks.shape[0]}, got {tuple(events.shape)}"
        )


def event_layer_weights(masks: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
    """Soft layer assignment of every event: ``masks (B, K, H, W)``, ``events (B, N, 4)`` ->
    ``(B, K, N)``, the masks read at each event's pixel (differentiable in the masks)."""
    if masks.ndim != 4 or events.ndim != 3 or events.shape[0] != masks.shape[0]:
        raise ShapeError(
            f"event_layer_weights: masks (B, K, H, W) and events (B, N, 4), got "
            f"{tuple(masks.shape)} and {tuple(events.shape)}"
        )
    return torch.cat(
        [
            sample_masks(masks[b : b + 1], ev[:, 0], ev[:, 1], mode="nearest")
            for b, ev in enumerate(events)
        ]
    )


def deblur_objective(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    p: torch.Tensor,
    flow: torch.Tensor,
    weights: torch.Tensor | None,
    height: int,
    width: int,
    objective: str = "focus",
    references: Sequence[float] = (0.0, 0.5, 1.0),
    focus_kind: str = "variance",
    timestamp_normalise: str = "count",
) -> torch.Tensor:
    """The deblurring objective of one window (scalar, lower is sharper).

    Args:
        x, y, t, p: ``(N,)`` events.
        flow: ``(K, 2, N)`` velocity of each event under each layer.
        weights: ``(K, N)`` soft assignments, or None (each event counted once per layer).
        objective: one of `OBJECTIVES`.
        references, focus_kind: of the ``"focus"`` objective.
        timestamp_normalise: of the ``"timestamp"`` objective, one of
            `motionlayers.losses.events.TIMESTAMP_NORMALISATIONS`.
    """
    if objective == "timestamp":
        return average_timestamp_loss(x, y, t, p, flow, height, width, weights, timestamp_normalise)
    if objective == "focus":
        return multi_reference_focus_loss(
            x, y, t, flow, height, width, weights, references, focus_kind
        )
    raise InputError("objective", f"unknown objective {objective!r}; choose from {OBJECTIVES}")


def layered_deblur_loss(
    masks: torch.Tensor,
    theta: torch.Tensor,
    events: torch.Tensor,
    *,
    model: str = "affine",
    objective: str = "focus",
    references: Sequence[float] = (0.0, 0.5, 1.0),
    focus_kind: str = "variance",
    weights: torch.Tensor | None = None,
    mixing: str = "split",
    timestamp_normalise: str = "count",
) -> torch.Tensor:
    """Deblurring objective of each window of a batch: ``(B,)``.

    Args:
        masks: ``(B, K, H, W)`` soft masks (the IWE has their size ``H, W``).
        theta: ``(B, K, 2, J)`` per-layer motion models (pixels per time unit of ``t``).
        events: ``(B, N, 4)`` events, see the module convention.
        model: the spatial motion model of theta.
        objective, references, focus_kind, timestamp_normalise: see `deblur_objective`.
        weights: ``(B, K, N)`` precomputed `event_layer_weights` (default: computed).
        mixing: ``"split"``: each event is split among the layers, its copy in layer k warped
            by layer k's motion and weighted by ``w_k``; ``"flow"``: each event is warped once
            by the mask-weighted mixture of the layers' motions ``sum_k w_k u_k``; ``"hard"``:
            each event is warped once by the motion of ``k* = argmax_k w_k``, weighted by
            ``w_k*`` (the gradient reaches the masks through that weight only).
    """
    check_choice(mixing, MIXINGS, "mixing")
    check_choice(timestamp_normalise, TIMESTAMP_NORMALISATIONS, "timestamp_normalise")
    _check(masks, theta, events)
    height, width = masks.shape[-2:]
    if weights is None:
        weights = event_layer_weights(masks, events)
    losses = []
    for b in range(events.shape[0]):
        x, y, t, p = events[b].to(theta.dtype).unbind(-1)
        flow = event_flow(theta[b], model, x, y, height, width, on_pixels=True)  # (K, 2, N)
        flow, w = _mix(flow, weights[b], mixing)
        options = (objective, references, focus_kind, timestamp_normalise)
        losses.append(deblur_objective(x, y, t, p, flow, w, height, width, *options))
    return torch.stack(losses)


def _mix(
    flow: torch.Tensor, weights: torch.Tensor, mixing: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-event ``(K', 2, N)`` flows and ``(K', N)`` weights (or None) of one window for a
    mixing, from every layer's ``flow (K, 2, N)`` and ``weights (K, N)``."""
    if mixing == "flow":
        return (weights[:, None] * flow).sum(0, keepdim=True), None
    if mixing == "hard":
        confidence, layer = weights.max(0)  # (N,): max is differentiable in its values
        index = layer[None, None].expand(1, 2, -1)
        return torch.gather(flow, 0, index), confidence[None]
    return flow, weights


def pixel_flow(masks: torch.Tensor, theta: torch.Tensor, model: str = "affine") -> torch.Tensor:
    """Per-pixel flow ``F = sum_k m_k u_k``: ``masks (B, K, H, W)``, ``theta (B, K, 2, J)``
    -> ``(B, 2, H, W)`` in pixels per time unit of theta."""
    dense = render(theta, model, *masks.shape[-2:])  # (B, K, 2, H, W)
    return (masks[:, :, None] * dense).sum(1)


def charbonnier_smoothness(flow: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean Charbonnier penalty ``sqrt(d^2 + eps^2)`` of the differences ``d`` between
    horizontal and vertical neighbours of each component: ``(B, C, H, W) -> (B,)``."""
    dx = flow[..., :, 1:] - flow[..., :, :-1]
    dy = flow[..., 1:, :] - flow[..., :-1, :]
    penalty = [(d.square() + eps**2).sqrt().flatten(1).mean(1) for d in (dx, dy)]
    return (penalty[0] + penalty[1]) / 2


def assignment_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Mean over events of ``-sum_k w_k log w_k``: ``(B, K, N) -> (B,)`` in ``[0, log K]``."""
    return -(weights * weights.clamp_min(_EPS).log()).sum(1).mean(-1)


def area_imbalance(weights: torch.Tensor) -> torch.Tensor:
    """``log K - H(q)`` with ``q_k`` the mean weight of layer k over events: ``(B, K, N) ->
    (B,)``, in ``[0, log K]``; 0 when every layer holds the same share of the events."""
    share = weights.mean(-1)
    return math.log(weights.shape[1]) + (share * share.clamp_min(_EPS).log()).sum(1)


class LayeredDeblurLoss(nn.Module):
    """``objective + entropy_weight * entropy + area_weight * imbalance + smoothness_weight *
    smoothness``, mean over the batch (see the module doc; arguments as in
    `layered_deblur_loss`).

    ``forward(masks (B, K, H, W), theta (B, K, 2, J), events (B, N, 4))`` returns the scalar
    total and a dict of the scalar terms ``{"deblur", "entropy", "area", "smoothness"}``
    (detached).
    """

    def __init__(
        self,
        model: str = "affine",
        objective: str = "focus",
        references: Sequence[float] = (0.0, 0.5, 1.0),
        focus_kind: str = "variance",
        entropy_weight: float = 0.0,
        area_weight: float = 0.0,
        mixing: str = "split",
        smoothness_weight: float = 0.0,
        timestamp_normalise: str = "count",
    ) -> None:
        super().__init__()
        check_choice(objective, OBJECTIVES, "objective")
        check_choice(mixing, MIXINGS, "mixing")
        check_choice(timestamp_normalise, TIMESTAMP_NORMALISATIONS, "timestamp_normalise")
        self.model, self.objective = model, objective
        self.references, self.focus_kind = tuple(references), focus_kind
        self.entropy_weight, self.area_weight = float(entropy_weight), float(area_weight)
        self.smoothness_weight = float(smoothness_weight)
        self.mixing, self.timestamp_normalise = mixing, timestamp_normalise

    def forward(
        self, masks: torch.Tensor, theta: torch.Tensor, events: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weights = event_layer_weights(masks, events)
        deblur = layered_deblur_loss(
            masks,
            theta,
            events,
            model=self.model,
            objective=self.objective,
            references=self.references,
            focus_kind=self.focus_kind,
            weights=weights,
            mixing=self.mixing,
            timestamp_normalise=self.timestamp_normalise,
        ).mean()
        entropy = assignment_entropy(weights).mean()
        area = area_imbalance(weights).mean()
        smoothness = charbonnier_smoothness(pixel_flow(masks, theta, self.model)).mean()
        total = (
            deblur
            + self.entropy_weight * entropy
            + self.area_weight * area
            + self.smoothness_weight * smoothness
        )
        terms = {"deblur": deblur, "entropy": entropy, "area": area, "smoothness": smoothness}
        return total, {name: value.detach() for name, value in terms.items()}
