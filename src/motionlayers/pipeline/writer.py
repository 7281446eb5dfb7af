"""The one writer of a segmentation: the same layout for every input, written as results stream.

    masks/<stem>.png       layer labels at the input's resolution (indexed PNG, DAVIS palette;
                           label 0 is the frame's background)
    foreground/<stem>.png  0/255, every layer but the background
    flow/<stem>.png        colour wheel of the flow at the working size (flow-based inputs)
    windows.csv            index,t_start_us,t_end_us,events (event recordings)
    overlay.mp4            the foreground highlighted over the dimmed frame (or the events)
    motion.json            the run's settings; per frame, its background and each layer's
                           motion model and area; per layer, the B-spline curve of its model
                           over the video (control points every 3 frames, `spline_summary`)
    motion.png             each layer's motion parameters over time (flow-based inputs)

Event windows are named by their index (``00000``). The writer works inside the staging
folder of `motionlayers.io.atomic.atomic_directory`; each event window is logged as it is
written (`WindowLog`) so that a stopped run resumes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from motionlayers.flow import flow_to_color
from motionlayers.io import read_mask, write_image, write_mask
from motionlayers.io.atomic import atomic_path
from motionlayers.io.video import VideoSink
from motionlayers.pipeline.event_outputs import WindowLog
from motionlayers.pipeline.stream import FrameResult
from motionlayers.viz.motion_plot import plot_layer_motions
from motionlayers.viz.overlay import event_overlay, frame_overlay

FRAME_ENTRIES = ("masks", "foreground", "flow", "overlay.mp4", "motion.json", "motion.png")
"""What a flow-based segmentation writes into its output folder; nothing else is touched."""
EVENT_ENTRIES = ("masks", "foreground", "windows.csv", "overlay.mp4", "motion.json")
"""What an event segmentation writes into its output folder."""


def output_entries(kind: str) -> tuple[str, ...]:
    return EVENT_ENTRIES if kind == "events" else FRAME_ENTRIES


class SegmentationWriter:
    """Writes `FrameResult` s into ``root`` (a staging folder) as they come.

    `render` (thread-safe: each frame its own files) writes a frame's PNGs and returns its
    overlay picture; `append` (in order) adds the picture to ``overlay.mp4`` and the frame to
    ``motion.json``'s records; `close` writes ``motion.json`` (and ``windows.csv``) once every
    frame is in. ``header`` is motion.json's run description.
    """

    def __init__(self, root: Path, kind: str, fps: float, header: dict[str, Any]):
        self.root = root
        self.kind = kind
        self.fps = fps
        self.header = header
        self.records: list[dict[str, Any]] = []
        self.windows: list[tuple[int, int, int, int]] = []
        self._sink: VideoSink | None = None
        for name in ("masks", "foreground") + (() if kind == "events" else ("flow",)):
            (root / name).mkdir(exist_ok=True)
        self.log = WindowLog(root) if kind == "events" else None

    # --- per frame ------------------------------------------------------------------------
    def render(self, result: FrameResult) -> np.ndarray:
        """Write the frame's PNGs (unless a stopped run did); its overlay ``(H, W, 3)`` BGR."""
        labels = result.labels
        if not result.resumed:
            write_mask(self.root / "masks" / f"{result.stem}.png", labels)
        write_image(
            self.root / "foreground" / f"{result.stem}.png",
            result.foreground.astype(np.uint8) * 255,
        )
        if result.events is not None:
            return event_overlay(result.events.x, result.events.y, labels, result.background)
        flow_rgb = None
        if result.flow is not None:
            flow_rgb = flow_to_color(result.flow[None].cpu())
            write_image(self.root / "flow" / f"{result.stem}.png", flow_rgb)
        picture = result.frame
        if picture is None:
            import cv2

            assert flow_rgb is not None
            height, width = labels.shape
            picture = cv2.resize(np.ascontiguousarray(flow_rgb[:, :, ::-1]), (width, height))
        return frame_overlay(picture, labels, result.background)

    def append(self, result: FrameResult, picture: np.ndarray) -> None:
        """Add a rendered frame to the overlay video and to motion.json, in stream order."""
        if self._sink is None:
            self._sink = VideoSink(self.root / "overlay.mp4", self.fps, result.labels.shape[:2])
        self._sink.write(picture)
        if result.window is not None:
            self.windows.append((result.index, *result.window))
        record = self._record(result)
        if self.log is not None and not result.resumed:
            self.log.append(record)  # after its mask: a logged window is complete
        self.records.append(record)

    def _record(self, result: FrameResult) -> dict[str, Any]:
        if result.resumed and result.index in self.done:
            return self.done[result.index]  # as the stopped run wrote it
        record: dict[str, Any] = {"stem": result.stem, "background": result.background}
        layers = []
        if result.window is not None:
            t_start, t_end, count = result.window
            record.update(index=result.index, t_start_us=t_start, t_end_us=t_end, events=count)
            counts = _event_counts(result)
            span_s = _span_seconds(result)
            for k, theta in enumerate(result.theta):
                layers.append(
                    {
                        "label": k,
                        "model": "affine",
                        "events": int(counts[k]),
                        "area": float(result.areas[k]),
                        "theta_px_per_window": np.round(theta, 6).tolist() if count else None,
                        "theta_px_per_s": np.round(theta / span_s, 4).tolist() if span_s else None,
                    }
                )
        else:
            for k, theta in enumerate(result.theta):
                layers.append(
                    {
                        "label": k,
                        "model": self.header.get("model"),
                        "theta": theta.tolist(),
                        "area": float(result.areas[k]),
                    }
                )
        record["layers"] = layers
        return record

    # --- resuming -------------------------------------------------------------------------
    @property
    def done(self) -> dict[int, dict[str, Any]]:
        """Event windows a stopped run finished (index -> record)."""
        return self.log.done if self.log is not None else {}

    def done_labels(self, index: int) -> np.ndarray:
        return read_mask(self.root / "masks" / f"{index:05d}.png").astype(np.uint8)

    # --- the end --------------------------------------------------------------------------
    def close(self, complete: bool = True) -> None:
        """Close the video; when ``complete``, write motion.json and windows.csv."""
        try:
            if self._sink is not None:
                self._sink.close()
        finally:
            if self.log is not None:
                self.log.__exit__()
        if not complete:
            return
        if not self.records:
            from motionlayers.errors import InputError

            raise InputError(self.header.get("source", "input"), "gave no frame to segment")
        if self.kind == "events":
            with atomic_path(self.root / "windows.csv") as tmp, open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["index", "t_start_us", "t_end_us", "events"])
                writer.writerows(self.windows)
            write_motion_json(self.root / "motion.json", {**self.header, "frames": self.records})
            return
        summary, (theta, present, curves) = spline_summary(self.records)
        record = {**self.header, "spline": summary, "frames": self.records}
        write_motion_json(self.root / "motion.json", record)
        names = ["background"] + [f"layer {k}" for k in range(1, theta.shape[1])]
        plot_layer_motions(self.root / "motion.png", theta, present, curves, names)


