"""The segmentation of one input, three ways: `iter_segment` (a stream of per-frame results),
`segment` (the whole `Segmentation` in memory) and `segment_source` (files in an output
folder, what ``motionlayers segment`` runs). All three take the same source, method and
options (`motionlayers.pipeline.options.OPTIONS`) and go through the one path
(`motionlayers.pipeline.stream`, `motionlayers.pipeline.events`).

A folder of sequences (sub-folders of frames, DAVIS ``JPEGImages/480p``) or of videos is a
dataset: `segment_source` writes ``OUT/<sequence>/`` for each (`motionlayers.pipeline.datasets`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from motionlayers import __version__
from motionlayers.defaults import DEFAULT_METHOD, EVENT_FPS, EVENT_METHODS, SALIENCY_RULE
from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_directory, check_not_input
from motionlayers.methods.registry import Method, available_methods, get_entry, get_method
from motionlayers.pipeline.options import IMAGES, KIND_WORDS, OPTIONS, resolve_options
from motionlayers.pipeline.sources import (
    FOLDER_FPS,
    FlowSample,
    Source,
    flow_samples,
    is_dataset,
    open_source,
)
from motionlayers.pipeline.stream import (
    FULL_SIZE_THREADS,
    MOTION_MODEL,
    FrameResult,
    Steps,
    full_size,
    layered_frames,
    ordered_map,
)

THETA_UNITS = (
    "theta (2, 6) per layer: flow in pixels of the working grid (working_size, H x W) per "
    "frame, on the basis [1, x, y, x^2, x y, y^2] at pixel centres normalised to [-1, 1] "
    "(x = (2 j + 1) / W - 1); row 0 gives u (along x), row 1 v (along y)"
)
EVENT_THETA_UNITS = (
    "theta (2, 3) on basis [1, x, y], pixel centres normalised to [-1, 1]; flow in pixels per "
    "second (theta_px_per_s) or over the window, from its first to its last event "
    "(theta_px_per_window)"
)
T = TypeVar("T")
DATASET_OPTIONS = ("workers", "devices", "strategy", "num_nodes")
"""Options of `segment_source` on a dataset (`motionlayers.pipeline.datasets.segment_dataset`)."""
READS = {
    "flow-pair": IMAGES | {"flows"},
    "flow-volume": IMAGES | {"flows"},
    "frames": IMAGES,
    "event-window": frozenset({"events"}),
}
"""The source kinds that each input kind of method can segment."""


@dataclass
class Run:
    """A source opened, its method built and its options resolved: what `iter_segment` and
    `segment_source` share. ``events``, ``window`` (the window rule) and ``length`` are set
    for event recordings; ``length`` is the frames or windows to come, when known."""

    source: Source
    method: Method
    options: dict[str, Any]
    steps: Steps
    events: Any = None
    window: dict[str, Any] = field(default_factory=dict)
    length: int | None = None

    @property
    def fps(self) -> float:
        if self.options["fps"] is not None:
            return float(self.options["fps"])
        if self.source.kind == "events":
            return EVENT_FPS
        return self.source.fps or FOLDER_FPS


def prepare(source: Any, method: str | None = None, **options: Any) -> Run:
    """Open ``source``, check ``options`` against it, build ``method`` (None: the default for
    the source: `DEFAULT_METHOD`, or `EVENT_METHODS` [0] for events).

    Raises:
        InputError: a missing or bad source, an unknown method, a method that does not read this
            kind of source, an option that does not apply to it or is out of bounds.
    """
    opened = open_source(source)
    name = method or (EVENT_METHODS[0] if opened.kind == "events" else DEFAULT_METHOD)
    entry = get_entry(name)
    if opened.kind not in READS[entry.input]:
        fitting = [n for n in available_methods() if opened.kind in READS[get_entry(n).input]]
        raise InputError(
            "--method",
            f"{name} segments {entry.input.replace('-', ' ')}s, not {KIND_WORDS[opened.kind]}; "
            f"methods for this input: {', '.join(fitting)}",
        )
    own = {k: options.pop(k) for k in list(options) if k in entry.options and k not in OPTIONS}
    values = resolve_options(opened.kind, options)
    if values["chunk"] is not None or values["chunk_overlap"] is not None:
        from motionlayers.pipeline.stream import volume_shape

        volume_shape(entry, values["chunk"], values["chunk_overlap"])  # before the model loads
    method_options = {**{k: values[k] for k in entry.options if k in values}, **own}
    if values["adapt_steps"] != 0:  # before the model loads
        from motionlayers.methods.adapt import check_adaptable, check_steps

        check_steps(values["adapt_steps"])
        check_adaptable(entry)
    if (
        opened.kind == "events"
        and "refine_iterations" not in entry.options
        and (options.get("refine_iterations") is not None)
    ):
        raise InputError("--refine", f"method {name} has no test-time refinement")
    from motionlayers.devices import resolve_device

    device = resolve_device(values["device"])
    events = None
    if opened.kind == "events":  # a bad recording fails before the model loads
        from motionlayers.pipeline.events import read_recording

        assert opened.path is not None
        events = read_recording(opened.path, values["sensor_size"])
    if values["foreground_rule"] == SALIENCY_RULE:  # a bad classifier fails before any work
        from motionlayers.methods.nims import shipped_scorer

        shipped_scorer(values["saliency_model"])
    built = get_method(name, values["layers"], device, values["checkpoint"], **method_options)
    run = Run(opened, built, values, Steps.from_options(values), events, length=opened.length)
    if events is not None:
        from motionlayers.pipeline.events import event_windows, window_rule

        run.window = window_rule(built, events, values)
        run.length, _ = event_windows(events, **run.window)  # bad windows fail here, early
    if values["max_frames"] and run.length is not None:
        run.length = min(run.length, values["max_frames"])
    return run


def results(run: Run, resume: Any = None) -> Iterator[FrameResult]:
    """The per-frame results of a prepared run, in order. Event windows come complete; the
    labels of flow-based frames are filled by `full_size`, which the callers run in threads."""
    options = run.options
    if run.source.kind == "events":
        from motionlayers.pipeline.events import event_results, event_windows

        _, windows = event_windows(run.events, **run.window)
        if options["max_frames"]:
            windows = itertools.islice(windows, options["max_frames"])
        done = resume.done if resume is not None else None
        labels = resume.done_labels if resume is not None else None
        return event_results(
            run.events, run.method, windows, options["foreground_rule"], done, labels
        )
    samples = flow_samples(
        run.source,
        options["flow_backend"],
        options["size"],
        options["flow_oversample"],
        options["max_frames"],
    )
    if options["adapt_steps"]:
        samples = _adapted(run, samples)
    return layered_frames(samples, run.method, run.steps)


def _adapted(run: Run, samples: Iterator[FlowSample]) -> Iterator[FlowSample]:
    """The samples of ``run``, whose method becomes a copy fine-tuned on the first
    `ADAPT_FRAMES` flows (`motionlayers.methods.adapt`): those samples are held while it
    adapts, then segmented first, so that memory stays bounded and no flow is computed twice."""
    import torch

    from motionlayers.methods.adapt import ADAPT_FRAMES, adapt_method

    stream = iter(samples)
    held = list(itertools.islice(stream, ADAPT_FRAMES))
    if held:
        flows = torch.stack([s.flow for s in held])
        steps, progress = run.options["adapt_steps"], run.options["progress"]
        run.method = adapt_method(run.method, flows, steps, progress=progress)
    return itertools.chain(held, stream)


def _progress(run: Run, stream: Iterator[T]) -> tqdm:
    """The progress bar of a run over ``stream`` (frames, or windows of events)."""
    return tqdm(
        stream,
        total=run.length,
        desc=f"segment ({run.method.name})",
        unit="window" if run.source.kind == "events" else "frame",
        disable=not run.options["progress"],
    )


def iter_segment(source: Any, method: str | None = None, **options: Any) -> Iterator[FrameResult]:
    """Segment ``source`` one frame at a time: a generator of `FrameResult` (labels ``(H, W)``
    uint8 at the input's resolution, label 0 the background, ``theta``, ``areas``; ``soft``
    masks at the working size), holding only a few frames, so that a camera or a long video
    streams. ``source``: a video, a folder of frames or flow files, an event recording,
    ``"camera:N"``, a ``cv2.VideoCapture`` or an iterable of ``(H, W, 3)`` uint8 BGR frames.
    ``options``: see `motionlayers.pipeline.options.OPTIONS` (``soft=True`` keeps the soft
    masks in each result; they are dropped by default)."""
    return _iterate(prepare(source, method, **options))


def _iterate(run: Run) -> Iterator[FrameResult]:
    keep_soft = bool(run.options["soft"])
    stream = results(run)
    if run.source.kind != "events":
        stream = ordered_map(lambda r: full_size(r, run.steps), stream, FULL_SIZE_THREADS)
    bar = _progress(run, stream)
    with contextlib.closing(bar):
        for result in bar:
            if not keep_soft:
                result.soft = None
            yield result


@dataclass
class Segmentation:
    """A whole segmentation in memory (`segment`).

    Attributes:
        stems: each frame's name.
        labels: ``(T, H, W)`` uint8 at the input's resolution; 0 is each frame's background.
        theta: ``(T, K, 2, J)`` each layer's motion model (see `FrameResult.theta`).
        areas: ``(T, K)`` layer area fractions.
        background: ``(T,)`` the background label of each frame (0).
        soft: ``(T, K, h, w)`` float32 soft masks at the working size, with ``soft=True``.
        method, layers, fps: what segmented it; ``windows (T, 3)`` (t_start_us, t_end_us,
            events) for an event recording.
    """

    stems: list[str]
    labels: np.ndarray
    theta: np.ndarray
    areas: np.ndarray
    background: np.ndarray
    method: str
    layers: int
    soft: np.ndarray | None = None
    windows: np.ndarray | None = None

    @property
    def foreground(self) -> np.ndarray:
        """``(T, H, W)`` bool: every layer but the background."""
        return self.labels != self.background[:, None, None]

    def __len__(self) -> int:
        return len(self.stems)


def segment(source: Any, method: str | None = None, **options: Any) -> Segmentation:
    """Segment ``source`` into motion layers and return it whole (`Segmentation`); takes what
    `iter_segment` takes. Nothing is written."""
    run = prepare(source, method, **options)
    frames = list(_iterate(run))
    if not frames:
        raise InputError(str(source), "gave no frame to segment")
    soft = [f.soft.numpy() for f in frames if f.soft is not None]
    windows = [f.window for f in frames if f.window is not None]
    return Segmentation(
        stems=[f.stem for f in frames],
        labels=np.stack([f.labels for f in frames]),
        theta=np.stack([f.theta for f in frames]),
        areas=np.stack([f.areas for f in frames]),
        background=np.array([f.background for f in frames]),
        method=run.method.name,
        layers=len(frames[0].theta),
        soft=np.stack(soft) if len(soft) == len(frames) else None,
        windows=np.array(windows, np.int64) if windows else None,
    )


@dataclass
class SegmentResult:
    """What `segment_source` wrote: ``frames`` (event windows) written, ``size`` the input's
    ``(H, W)``, ``seconds`` total, ``areas (T, K)`` layer area fractions, ``background (T,)``."""

    output: Path
    method: str
    frames: int
    size: tuple[int, int]
    seconds: float
    areas: np.ndarray = field(repr=False)
    background: np.ndarray = field(repr=False)
    kind: str = "video"
    events: int = 0
    resumed: int = 0
    sequences: int = 1
    rank: int = 0
    """The process's rank in a Lightning ``ddp`` dataset run (each rank returns the result)."""

    @property
    def layers(self) -> int:
        return int(self.areas.shape[1]) if self.areas.ndim == 2 else 0

    def summary(self) -> str:
        """A few lines for the terminal."""
        height, width = self.size
        mean = ", ".join(f"{a:.2f}" for a in self.areas.mean(0))
        fg = 1 - self.areas[np.arange(len(self.areas)), self.background].mean()
        rate = f"{1000 * self.seconds / max(self.frames, 1):.0f} ms/"
        if self.kind == "events":
            again = f" (resumed: {self.resumed} windows were done)" if self.resumed else ""
            what = (
                f"segmented {self.events} events ({width}x{height}) in {self.frames} windows "
                f"into {self.layers} layers with {self.method} in {self.seconds:.1f} s "
                f"({rate}window){again}"
            )
        else:
            sequences = f"{self.sequences} sequences, " if self.kind == "dataset" else ""
            what = (
                f"segmented {sequences}{self.frames} frames ({width}x{height}) with "
                f"{self.method} in {self.seconds:.1f} s ({rate}frame)"
            )
        return f"{what}\nmean layer areas: {mean}; mean foreground area: {fg:.2f}\n" + (
            f"outputs in {self.output}"
        )


