"""The per-frame outputs of `segment_source`: each frame's working-size masks upsampled and
refined into full-size labels (`motionlayers.postprocess.frame_labels`), written as
``masks/``, ``foreground/``, ``flow/`` PNGs by a small thread pool, and the overlay video."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionlayers.flow import flow_to_color
from motionlayers.io import iter_frames
from motionlayers.pipeline.inputs import FlowInput
from motionlayers.pipeline.outputs import VideoSink, full_frames, overlay, write_frame_outputs
from motionlayers.postprocess import frame_labels


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
    fps: float | None = None,
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
    sink = VideoSink(root / "overlay.mp4", fps or data.fps, data.size)
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
