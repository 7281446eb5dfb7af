"""``segment_source``: the whole segmentation of one input, written atomically.

input -> forward flows at the working size (`inputs.load_flows`) -> method (soft masks, batches)
-> Hungarian temporal linking -> temporal smoothing along the flow -> one motion model per layer
(`motion.fit`) -> background layer (no ground truth) -> upsampling to the input size, boundaries
snapped to the frame's edges (colour guided filter), foreground refined by the frame's colours
and its shape (segments hugging the border dropped, holes filled) -> ``OUT/masks``,
``OUT/foreground``, ``OUT/flow``, ``OUT/overlay.mp4``, ``OUT/motion.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from motionlayers import __version__
from motionlayers.defaults import DEFAULT_FLOW_BACKEND, DEFAULT_METHOD
from motionlayers.defaults import DEFAULT_WORKING_SIZE as DEFAULT_SIZE
from motionlayers.errors import InputError
from motionlayers.flow import FLOW_OVERSAMPLING
from motionlayers.io.atomic import atomic_directory, check_not_input
from motionlayers.io.frames import IMAGE_EXTENSIONS
from motionlayers.io.listing import natural_key
from motionlayers.motion import fit
from motionlayers.pipeline.frame_outputs import FrameRefinement, write_all_frames
from motionlayers.pipeline.inputs import FLOW_FILE_SUFFIXES, flow_files, load_flows
from motionlayers.pipeline.outputs import (
    write_motion_json,
)
from motionlayers.pipeline.registry import get_method
from motionlayers.postprocess import (
    BORDER_CONTACT_LIMIT,
    COLOUR_WEIGHT,
    EXPLAINED_RATIO,
    FOREGROUND_RULES,
    HOLE_FRACTION,
    SNAP_RADIUS,
    TEMPORAL_RADIUS,
    absorb_explained,
    background_layers,
    labels_to_masks,
    link_masks,
    masks_to_labels,
    smooth_masks,
)

MOTION_MODEL = "quadratic12"
"""The model fitted per layer for ``motion.json`` and the border rule."""
FRAME_FOLDER_FPS = 24.0
"""Frame rate of ``overlay.mp4`` for a folder of frames or flows when none is given (DAVIS's)."""
OUTPUT_ENTRIES = ("masks", "foreground", "flow", "overlay.mp4", "motion.json")
"""What `segment_source` writes into its output folder; nothing else there is touched."""
THETA_UNITS = (
    "theta (2, 6) per layer: flow in pixels of the working grid (working_size, H x W) per "
    "frame, on the basis [1, x, y, x^2, x y, y^2] at pixel centres normalised to [-1, 1] "
    "(x = (2 j + 1) / W - 1); row 0 gives u (along x), row 1 v (along y)"
)


@dataclass
class SegmentResult:
    """What `segment_source` did: ``frames`` written, ``size`` the input's ``(H, W)``,
    ``seconds`` total, ``areas (T, K)`` layer area fractions, ``background (T,)`` layer ids."""

    output: Path
    method: str
    frames: int
    size: tuple[int, int]
    seconds: float
    areas: np.ndarray = field(repr=False)
    background: np.ndarray = field(repr=False)
    sequences: int = 1

    def summary(self) -> str:
        """A few lines for the terminal."""
        mean = ", ".join(f"{a:.2f}" for a in self.areas.mean(0))
        fg = 1 - self.areas[np.arange(len(self.areas)), self.background].mean()
        what = f"{self.sequences} sequences, " if self.sequences > 1 else ""
        return (
            f"segmented {what}{self.frames} frames ({self.size[1]}x{self.size[0]}) with "
            f"{self.method} "
            f"in {self.seconds:.1f} s ({1000 * self.seconds / max(self.frames, 1):.0f} ms/frame)\n"
            f"mean layer areas: {mean}; mean foreground area: {fg:.2f}\n"
            f"outputs in {self.output}"
        )


def segment_source(
    source: str | Path,
    out: str | Path,
    method: str = DEFAULT_METHOD,
    layers: int | None = None,
    flow_backend: str = DEFAULT_FLOW_BACKEND,
    size: tuple[int, int] | None = DEFAULT_SIZE,
    device: str = "cpu",
    batch_size: int = 8,
    foreground_rule: str = "border",
    explained_ratio: float = EXPLAINED_RATIO,
    progress: bool = True,
    method_options: dict[str, object] | None = None,
    snap_radius: float = SNAP_RADIUS,
    temporal_radius: int = TEMPORAL_RADIUS,
    colour_weight: float = COLOUR_WEIGHT,
    flow_oversample: int = FLOW_OVERSAMPLING,
    border_limit: float = BORDER_CONTACT_LIMIT,
    hole_fraction: float = HOLE_FRACTION,
    fps: float | None = None,
) -> SegmentResult:
    """Segment a video file, a folder of frames or a folder of flow files into motion layers.

    Every input frame gets a mask (the last frame uses its negated backward flow, see
    `inputs.load_flows`); stems are the frames' (``00000, 00001, ...`` for a video) or the flow
    files'. Outputs, all at the input's resolution except ``flow/`` (working size):
    ``OUT/masks/<stem>.png`` layer labels (indexed PNG), ``OUT/foreground/<stem>.png`` 0/255,
    ``OUT/flow/<stem>.png`` colour wheel, ``OUT/overlay.mp4`` (H.264), ``OUT/motion.json`` (per
    frame and layer: model, theta ``(2, J)`` as nested lists in pixels of the working grid, area
    fraction; both of the final layers at the working size, before snapping). Label 0 is each
    frame's background layer; the other layers keep their order (linked over time).
    Only these entries of ``OUT`` are written, each complete or not at all
    (`motionlayers.io.atomic.atomic_directory`): other files in ``OUT`` are never touched, an
    ``OUT`` that is, contains or lies inside the input is refused.
    A folder of sequences (sub-folders of frames, e.g. DAVIS ``JPEGImages/480p``) is segmented
    sequence by sequence into ``OUT/<sequence>/`` (`segment_sequences`).

    Args:
        layers: K, or None for the method's own (a trained network's K; 4 for the classical
            methods).
        size: working ``(height, width)`` of the flows, or None for the input's size.
        foreground_rule: ``"border"`` or ``"largest"`` (see `motionlayers.postprocess`).
        explained_ratio: foreground segments whose flow the background model explains within
            this multiple of its median error join the background (`absorb_explained`; 0: off).
        method_options: extra keyword options of the method's factory.
        snap_radius: the upsampled layers' boundaries follow the frame's edges
            (`motionlayers.postprocess.snap_labels`, a colour guided filter of this radius, a
            fraction of the frame height; 0: off; flow inputs have no frame and are not snapped).
        temporal_radius: the linked soft masks are averaged over this many frames on each side,
            carried along the flow (`motionlayers.postprocess.smooth_masks`; 0: off).
        colour_weight: the foreground is refined by a per-frame colour model
            (`motionlayers.postprocess.colour_foreground`, this weight of the colour evidence
            against the motion's; 0: off; flow inputs have no frame and are not refined).
        flow_oversample: flow is computed on frames this many times the working size, then
            averaged down (`motionlayers.flow.FLOW_OVERSAMPLING`).
        border_limit: foreground segments whose boundary connectivity reaches this limit are
            dropped when a segment inside the frame remains
            (`motionlayers.postprocess.drop_border_segments`; 0: off).
        hole_fraction: holes of the foreground smaller than this fraction of its area are
            filled (`motionlayers.postprocess.fill_holes`; 0: off).
        fps: frame rate of ``overlay.mp4``; None: the video's, `FRAME_FOLDER_FPS` for folders.

    Raises:
        InputError: missing, corrupt or empty input, unknown method, unwritable output.
    """
    start = time.perf_counter()
    if foreground_rule not in FOREGROUND_RULES:
        raise InputError(
            "foreground rule", f"unknown {foreground_rule!r}; valid: {', '.join(FOREGROUND_RULES)}"
        )
    _check_range("explained ratio", explained_ratio, 0, MAX_WEIGHT)
    _check_range("batch size", batch_size, 1, MAX_BATCH_SIZE)
    _check_range("temporal radius", temporal_radius, 0, MAX_TEMPORAL_RADIUS)
    _check_range("colour weight", colour_weight, 0, MAX_WEIGHT)
    _check_range("border limit", border_limit, 0, MAX_WEIGHT)
    _check_range("hole fraction", hole_fraction, 0, 1)
    _check_range("snap radius", snap_radius, 0, 1, "of the frame height")
    if fps is not None:
        _check_range("fps", fps, 0.1, 1000)
    source = Path(source)
    if not source.exists():
        raise InputError(source, "does not exist")
    sequences = sequence_folders(source)
    if sequences:
        check_not_input(out, [source])
        return segment_sequences(
            sequences,
            out,
            method=method,
            layers=layers,
            flow_backend=flow_backend,
            size=size,
            device=device,
            batch_size=batch_size,
            foreground_rule=foreground_rule,
            explained_ratio=explained_ratio,
            progress=progress,
            method_options=method_options,
            snap_radius=snap_radius,
            temporal_radius=temporal_radius,
            colour_weight=colour_weight,
            flow_oversample=flow_oversample,
            border_limit=border_limit,
            hole_fraction=hole_fraction,
            fps=fps,
        )
    options = dict(method_options or {})
    segmenter = get_method(method, layers, device, **options)
    with atomic_directory(out, kind="segment", entries=OUTPUT_ENTRIES, inputs=[source]) as tmp:
        data = load_flows(source, flow_backend, size, progress, flow_oversample)
        flows = data.flows.to(device)
        masks = []
        batches = range(0, len(flows), batch_size)
        for i in tqdm(batches, desc=f"segment ({method})", unit="batch", disable=not progress):
            masks.append(segmenter(flows[i : i + batch_size]))
        soft = smooth_masks(link_masks(torch.cat(masks), "hungarian"), temporal_radius, flows)
        count = soft.shape[1]
        labels = masks_to_labels(soft)
        first = labels_to_masks(labels, count)
        theta = fit(flows, first, MOTION_MODEL, "l1")
        background = background_layers(labels, foreground_rule, flows, theta, MOTION_MODEL)
        soft = absorb_explained(soft, background, flows, theta, MOTION_MODEL, explained_ratio)
        final = labels_to_masks(masks_to_labels(soft), count)
        # motion.json describes the layers as written: refit the frames that absorbing changed
        changed = (final != first).flatten(1).any(1)
        if changed.any():
            theta[changed] = fit(flows[changed], final[changed], MOTION_MODEL, "l1")
        # label 0 is each frame's background: masks/ reads the same way as a DAVIS annotation
        order = background_first_order(background, count)
        soft = soft.gather(1, order[:, :, None, None].expand_as(soft))
        theta = theta.gather(1, order[:, :, None, None].expand_as(theta))
        final = final.gather(1, order[:, :, None, None].expand_as(final))
        background = torch.zeros_like(background)
        areas = final.mean((-2, -1)).cpu().numpy()
        for name in ("masks", "foreground", "flow"):
            (tmp / name).mkdir()
        refine = FrameRefinement(snap_radius, colour_weight, border_limit, hole_fraction)
        rate = fps or (data.fps if data.kind == "video" else FRAME_FOLDER_FPS)
        write_all_frames(tmp, source, data, soft, flows, background, progress, refine, rate)
        write_motion_json(
            tmp / "motion.json",
            {
                "motionlayers_version": __version__,
                "source": str(source),
                "method": method,
                "checkpoint": str(options.get("checkpoint") or "shipped"),
                "layers": count,
                "flow_backend": flow_backend if data.kind != "flows" else "precomputed",
                "fps": rate,
                "model": MOTION_MODEL,
                "theta_units": THETA_UNITS,
                "labels": "0 is each frame's background layer (frames[].background); the other "
                "layers keep their order, linked over time",
                "working_size": list(flows.shape[-2:]),
                "input_size": list(data.size),
                "foreground_rule": foreground_rule,
                "explained_ratio": explained_ratio,
                "temporal_radius": temporal_radius,
                "snap_radius": snap_radius if data.kind != "flows" else 0.0,
                "colour_weight": colour_weight if data.kind != "flows" else 0.0,
                "border_limit": border_limit,
                "hole_fraction": hole_fraction,
                "frames": [
                    {
                        "stem": stem,
                        "background": int(background[t]),
                        "layers": [
                            {
                                "label": k,
                                "model": MOTION_MODEL,
                                "theta": theta[t, k].cpu().tolist(),
                                "area": float(areas[t, k]),
                            }
                            for k in range(count)
                        ],
                    }
                    for t, stem in enumerate(data.stems)
                ],
            },
        )
    seconds = time.perf_counter() - start
    return SegmentResult(
        Path(out), method, len(data.stems), data.size, seconds, areas, background.cpu().numpy()
    )


MAX_WEIGHT = 1e9
"""Upper bound of the ratios, weights and limits: finite (an infinite colour weight turns the
colour step's logits into NaN), far above any useful value."""
MAX_BATCH_SIZE = 4096
"""Flows per batch at most (a bigger batch only costs memory)."""
MAX_TEMPORAL_RADIUS = 100
"""Frames averaged on each side at most (the cost grows with the radius)."""


def _check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    """`InputError` unless ``low <= value <= high`` (NaN fails too: it would turn a step off)."""
    if not low <= value <= high:
        where = f" ({unit})" if unit else ""
        raise InputError(name, f"must be in [{low:g}, {high:g}]{where}, got {value}")


def background_first_order(background: torch.Tensor, count: int) -> torch.Tensor:
    """``(T, K)`` int64: per frame, the layer order that puts ``background (T,)`` first and
    keeps the other layers in their order."""
    layers = torch.arange(count, device=background.device).expand(len(background), count)
    rank = torch.where(layers == background[:, None], -1, layers)  # the background sorts first
    return rank.argsort(dim=1, stable=True)


def sequence_folders(source: Path) -> list[Path]:
    """The sequences of a folder of sequences (sub-folders holding frames or flow files, as
    DAVIS ``JPEGImages/480p``), in natural order; empty when ``source`` is not one (a video, or
    a folder with frames or flow files of its own)."""
    if not source.is_dir() or flow_files(source):
        return []
    entries = list(source.iterdir())
    if any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in entries):
        return []
    folders = [
        p
        for p in entries
        if p.is_dir()
        and not p.name.startswith(".")
        and any(f.suffix.lower() in IMAGE_EXTENSIONS + FLOW_FILE_SUFFIXES for f in p.iterdir())
    ]
    return sorted(folders, key=lambda p: natural_key(p.name))


def segment_sequences(sequences: list[Path], out: str | Path, **options: Any) -> SegmentResult:
    """`segment_source` of each folder in ``sequences`` into ``out/<name>/`` (what ``motionlayers
    evaluate`` reads); the result sums the frames and time and concatenates the areas."""
    start = time.perf_counter()
    check_not_input(out, sequences)
    results = []
    for folder in tqdm(sequences, desc="sequences", unit="seq", disable=not options["progress"]):
        results.append(segment_source(folder, Path(out) / folder.name, **options))
    return SegmentResult(
        Path(out),
        results[0].method,
        sum(r.frames for r in results),
        results[0].size,
        time.perf_counter() - start,
        np.concatenate([r.areas for r in results]),
        np.concatenate([r.background for r in results]),
        sequences=len(results),
    )
