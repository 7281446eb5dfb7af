"""Event recordings in the one segmentation path: windows of events in, one `FrameResult` per
window out (`motionlayers.pipeline.stream` for the other sources).

A recording is read (`motionlayers.io.read_events`) and cut into windows: by count (default:
the method's own rule, `motionlayers.defaults.EVENT_WINDOW_RULE`) or by duration. Each window
goes through the method (EV-LayerSegNet: its masks and affine motions, refined on the window),
then the shared steps: temporal linking with the previous window (a layer keeps its label),
the background layer (``foreground_rule``: the layer that covers the border, or the largest)
and the reordering that makes it label 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionlayers.errors import InputError
from motionlayers.io.event_container import Events, check_windows, parse_sensor_size
from motionlayers.methods.registry import Method
from motionlayers.pipeline.stream import FrameResult, background_first_order
from motionlayers.postprocess import Linker, background_layers


def event_windows(
    events: Events, window_events: int | None, window_us: int | None
) -> tuple[int, Iterator[tuple[int, int, Events]]]:
    """``(count, iterator of (t_start_us, t_end_us, window))``: windows of ``window_events``
    events (the last may be shorter; ``t_end`` is its last time + 1) or of ``window_us``."""
    if window_events is not None and window_us is not None:
        raise InputError("--window-us", "give --window-events or --window-us, not both")
    check_windows(events, window_events, window_us)  # bounded: motionlayers.limits
    if window_us is not None:
        if window_us <= 0:
            raise InputError("--window-us", f"must be positive, got {window_us}")
        start = int(events.t[0])
        count = (int(events.t[-1]) - start) // window_us + 1
        spans = ((start + k * window_us, start + (k + 1) * window_us) for k in range(count))
        windows = events.window_by_duration(window_us)
        return count, ((a, b, w) for (a, b), w in zip(spans, windows))
    if window_events is None or window_events < 1:
        raise InputError("--window-events", f"must be positive, got {window_events}")
    count = -(-len(events) // window_events)
    return count, (
        (int(w.t[0]), int(w.t[-1]) + 1, w) for w in events.window_by_count(window_events)
    )


def read_recording(path: Path, sensor_size: Any) -> Events:
    """The events of ``path`` (``sensor_size`` WxH for files that do not store it)."""
    from motionlayers.io import read_events

    size = parse_sensor_size(sensor_size, "--sensor-size") if sensor_size is not None else None
    events = read_events(path, size)
    if not len(events):
        raise InputError(path, "holds no events")
    return events


def window_rule(method: Method, events: Events, options: Mapping[str, Any]) -> dict[str, Any]:
    """``{"window_events", "window_us"}``: the user's, else the method's default window."""
    window_events, window_us = options.get("window_events"), options.get("window_us")
    if window_events is None and window_us is None:
        window_events = method.predictor.window_size(events.sensor_size)
    return {"window_events": window_events, "window_us": window_us}


def event_results(
    events: Events,
    method: Method,
    windows: Iterator[tuple[int, int, Events]],
    foreground_rule: str,
    done: Mapping[int, dict[str, Any]] | None = None,
    done_labels: Callable[[int], np.ndarray] | None = None,
) -> Iterator[FrameResult]:
    """One `FrameResult` per window, in order. Windows in ``done`` (a stopped run's, with their
    labels from ``done_labels(index)``) are not segmented again: they only carry the linking
    on."""
    width, height = events.sensor_size
    link = Linker()
    for index, (t_start, t_end, window) in enumerate(windows):
        span = (t_start, t_end, len(window))
        if done and index in done:
            assert done_labels is not None
            labels = done_labels(index)
            link.previous = labels.astype(np.int64)
            record = done[index]
            theta = np.array(
                [layer["theta_px_per_window"] or np.zeros((2, 3)) for layer in record["layers"]],
                dtype=np.float64,
            )
            masks, resumed = None, True
        elif len(window):
            resumed = False
            prediction = method([window])
            masks = prediction.masks[0].cpu()
            theta_t = (
                prediction.theta[0].cpu()
                if prediction.theta is not None
                else torch.zeros(method.layers, 2, 3)
            )
            order = link.order(masks)
            masks, theta_t = masks[order], theta_t[order]
            labels_t = masks.argmax(0)
            background = background_layers(labels_t[None], foreground_rule)
            first = background_first_order(background, masks.shape[0])[0]
            masks, theta_t = masks[first], theta_t[first]
            labels = masks.argmax(0).numpy().astype(np.uint8)
            theta = theta_t.double().numpy()
        else:
            labels = np.zeros((height, width), np.uint8)
            theta = np.zeros((method.layers, 2, 3))
            masks, resumed = None, False
        areas = np.bincount(labels.ravel(), minlength=method.layers) / labels.size
        yield FrameResult(
            index,
            f"{index:05d}",
            labels,
            theta,
            areas,
            soft=masks,
            window=span,
            events=window,
            resumed=resumed,
            size=(height, width),
        )


__all__ = ["event_results", "event_windows", "read_recording", "window_rule"]
