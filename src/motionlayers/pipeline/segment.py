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
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionlayers.errors import InputError
from motionlayers.flow import FLOW_OVERSAMPLING, flow_to_color
from motionlayers.io import iter_frames
from motionlayers.io.atomic import atomic_directory
from motionlayers.motion import fit
from motionlayers.pipeline.inputs import FlowInput, load_flows
from motionlayers.pipeline.outputs import (
    VideoSink,
    full_frames,
    overlay,
    write_frame_outputs,
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
    frame_labels,
    labels_to_masks,
    link_masks,
    masks_to_labels,
    smooth_masks,
)

DEFAULT_METHOD = "em"
"""The method `segment_source` and ``motionlayers segment`` use when none is given: the EM
network with the shipped default model (``motionlayers/weights/em-default.pt``)."""
DEFAULT_SIZE = (128, 224)
MOTION_MODEL = "quadratic12"
"""The model fitted per layer for ``motion.json`` and the border rule."""


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

    def summary(self) -> str:
        """A few lines for the terminal."""
        mean = ", ".join(f"{a:.2f}" for a in self.areas.mean(0))
        fg = 1 - self.areas[np.arange(len(self.areas)), self.background].mean()
        return (
            f"segmented {self.frames} frames ({self.size[1]}x{self.size[0]}) with {self.method} "
            f"in {self.seconds:.1f} s ({1000 * self.seconds / max(self.frames, 1):.0f} ms/frame)\n"
            f"mean layer areas: {mean}; mean foreground area: {fg:.2f}\n"
            f"outputs in {self.output}"
        )


def segment_source(
    source: str | Path,
    out: str | Path,
    method: str = DEFAULT_METHOD,
    layers: int | None = None,
    flow_backend: str = "dis-medium",
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
) -> SegmentResult:
    """Segment a video file, a folder of frames or a folder of flow files into motion layers.

    Every input frame gets a mask (the last frame uses its negated backward flow, see
    `inputs.load_flows`); stems are the frames' (``00000, 00001, ...`` for a video) or the flow
    files'. Outputs, all at the input's resolution except ``flow/`` (working size):
    ``OUT/masks/<stem>.png`` layer labels (indexed PNG), ``OUT/foreground/<stem>.png`` 0/255,
    ``OUT/flow/<stem>.png`` colour wheel, ``OUT/overlay.mp4``, ``OUT/motion.json`` (per frame and
    layer: model, theta ``(2, J)`` as nested lists in pixels of the working grid, area fraction;
    both of the final layers at the working size, before snapping).
    ``OUT`` is built in a temporary folder and replaces any old ``OUT`` only on success.

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

    Raises:
        InputError: missing, corrupt or empty input, unknown method, unwritable output.
    """
    start = time.perf_counter()
    if foreground_rule not in FOREGROUND_RULES:
        raise InputError(
            "foreground rule", f"unknown {foreground_rule!r}; valid: {', '.join(FOREGROUND_RULES)}"
        )
    if explained_ratio < 0:
        raise InputError("explained ratio", f"must be >= 0, got {explained_ratio}")
    if batch_size < 1:
        raise InputError("batch size", f"must be >= 1, got {batch_size}")
    if temporal_radius < 0:
        raise InputError("temporal radius", f"must be >= 0, got {temporal_radius}")
    if colour_weight < 0:
        raise InputError("colour weight", f"must be >= 0, got {colour_weight}")
    if border_limit < 0:
        raise InputError("border limit", f"must be >= 0, got {border_limit}")
    if not 0 <= hole_fraction <= 1:
        raise InputError("hole fraction", f"must be in [0, 1], got {hole_fraction}")
    if not 0 <= snap_radius <= 1:
        raise InputError(
            "snap radius", f"must be in [0, 1] (of the frame height), got {snap_radius}"
        )
    source = Path(source)
    if not source.exists():
        raise InputError(source, "does not exist")
    segmenter = get_method(method, layers, device, **(method_options or {}))
    with atomic_directory(out) as tmp:
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
        areas = final.mean((-2, -1)).cpu().numpy()
        for name in ("masks", "foreground", "flow"):
            (tmp / name).mkdir()
        refine = FrameRefinement(snap_radius, colour_weight, border_limit, hole_fraction)
        write_all_frames(tmp, source, data, soft, flows, background, progress, refine)
        write_motion_json(
            tmp / "motion.json",
            {
                "source": str(source),
                "method": method,
                "model": MOTION_MODEL,
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


@dataclass(frozen=True)
class FrameRefinement:
    """How `write_all_frames` turns each frame's working-size masks into full-size labels: the
    settings of `motionlayers.postprocess.frame_labels` (all off by default)."""

    snap_radius: float = 0.0
    colour_weight: float = 0.0
    border_limit: float = 0.0
    hole_fraction: float = 0.0


WRITE_THREADS = 2
"""Frames rendered and written at once: OpenCV and PIL release the GIL while they resize and
encode, so per-frame outputs overlap (measured in benchmarks/segment_speed.py)."""


def write_all_frames(
    root: Path,
    source: Path,
    data: FlowInput,
    soft: torch.Tensor,
    flows: torch.Tensor,
    background: torch.Tensor,
    progress: bool,
    refine: FrameRefinement = FrameRefinement(),
) -> None:
    """Per-frame outputs of `segment_source` into ``root`` and ``root/overlay.mp4``.

    Frames are upsampled and refined as ``refine`` says (`postprocess.frame_labels`) and their
    PNGs written by a small thread pool; the overlay video takes them back in order. ``soft (T,
    K, h, w)``, ``flows (T, 2, h, w)``, ``background (T,)``.
    """
    height, width = data.size

    def render(t: int, frame: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        bg = int(background[t])
        full = frame_labels(
            soft[t],
            height,
            width,
            frame,
            refine.snap_radius,
            bg,
            refine.colour_weight,
            refine.border_limit,
            refine.hole_fraction,
        )
        flow_rgb = flow_to_color(flows[t : t + 1].cpu())
        foreground = (full != bg).astype(np.uint8) * 255
        write_frame_outputs(root, data.stems[t], full, foreground, flow_rgb)
        return full, flow_rgb

    frames = full_frames(iter_frames(source) if data.kind != "flows" else None)
    sink = VideoSink(root / "overlay.mp4", data.fps, data.size)
    pending: deque[tuple[np.ndarray | None, Future[tuple[np.ndarray, np.ndarray]]]] = deque()
    bar = tqdm(total=len(data.stems), desc="write", unit="frame", disable=not progress)
    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        try:
            for t in range(len(data.stems)):
                frame = next(frames, None)
                pending.append((frame, pool.submit(render, t, frame)))
                while pending and (len(pending) > 2 * WRITE_THREADS or t == len(data.stems) - 1):
                    frame, future = pending.popleft()
                    full, flow_rgb = future.result()
                    if frame is None:
                        frame = cv2.resize(flow_rgb[:, :, ::-1], (width, height))
                    sink.write(overlay(frame, full))
                    bar.update()
        finally:
            for _, future in pending:
                future.cancel()
            sink.close()
            bar.close()
