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

import math

import numpy as np
import torch
import torch.nn.functional as F

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.event_container import Events
from motionlayers.motion import MotionModel, evaluate, parse_model, pixels_to_normalized, render

__all__ = [
    "event_flow",
    "event_tensors",
    "image_of_warped_events",
    "layer_iwes",
    "pixel_index",
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
    convert = [
        events.x.astype(np.float64),
        events.y.astype(np.float64),
        seconds,
        events.p.astype(np.float64),
    ]
    x, y, t, p = (torch.from_numpy(a).to(dtype=dtype, device=device) for a in convert)
    return x, y, t, p


def pixel_index(x: torch.Tensor, y: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Flat index ``row * W + col`` ``(N,)`` int64 of the pixels nearest to ``(x, y)``, clamped."""
    index = torch.round(y.detach()).clamp(0, height - 1) * width
    return (index + torch.round(x.detach()).clamp(0, width - 1)).long()


def event_flow(
    theta: torch.Tensor,
    model: str | MotionModel,
    x: torch.Tensor,
    y: torch.Tensor,
    height: int,
    width: int,
    on_pixels: bool | None = None,
) -> torch.Tensor:
    """Velocity of each layer at each event's pixel.

    Args:
        theta: ``(..., K, 2, J)`` motion models in pixels per second.
        model: a spatial model, e.g. ``"affine"`` or ``"quadratic12"``.
        x, y: ``(N,)`` pixel coordinates of the events.
        height, width: the sensor's ``H, W`` (for the normalisation of coordinates).
        on_pixels: whether all events sit on integer pixels (as sensor events do); then the
            models are rendered once on the pixel grid (`motionlayers.motion.render`) and read
            at the events' pixels, which is exact and much faster for large N. Default: checked.

    Returns:
        ``(..., K, 2, N)`` velocities in pixels per second (u first).
    """
    spec = parse_model(model)
    if on_pixels is None:
        on_pixels = bool(torch.equal(x, torch.round(x)) and torch.equal(y, torch.round(y)))
    if on_pixels and not spec.is_temporal and theta.ndim >= 3:
        grid = theta.reshape(-1, *theta.shape[-3:])  # (B, K, 2, J)
        dense = render(grid, spec, height, width).flatten(-2)  # (B, K, 2, H W)
        index = pixel_index(x, y, height, width).expand(*dense.shape[:-1], -1)
        flow = torch.gather(dense, -1, index)  # much faster than index_select on a last dim
        return flow.reshape(*theta.shape[:-1], x.shape[-1])
    xn, yn = pixels_to_normalized(x, y, height, width)
    return evaluate(theta, spec, xn.to(theta.dtype), yn.to(theta.dtype))


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
        raise ShapeError(
            f"warp_events: flow must be (..., 2, {x.shape[-1]}), got {tuple(flow.shape)}"
        )
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
    exactly ``w`` to its pixel. Positions must be finite.

    Args:
        xw, yw: ``(..., N)`` positions (column, row) in pixels.
        height, width: the image size ``H, W``.
        weights: per-event weights of a shape that broadcasts with ``(..., N)``, possibly with
            more leading dimensions (``(C, ..., N)`` splats C weightings of the same positions
            at the cost of one); default 1.

    Returns:
        ``(*S, H, W)`` image of the dtype of ``xw``, ``S`` the broadcast leading shape.
    """
    if xw.shape != yw.shape:
        raise ShapeError(
            f"splat: x and y must have one shape, got {tuple(xw.shape)} and {tuple(yw.shape)}"
        )
    lead, n = xw.shape[:-1], xw.shape[-1]
    w = torch.ones_like(xw) if weights is None else weights.to(xw.dtype)
    shape = torch.broadcast_shapes(lead, w.shape[:-1])
    rows = math.prod(shape)
    # Splat into an image padded by one pixel on each side, so that only events entirely off
    # it need masking; the padding is cropped at the end.
    pw, ph = width + 2, height + 2
    x0, y0 = torch.floor(xw.detach()), torch.floor(yw.detach())
    x0c, y0c = x0.clamp(-1, width - 1), y0.clamp(-1, height - 1)
    valid = (x0c == x0) & (y0c == y0)  # at least one corner on the image
    fx, fy = xw - x0, yw - y0
    w = w * valid
    itype = torch.int32 if rows * ph * pw < 2**31 - 1 else torch.int64
    col = x0c.to(itype).clamp_(-1, width - 1)  # integer clamp: indices always in range
    row = y0c.to(itype).clamp_(-1, height - 1)
    index = (row * pw + col).expand(*shape, n).reshape(rows, n)  # + pw + 1: top-left corner
    if rows > 1:
        index = index + (torch.arange(rows, device=xw.device, dtype=itype) * (ph * pw))[:, None]
    index = index.reshape(-1)
    top, bottom = w * (1 - fy), w * fy
    image = torch.zeros(rows * ph * pw, dtype=xw.dtype, device=xw.device)
    for offset, value in (
        (pw + 1, top * (1 - fx)),
        (pw + 2, top * fx),
        (2 * pw + 1, bottom * (1 - fx)),
        (2 * pw + 2, bottom * fx),
    ):
        image = image.index_add(0, index + offset, value.expand(*shape, n).reshape(-1))
    return image.reshape(rows, ph, pw)[:, 1:-1, 1:-1].reshape(*shape, height, width)


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
        mode: ``"bilinear"`` (differentiable in positions) or ``"nearest"`` (a gather, faster;
            the same values for events at integer pixels).

    Returns:
        ``(B, K, N)`` weights; at integer positions exactly the mask values.
    """
    if masks.ndim != 4:
        raise ShapeError(f"sample_masks: masks must be (B, K, H, W), got {tuple(masks.shape)}")
    if mode not in ("bilinear", "nearest"):
        raise InputError("mode", f"expected 'bilinear' or 'nearest', got {mode!r}")
    height, width = masks.shape[-2:]
    if mode == "nearest":  # a gather: exact and fast for events at integer pixels
        index = pixel_index(x, y, height, width).expand(*masks.shape[:2], -1)
        return torch.gather(masks.flatten(-2), -1, index)
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
            weighted by ``masks[:, k]`` read at its (rounded) pixel. Then ``theta`` must be
            ``(B, K, 2, J)``.
        weights: optional ``(N,)`` extra per-event weights (e.g. a polarity selection).

    Returns:
        ``(..., K, H, W)``; summed over K (with masks) it is the IWE of the whole window.
    """
    flow = event_flow(theta, model, x, y, height, width)
    xw, yw = warp_events(x.to(flow.dtype), y.to(flow.dtype), t.to(flow.dtype), flow, t_ref)
    w = None if weights is None else weights.to(flow.dtype)
    if masks is not None:
        layer = sample_masks(masks.to(flow.dtype), x, y, mode="nearest")
        w = layer if w is None else layer * w
    return splat(xw, yw, height, width, w)