def segment_source(
    source: Any, out: str | Path, method: str | None = None, **options: Any
) -> SegmentResult:
    """Segment ``source`` into the output folder ``out`` (`motionlayers.pipeline.writer`):
    ``masks/``, ``foreground/``, ``overlay.mp4``, ``motion.json``, plus ``flow/`` (flow-based
    inputs) or ``windows.csv`` (event recordings). Takes what `iter_segment` takes.

    Only these entries of ``out`` are written, each complete or not at all
    (`motionlayers.io.atomic.atomic_directory`): other files in ``out`` are never touched, and an
    ``out`` that is, contains or lies inside the input is refused. An event recording's run keeps
    each window as it finishes: stopped, it resumes when run again with the same settings. A
    camera's recording ends at ``max_frames`` or at Ctrl-C, and what it recorded is kept.

    Raises:
        InputError: a missing, corrupt or empty input, an unknown method, an option that does
            not apply, an unwritable output.
    """
    run_options = {k: options.pop(k) for k in DATASET_OPTIONS if k in options}
    if options.get("adapt_steps"):  # a dataset's sequences would each fail on it
        from motionlayers.methods.adapt import check_steps

        check_steps(options["adapt_steps"])
    if isinstance(source, (str, Path)) and is_dataset(Path(source)):
        from motionlayers.pipeline.datasets import segment_dataset

        check_not_input(out, [Path(source)])
        done = segment_dataset(Path(source), Path(out), method=method, **run_options, **options)
        return done.as_result()
    for name, value in run_options.items():
        if value is not None:
            flag = "--" + name.replace("_", "-")
            raise InputError(flag, "applies to a folder of sequences or videos only")
    start = time.perf_counter()
    run = prepare(source, method, **options)
    from motionlayers.pipeline.writer import SegmentationWriter, output_entries

    inputs = [run.source.path] if run.source.path is not None else []
    key = _resume_key(run) if run.source.kind == "events" else None
    with atomic_directory(
        out,
        kind="segment",
        entries=output_entries(run.source.kind),
        inputs=inputs,
        resume_key=key,
    ) as tmp:
        writer = SegmentationWriter(tmp, run.source.kind, run.fps, _header(run))
        resumed = len(writer.done)
        complete = False
        try:
            written = _write(run, writer)
            complete = True
        finally:
            writer.close(complete)
    records = writer.records
    areas = np.array([[layer["area"] for layer in r["layers"]] for r in records])
    return SegmentResult(
        Path(out),
        run.method.name,
        len(records),
        written,
        time.perf_counter() - start,
        areas,
        np.array([r["background"] for r in records]),
        run.source.kind,
        len(run.events) if run.events is not None else 0,
        resumed,
    )


