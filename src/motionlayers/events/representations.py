"""Dense tensor representations of an event window: voxel grids, counts, time surfaces.

Every function reads an `Events` window and returns new float32 tensors; the caller's events are
never written to (their arrays are read-only views and are copied before conversion).

Convention:
    Images are ``(..., H, W)`` with ``H, W`` from ``events.sensor_size = (W, H)``; event ``x`` is
    the column, ``y`` the row. Polarity channels are ordered ON (``p = +1``) first, OFF second.
    Times are microseconds, like ``Events.t``.
"""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.errors import InputError
from motionlayers.io.event_container import Events

__all__ = ["event_counts", "time_surface", "voxel_grid"]


def _check_events(events: Events) -> None:
    if not isinstance(events, Events):
        raise InputError("events", f"expected an Events record, got {type(events).__name__}")


def _pixel_index(events: Events) -> torch.Tensor:
    """Flat pixel index ``y * W + x`` of every event, ``(N,)`` int64 (a new tensor)."""
    x = torch.from_numpy(events.x.astype(np.int64))
    y = torch.from_numpy(events.y.astype(np.int64))
    return y * events.width + x


def voxel_grid(
    events: Events,
    bins: int,
    t_start_us: int | None = None,
    t_end_us: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Polarity-signed voxel grid with bilinear interpolation in time (Zhu et al. 2019).

    An event at time ``t`` contributes ``p * max(0, 1 - |s - b|)`` to bin ``b``, with
    ``s = (bins - 1) (t - t_start) / (t_end - t_start)``.

    Args:
        events: the window.
        bins: ``B``, the number of temporal bins (>= 1).
        t_start_us, t_end_us: the window's bounds (default: its first and last timestamps).

    Returns:
        ``(B, H, W)`` float32. Summed over bins it is the signed count image.
    """
    _check_events(events)
    if int(bins) < 1:
        raise InputError("bins", f"expected a positive number of bins, got {bins}")
    height, width = events.height, events.width
    grid = torch.zeros(bins * height * width, dtype=torch.float32)
    if len(events):
        start = int(events.t[0]) if t_start_us is None else int(t_start_us)
        end = int(events.t[-1]) if t_end_us is None else int(t_end_us)
        span = max(end - start, 1)
        t = torch.from_numpy((events.t - start).astype(np.float64))
        s = (bins - 1) * t / span
        pol = torch.from_numpy(events.p.astype(np.float32))
        pixel = _pixel_index(events)
        lower = torch.floor(s)
        for offset in (0, 1):
            b = lower + offset
            weight = (1.0 - (s - b).abs()).clamp(min=0.0).float()
            valid = (b >= 0) & (b < bins)
            index = b.clamp(0, bins - 1).long() * (height * width) + pixel
            grid.index_add_(0, index, torch.where(valid, weight * pol, 0.0))
    return grid.reshape(bins, height, width).to(device)


def event_counts(events: Events, device: torch.device | str | None = None) -> torch.Tensor:
    """Number of events per pixel and polarity.

    Returns:
        ``(2, H, W)`` float32: channel 0 counts ON events, channel 1 OFF events.
    """
    _check_events(events)
    height, width = events.height, events.width
    channel = torch.from_numpy((events.p < 0).astype(np.int64))
    index = channel * (height * width) + _pixel_index(events)
    counts = torch.bincount(index, minlength=2 * height * width).float()
    return counts.reshape(2, height, width).to(device)


def time_surface(
    events: Events,
    tau_us: float,
    t_ref_us: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Exponentially decaying time surface of the latest event per pixel and polarity.

    ``S_p(x, y) = exp(-(t_ref - t_last) / tau)`` where ``t_last`` is the time of the latest event
    of polarity ``p`` at the pixel no later than ``t_ref``; 0 where there is none.

    Args:
        events: the window.
        tau_us: decay constant ``tau`` in microseconds (> 0).
        t_ref_us: reference time (default: the last timestamp).

    Returns:
        ``(2, H, W)`` float32 in [0, 1], ON first.
    """
    _check_events(events)
    if not tau_us > 0:
        raise InputError("tau_us", f"expected a positive decay constant, got {tau_us}")
    height, width = events.height, events.width
    surface = torch.zeros(2 * height * width, dtype=torch.float64)
    if len(events):
        ref = int(events.t[-1]) if t_ref_us is None else int(t_ref_us)
        keep = events.t <= ref
        age = torch.from_numpy((ref - events.t[keep]).astype(np.float64))
        channel = torch.from_numpy((events.p[keep] < 0).astype(np.int64))
        x = torch.from_numpy(events.x[keep].astype(np.int64))
        y = torch.from_numpy(events.y[keep].astype(np.int64))
        index = channel * (height * width) + y * width + x
        value = torch.exp(-age / float(tau_us))
        surface.scatter_reduce_(0, index, value, reduce="amax", include_self=True)
    return surface.float().reshape(2, height, width).to(device)
