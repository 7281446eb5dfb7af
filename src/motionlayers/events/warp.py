"""Warping events by per-layer motion and images of warped events (IWE).

An event ``(x, y, t)`` moving with the velocity ``u(x, y)`` of its layer is transported to the
reference time ``t_ref`` along a straight line:

    x' = x - (t - t_ref) u(x, y),    y' = y - (t - t_ref) v(x, y)

The velocity of layer ``k`` is its parametric motion model (`motionlayers.motion`) with ``theta``
in **pixels per second**, evaluated at the event's pixel. Warped events are splatted bilinearly
into an image (differentiable in positions and weights); each event may be split among layers by
weights read from soft masks ``(B, K, H, W)`` at its pixel.

Convention:
    Event tensors are 1-D ``(N,)``: ``x`` columns and ``y`` rows as float pixel indices (integer
    = pixel centre), ``t`` in **seconds** relative to an origin of the caller's choice (see
    `event_tensors`), ``p`` in {-1, +1}. Flow tensors are ``(..., 2, N)``, u first, pixels/second.
    Images are ``(..., H, W)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.event_container import Events
from motionlayers.motion import MotionModel, evaluate, pixels_to_normalized

__all__ = [
    "event_flow",
    "event_tensors",
    "image_of_warped_events",
    "layer_iwes",
    "sample_masks",
    "splat",
    "warp_events",
]


def event_tensors(
    events: Events,
    t_origin_us: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """New tensors ``(x, y, t, p)``, each ``(N,)`` of ``dtype``, from an `Events` window.

    ``t`` is in seconds since ``t_origin_us`` (default: the window's first timestamp); the
    difference is taken in int64 before the conversion, so no precision is lost to large clocks.
    """
    if not isinstance(events, Events):
        raise InputError("events", f"expected an Events record, got {type(events).__name__}")
    origin = (int(events.t[0]) if len(events) else 0) if t_origin_us is None else int(t_origin_us)
    seconds = (events.t - np.int64(origin)).astype(np.float64) * 1e-6
    convert = [events.x.astype(np.float64), events.y.astype(np.float64), seconds,
               events.p.astype(np.float64)]
    x, y, t, p = (torch.from_numpy(a).to(dtype=dtype, device=device) for a in convert)
    return x, y, t, p


def event_flow(
    theta: torch.Tensor,
    model: str | MotionModel,
    x: torch.Tensor,
    y: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """Velocity of each layer at each event's pixel.

    Args:
        theta: ``(..., K, 2, J)`` motion models in pixels per second.
        model: the spatial model, e.g. ``"affine"`` or ``"quadratic12"``.
        x, y: ``(N,)`` pixel coordinates of the events.
        height, width: the sensor's ``H, W`` (for the normalisation of coordinates).

    Returns:
        ``(..., K, 2, N)`` velocities in pixels per second (u first).
    """
    xn, yn = pixels_to_normalized(x, y, height, width)
    return evaluate(theta, model, xn.to(theta.dtype), yn.to(theta.dtype))


def warp_events(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    flow: torch.Tensor,
    t_ref: float | torch.Tensor = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the events at ``t_ref``: ``x' = x - (t - t_ref) u``, ``y' = y - (t - t_ref) v``.

    Args:
        x, y, t: ``(N,)`` pixels and seconds (see the module convention).
        flow: ``(..., 2, N)`` velocity of each event in pixels per second.
        t_ref: reference time in seconds, on the clock of ``t``.

    Returns:
        ``(x', y')``, each ``(..., N)``, new tensors (inputs are not modified).
    """
    if flow.ndim < 2 or flow.shape[-2] != 2 or flow.shape[-1] != x.shape[-1]:
        raise ShapeError(f"warp_events: flow must be (..., 2, {x.shape[-1]}), "
                         f"got {tuple(flow.shape)}")
    dt = t - t_ref
    return x - dt * flow[..., 0, :], y - dt * flow[..., 1, :]


def splat(
    xw: torch.Tensor,
    yw: torch.Tensor,
    height: int,
    width: int,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Image of (warped) events by bilinear splatting; differentiable in positions and weights.

    Each event adds ``w (1 - |x' - j|) (1 - |y' - i|)`` to the four pixels ``(i, j)`` around it;
    contributions falling outside the image are dropped. An event at an integer position adds
    exactly ``w`` to its pixel.

    Args:
        xw, yw: ``(..., N)`` positions (column, row) in pixels.
        height, width: the image size ``H, W``.
        weights: ``(..., N)`` (or broadcastable) per-event weights; default 1.

    Returns:
        ``(..., H, W)`` image of the dtype of ``xw``.
    """
    if xw.shape != yw.shape:
        raise ShapeError(f"splat: x and y must have one shape, got {tuple(xw.shape)} and "
                         f"{tuple(yw.shape)}")
    lead, n = xw.shape[:-1], xw.shape[-1]
    xs, ys = xw.reshape(-1, n), yw.reshape(-1, n)
    rows = xs.shape[0]
    w = torch.ones_like(xs) if weights is None else weights.expand(*lead, n).reshape(rows, n)
    x0, y0 = torch.floor(xs), torch.floor(ys)
    fx, fy = xs - x0, ys - y0
    x0i, y0i = x0.long(), y0.long()
    base = (torch.arange(rows, device=xs.device) * (height * width)).unsqueeze(1)
    indices, values = [], []
    for dx, dy, bilinear in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xi, yi = x0i + dx, y0i + dy
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        indices.append(torch.where(inside, base + yi * width + xi, 0))
        values.append(torch.where(inside, bilinear * w, 0.0))
    image = torch.zeros(rows * height * width, dtype=xs.dtype, device=xs.device)
    image = image.index_add(0, torch.cat(indices, 1).reshape(-1), torch.cat(values, 1).reshape(-1))
    return image.reshape(*lead, height, width)


def image_of_warped_events(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    flow: torch.Tensor,
    height: int,
    width: int,
    t_ref: float | torch.Tensor = 0.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """IWE of a window whose events are split among K layers: ``sum_k splat(warp_k, w_k)``.

    Args:
        x, y, t: ``(N,)`` events (pixels, seconds).
        flow: ``(..., K, 2, N)`` velocity of each event under each layer (pixels/second).
        height, width: image size ``H, W``.
        t_ref: reference time in seconds.
        weights: ``(..., K, N)`` soft assignment of each event to each layer (e.g. from
            `sample_masks`); default 1 (every event counted once per layer, meant for K = 1).

    Returns:
        ``(..., H, W)``.
    """
    xw, yw = warp_events(x.to(flow.dtype), y.to(flow.dtype), t.to(flow.dtype), flow, t_ref)
    w = None if weights is None else weights.to(flow.dtype).expand_as(xw).flatten(-2)
    return splat(xw.flatten(-2), yw.flatten(-2), height, width, w)


def sample_masks(
    masks: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mode: str = "bilinear"
) -> torch.Tensor:
    """Soft layer assignment of each event: the masks read at the event's pixel.

    Args:
        masks: ``(B, K, H, W)`` soft masks (summing to 1 over K).
        x, y: ``(N,)`` pixel coordinates (integer = pixel centre).
        mode: ``"bilinear"`` (differentiable in positions) or ``"nearest"``.

    Returns:
        ``(B, K, N)`` weights; at integer positions exactly the mask values.
    """
    if masks.ndim != 4:
        raise ShapeError(f"sample_masks: masks must be (B, K, H, W), got {tuple(masks.shape)}")
    if mode not in ("bilinear", "nearest"):
        raise InputError("mode", f"expected 'bilinear' or 'nearest', got {mode!r}")
    height, width = masks.shape[-2:]
    xn, yn = pixels_to_normalized(x.to(masks.dtype), y.to(masks.dtype), height, width)
    grid = torch.stack([xn, yn], dim=-1).expand(masks.shape[0], 1, -1, 2)
    sampled = F.grid_sample(masks, grid, mode=mode, padding_mode="border", align_corners=False)
    return sampled[:, :, 0, :]


def layer_iwes(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    theta: torch.Tensor,
    model: str | MotionModel,
    height: int,
    width: int,
    t_ref: float | torch.Tensor = 0.0,
    masks: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-layer images of warped events: each event warped by each layer's model.

    Args:
        x, y, t: ``(N,)`` events (pixels, seconds).
        theta: ``(..., K, 2, J)`` motion models in pixels per second.
        model: the spatial model of theta (``"affine"``, ``"quadratic12"``, ...).
        height, width: the sensor's ``H, W``.
        t_ref: reference time in seconds.
        masks: optional ``(B, K, H, W)`` soft masks; each event's contribution to layer ``k`` is
            weighted by ``masks[:, k]`` read (bilinearly) at its pixel. Then ``theta`` must be
            ``(B, K, 2, J)``.
        weights: optional ``(N,)`` extra per-event weights (e.g. a polarity selection).

    Returns:
        ``(..., K, H, W)``; summed over K (with masks) it is the IWE of the whole window.
    """
    flow = event_flow(theta, model, x, y, height, width)
    xw, yw = warp_events(x.to(flow.dtype), y.to(flow.dtype), t.to(flow.dtype), flow, t_ref)
    w = None if weights is None else weights.to(flow.dtype)
    if masks is not None:
        layer = sample_masks(masks.to(flow.dtype), x, y)
        w = layer if w is None else layer * w
    return splat(xw, yw, height, width, w)