def _write(run: Run, writer: Any) -> tuple[int, int]:
    """Stream the run's results through ``writer``; returns the input's ``(H, W)``."""
    kind = run.source.kind

    def render(result: FrameResult) -> tuple[FrameResult, np.ndarray]:
        if kind != "events":
            result = full_size(result, run.steps)
        return result, writer.render(result)

    size = (0, 0)
    # an event window is logged before the next is segmented, so that a kill keeps it
    threads = 1 if kind == "events" else FULL_SIZE_THREADS
    stream = ordered_map(render, results(run, writer if kind == "events" else None), threads)
    bar = _progress(run, stream)
    if kind == "events" and writer.done:
        bar.set_description(f"segment (resumed after {len(writer.done)})")
    with contextlib.closing(bar):
        for result, picture in bar:
            writer.append(result, picture)
            size = result.size
    writer.header["input_size"] = list(size)
    return size


def _header(run: Run) -> dict[str, Any]:
    options, method = run.options, run.method
    common = {
        "motionlayers_version": __version__,
        "source": run.source.name,
        "method": method.name,
        "checkpoint": str(options["checkpoint"] or "shipped"),
        "layers": method.layers,
        "fps": run.fps,
        "labels": "0 is each frame's background layer (frames[].background); the other "
        "layers keep their order, linked over time",
        "foreground_rule": options["foreground_rule"],
    }
    if run.source.kind == "events":
        from motionlayers.events.compensation import REFINE_ROUNDS

        refine = options["refine_iterations"]
        return {
            **common,
            **run.window,
            "refine_iterations": refine,
            "sensor_size": list(run.events.sensor_size),
            "model": "affine",
            "refine_rounds": REFINE_ROUNDS if refine else 0,
            "theta_units": EVENT_THETA_UNITS,
        }
    flows = run.source.kind == "flows"
    size = options["size"]
    return {
        **common,
        "flow_backend": "precomputed" if flows else options["flow_backend"],
        "model": MOTION_MODEL,
        "theta_units": THETA_UNITS,
        "working_size": list(size) if size is not None else None,
        "explained_ratio": options["explained_ratio"],
        "adapt_steps": options["adapt_steps"],
        **(
            {"saliency_model": str(options["saliency_model"] or "shipped")}
            if options["foreground_rule"] == SALIENCY_RULE
            else {}
        ),
        "temporal_radius": options["temporal_radius"],
        "snap_radius": 0.0 if flows else options["snap_radius"],
        "colour_weight": 0.0 if flows else options["colour_weight"],
        "border_limit": options["border_limit"],
        "hole_fraction": options["hole_fraction"],
    }


def _resume_key(run: Run) -> str:
    from motionlayers.pipeline.event_outputs import resume_key

    options = run.options
    settings = {
        "method": run.method.name,
        "refine_iterations": options["refine_iterations"],
        **run.window,
        "foreground_rule": options["foreground_rule"],
        "max_frames": options["max_frames"],
        "layers": run.method.layers,
        "sensor": list(run.events.sensor_size),
    }
    assert run.source.path is not None
    return resume_key(run.source.path, options["checkpoint"], settings)


__all__ = [
    "EVENT_THETA_UNITS",
    "THETA_UNITS",
    "Run",
    "SegmentResult",
    "Segmentation",
    "iter_segment",
    "prepare",
    "results",
    "segment",
    "segment_source",
]
