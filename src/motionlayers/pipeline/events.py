"""Segmentation of an event recording into motion layers, window by window (EV-LayerSegNet).

``segment_events(recording, out)`` reads the events (`motionlayers.io.read_events`), cuts them
into windows (by count, default the model's ``events_per_pixel * W * H``, or by duration), runs
one forward pass per window and writes into ``out`` (each entry complete or not at all, nothing
else in ``out`` touched: `motionlayers.io.atomic.atomic_directory`):

    masks/<index:05d>.png  layer of every sensor pixel (indexed PNG, DAVIS palette, 0 first)
    windows.csv            index,t_start_us,t_end_us,events: windows are [t_start, t_end); a
                           count window ends 1 us after its last event (two count windows
                           overlap by 1 us when cut between events of one timestamp)
    overlay.mp4            event frames: each pixel with events in its layer's colour
    motion.json            per window, per layer: affine theta (pixels/second and pixels/window,
                           basis [1, x, y] at normalised pixel centres) and its share of events

Each window is kept as it finishes (in a staging folder inside ``out``): a run that is stopped
(Ctrl-C, SIGTERM, SIGKILL, a crash) resumes where it stopped when it is run again with the same
recording, model and settings (`motionlayers.pipeline.event_outputs.WindowLog`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from motionlayers import __version__
from motionlayers.classical.event_em import REFINE_ROUNDS
from motionlayers.defaults import DEFAULT_REFINE_ITERATIONS, EVENT_METHODS, EVENT_SUFFIXES
from motionlayers.errors import InputError
from motionlayers.io import read_events, write_mask
from motionlayers.io.atomic import atomic_directory
from motionlayers.io.event_container import Events, check_windows, parse_sensor_size
from motionlayers.methods.weights import require_shipped, trained_layers
from motionlayers.pipeline.event_outputs import (
    WindowLog,
    event_frame,
    resume_key,
    write_event_outputs,
)
from motionlayers.pipeline.outputs import write_motion_json

OUTPUT_ENTRIES = ("masks", "windows.csv", "overlay.mp4", "motion.json")
"""What `segment_events` writes into its output folder; nothing else there is touched."""


def is_event_input(path: str | Path) -> bool:
    """Whether ``path`` names an event recording (by its suffix; it need not exist)."""
    return Path(path).suffix.lower() in EVENT_SUFFIXES and not Path(path).is_dir()


@dataclass
class EventSegmentResult:
    """What `segment_events` wrote: ``windows`` and ``events`` counts, ``layers`` K."""

    output: Path
    windows: int
    events: int
    layers: int
    sensor_size: tuple[int, int]
    seconds: float
    resumed: int = 0

    def summary(self) -> str:
        w, h = self.sensor_size
        again = f" (resumed: {self.resumed} windows were done)" if self.resumed else ""
        return (
            f"segmented {self.events} events ({w}x{h}) in {self.windows} windows into "
            f"{self.layers} layers in {self.seconds:.1f} s{again} -> {self.output}"
        )


def load_event_model(
    method: str = "evlayerseg", checkpoint: str | Path | None = None, device: str = "cpu"
) -> Any:
    """The event segmentation network: ``checkpoint`` (a train ``.ckpt`` or exported ``.pt``),
    else the weights shipped with the package."""
    if method not in EVENT_METHODS:
        raise InputError(
            "--method", f"{method!r} does not segment events; event methods: {EVENT_METHODS}"
        )
    from motionlayers.methods.evlayerseg import DEFAULT_WEIGHTS, load_evlayerseg_model

    if checkpoint is None:
        train = "motionlayers train evlayerseg --config evlayerseg-small -o OUT"
        require_shipped(DEFAULT_WEIGHTS, "EV-LayerSegNet", train)
    return load_evlayerseg_model(checkpoint or DEFAULT_WEIGHTS, map_location=device)


def event_windows(
    events: Events, window_events: int | None, window_us: int | None
) -> tuple[int, Iterator[tuple[int, int, Events]]]:
    """``(count, iterator of (t_start_us, t_end_us, window))``: windows of ``window_events``
    events (the last may be shorter; ``t_end`` is its last time + 1) or of ``window_us``."""
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


def _motion_record(
    index: int, t_start: int, t_end: int, window: Events, labels: np.ndarray, theta: np.ndarray
) -> dict[str, Any]:
    span_s = max(int(window.t[-1]) - int(window.t[0]), 1) * 1e-6 if len(window) else None
    layer_of_event = labels[window.y, window.x] if len(window) else np.zeros(0, np.int64)
    layers = []
    for k in range(theta.shape[0]):
        layers.append(
            {
                "layer": k,
                "events": int((layer_of_event == k).sum()),
                "area": int((labels == k).sum()),
                "theta_px_per_window": np.round(theta[k], 6).tolist() if len(window) else None,
                "theta_px_per_s": np.round(theta[k] / span_s, 4).tolist() if span_s else None,
            }
        )
    return {
        "index": index,
        "t_start_us": t_start,
        "t_end_us": t_end,
        "events": len(window),
        "layers": layers,
    }


def segment_events(
    source: str | Path,
    output: str | Path,
    *,
    window_events: int | None = None,
    window_us: int | None = None,
    layers: int | None = None,
    sensor_size: str | tuple[int, int] | None = None,
    method: str = "evlayerseg",
    checkpoint: str | Path | None = None,
    device: str = "cpu",
    fps: float = 10.0,
    refine_iterations: int = DEFAULT_REFINE_ITERATIONS,
    progress: bool = True,
) -> EventSegmentResult:
    """Segment the event recording ``source`` into motion layers; write ``output`` (see the
    module doc). ``layers`` must match the model's K when given (the network fixes K).
    ``refine_iterations``: motion-compensation EM iterations per round of the refinement of the
    network's answer on each window (a global search of each layer's translation, then EM, two
    rounds: `motionlayers.methods.evlayerseg.EVLayerSegMethod.segment_window`); 0: one forward
    pass.

    Raises:
        InputError: missing, truncated or unreadable recording, no events, bad options, or no
            model (no ``checkpoint`` and no installed weights).
    """
    start = time.perf_counter()
    if window_events is not None and window_us is not None:
        raise InputError("--window-us", "give --window-events or --window-us, not both")
    if refine_iterations < 0:
        raise InputError("--refine", f"must be >= 0, got {refine_iterations}")
    if not 0.1 <= fps <= 1000:  # also NaN
        raise InputError("--fps", f"must be in [0.1, 1000], got {fps}")
    size = parse_sensor_size(sensor_size, "--sensor-size") if sensor_size is not None else None
    events = read_events(source, size)  # a bad recording fails before the model loads
    if not len(events):
        raise InputError(source, "holds no events")
    model = load_event_model(method, checkpoint, device)
    trained = trained_layers(model, layers, Path(checkpoint).name if checkpoint else method)
    if window_us is None and window_events is None:
        window_events = model.window_size(events.sensor_size)
    count, windows = event_windows(events, window_events, window_us)
    width, height = events.sensor_size
    settings = {
        "method": method,
        "checkpoint": str(checkpoint) if checkpoint else "shipped",
        "refine_iterations": refine_iterations,
        "window_events": window_events,
        "window_us": window_us,
    }
    key = resume_key(source, checkpoint, {**settings, "layers": trained, "sensor": [width, height]})
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(
            atomic_directory(
                output, kind="segment", entries=OUTPUT_ENTRIES, inputs=[source], resume_key=key
            )
        )
        records = stack.enter_context(WindowLog(tmp))
        resumed = len(records.done)
        bar = tqdm(windows, total=count, desc="segment", unit="window", disable=not progress)
        if resumed:
            bar.set_description(f"segment (resumed after {resumed})")
        for index, (t_start, t_end, window) in enumerate(bar):
            if index in records.done:
                continue
            if len(window):
                masks, theta = model.segment_window(window, refine_iterations)
                labels = masks.argmax(0).cpu().numpy().astype(np.uint8)
                motion = theta.double().cpu().numpy()
            else:
                labels = np.zeros((height, width), np.uint8)
                motion = np.zeros((trained, 2, 3))
            write_mask(records.mask_path(index), labels)  # complete before it is logged
            records.append(_motion_record(index, t_start, t_end, window, labels, motion))
        ordered = records.ordered(count)
        _, windows = event_windows(events, window_events, window_us)
        write_event_outputs(tmp, windows, ordered, fps, events.sensor_size)
        write_motion_json(
            tmp / "motion.json",
            {
                "motionlayers_version": __version__,
                "source": str(source),
                **settings,
                "sensor_size": [width, height],
                "layers": trained,
                "model": "affine",
                "refine_rounds": REFINE_ROUNDS if refine_iterations else 0,
                "fps": fps,
                "theta_units": "theta (2, 3) on basis [1, x, y], pixel centres normalised to "
                "[-1, 1]; flow in pixels per second (theta_px_per_s) or over the window, from "
                "its first to its last event (theta_px_per_window)",
                "windows": ordered,
            },
        )
    return EventSegmentResult(
        Path(output),
        count,
        len(events),
        trained,
        events.sensor_size,
        time.perf_counter() - start,
        resumed,
    )


__all__ = [
    "DEFAULT_REFINE_ITERATIONS",
    "EVENT_METHODS",
    "EVENT_SUFFIXES",
    "EventSegmentResult",
    "event_frame",
    "event_windows",
    "is_event_input",
    "load_event_model",
    "segment_events",
]