SPLINE_NU = 3
"""Frames between the control points of motion.json's curves (thesis ch. 4: nu = 3)."""


def spline_summary(
    records: list[dict[str, Any]], nu: int = SPLINE_NU
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """motion.json's ``spline`` entry of flow-based frame records: for each layer label, the
    control points ``(L, 2, J)`` of the B-spline curve through its per-frame models, frames
    where it is empty left out (`motionlayers.motion.curves.fit_spline_curve`); and the arrays
    that motion.png draws: ``theta (T, K, 2, J)``, ``present (T, K)``, ``curves (T, K, 2, J)``."""
    import torch

    from motionlayers.motion.curves import evaluate_spline_curve, fit_spline_curve

    theta = np.array([[layer["theta"] for layer in r["layers"]] for r in records], np.float64)
    present = np.array([[layer["area"] > 0 for layer in r["layers"]] for r in records])
    frames, layers = theta.shape[:2]
    controls, curves = [], np.zeros_like(theta)
    for k in range(layers):
        values = torch.from_numpy(theta[:, k])
        control = fit_spline_curve(values, torch.from_numpy(present[:, k]).double(), nu)
        curves[:, k] = evaluate_spline_curve(control, frames, nu).numpy()
        controls.append({"label": k, "control_points": np.round(control.numpy(), 6).tolist()})
    summary = {
        "model": "quadratic12+spline" + str(nu),
        "nu": nu,
        "frames": frames,
        "basis": "clamped uniform cubic B-spline on t in [-1, 1] over the video",
        "layers": controls,
    }
    return summary, (theta, present, curves)


def write_motion_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


def _event_counts(result: FrameResult) -> np.ndarray:
    events, layers = result.events, len(result.theta)
    if events is None or not len(events):
        return np.zeros(layers, np.int64)
    return np.bincount(result.labels[events.y, events.x], minlength=layers)[:layers]


def _span_seconds(result: FrameResult) -> float | None:
    events = result.events
    if events is None or not len(events):
        return None
    return max(int(events.t[-1]) - int(events.t[0]), 1) * 1e-6


__all__ = [
    "EVENT_ENTRIES",
    "FRAME_ENTRIES",
    "SegmentationWriter",
    "output_entries",
    "write_motion_json",
]
