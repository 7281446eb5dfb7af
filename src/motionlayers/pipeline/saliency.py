"""``motionlayers saliency INPUT -o OUT``: motion saliency of a video, frames or flows (ch. 5).

Per frame, at the working size: the classifier's probability that the frame is dynamically
salient, its LRP attribution, the salient regions (`motionlayers.methods.nims.SaliencyScorer`)
and the saliency map phi of eq. 5.6. Written at the input's size::

    saliency/<stem>.png   phi as a heatmap (inferno; black: not salient)
    relevance/<stem>.png  the LRP attribution a = R_u + R_v (red positive, blue negative)
    masks/<stem>.png      the salient set, 0/255
    overlay.mp4           the frame with phi over it and p(salient)
    saliency.csv          stem, p_salient, salient_area (fraction of the frame)

Each entry appears complete or not at all; nothing else in OUT is touched.
"""

from __future__ import annotations

import contextlib
import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionlayers.errors import InputError
from motionlayers.io import write_image
from motionlayers.io.atomic import atomic_directory, atomic_path
from motionlayers.io.video import VideoSink
from motionlayers.pipeline.options import FLOWS, KIND_WORDS
from motionlayers.pipeline.sources import FOLDER_FPS, flow_samples, open_source
from motionlayers.pipeline.stream import batches

SALIENCY_ENTRIES = ("saliency", "relevance", "masks", "overlay.mp4", "saliency.csv")
"""What ``motionlayers saliency`` writes into its output folder."""


@dataclass
class SaliencyResult:
    """What a saliency run wrote: the folder, frames, the salient frames, seconds."""

    out: Path
    frames: int
    salient_frames: int
    seconds: float
    probabilities: np.ndarray


def heatmap(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in [0, 1] -> ``(H, W, 3)`` uint8 RGB (inferno)."""
    scaled = (np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def relevance_picture(attribution: np.ndarray) -> np.ndarray:
    """``(H, W)`` signed relevance -> ``(H, W, 3)`` uint8 RGB: white 0, red +max, blue -max."""
    scale = max(float(np.abs(attribution).max()), 1e-12)
    a = np.clip(attribution / scale, -1.0, 1.0)
    red = np.where(a < 0, 1.0 + a, 1.0)
    blue = np.where(a > 0, 1.0 - a, 1.0)
    green = 1.0 - np.abs(a)
    return (np.stack([red, green, blue], -1) * 255).astype(np.uint8)


def _overlay(frame_bgr: np.ndarray | None, phi: np.ndarray, probability: float) -> np.ndarray:
    """The frame (grey when there is none) with phi's heatmap blended where it is positive."""
    height, width = phi.shape
    base = frame_bgr if frame_bgr is not None else np.full((height, width, 3), 96, np.uint8)
    colour = cv2.cvtColor(heatmap(phi), cv2.COLOR_RGB2BGR).astype(np.float32)
    weight = (0.25 + 0.6 * phi)[..., None] * (phi > 0)[..., None]
    out = (base.astype(np.float32) * (1 - weight) + colour * weight).astype(np.uint8)
    text = f"p(salient) {probability:.2f}"
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def saliency_source(
    source: Any,
    out: str | Path,
    *,
    model: str | Path | None = None,
    flow_backend: str | None = None,
    size: tuple[int, int] | None = None,
    batch_size: int = 8,
    max_frames: int | None = None,
    gate: bool = True,
    device: str = "cpu",
    fps: float | None = None,
    progress: bool = True,
) -> SaliencyResult:
    """Motion saliency of ``source`` (a video, a folder of frames or of flow files) into ``out``.

    Args:
        model: the NIMS classifier (checkpoint or weights; None: the shipped case-1 model).
        flow_backend: flow backend for frames (default: the project's default).
        size: working ``(H, W)`` (default: the project's).
        gate: frames the classifier does not call salient (p < 0.5) get no salient region.
        fps: frame rate of overlay.mp4 (default: the video's, else 24).
    """
    from motionlayers.defaults import DEFAULT_FLOW_BACKEND, DEFAULT_WORKING_SIZE
    from motionlayers.methods.nims import shipped_scorer
    from motionlayers.postprocess.saliency import saliency_map

    start = time.perf_counter()
    opened = open_source(source)
    if opened.kind not in FLOWS:
        raise InputError(opened.name, f"saliency reads optical flow, not {KIND_WORDS[opened.kind]}")
    scorer = shipped_scorer(None if model is None else str(model), device)
    samples = flow_samples(
        opened, flow_backend or DEFAULT_FLOW_BACKEND, size or DEFAULT_WORKING_SIZE, 1, max_frames
    )
    rate = fps or opened.fps or FOLDER_FPS
    inputs = [opened.path] if opened.path is not None else []
    probabilities: list[float] = []
    with atomic_directory(out, kind="saliency", entries=SALIENCY_ENTRIES, inputs=inputs) as tmp:
        for name in ("saliency", "relevance", "masks"):
            (tmp / name).mkdir()
        rows: list[tuple[str, float, float]] = []
        sink: VideoSink | None = None
        bar = tqdm(desc="saliency", unit="frame", total=opened.length, disable=not progress)
        with contextlib.closing(bar):
            for batch in batches(samples, batch_size):
                flows = torch.stack([s.flow for s in batch])
                sets, attribution, probability = scorer.salient(flows, gate)
                phi = saliency_map(flows.double(), torch.from_numpy(sets)).numpy()
                for t, sample in enumerate(batch):
                    height, width = sample.size
                    full = (width, height)
                    mask = cv2.resize(
                        sets[t].astype(np.uint8), full, interpolation=cv2.INTER_NEAREST
                    )
                    phi_t = (
                        cv2.resize(phi[t].astype(np.float32), full, interpolation=cv2.INTER_LINEAR)
                        * mask
                    )
                    relevance = cv2.resize(attribution[t].astype(np.float32), full)
                    write_image(tmp / "saliency" / f"{sample.stem}.png", heatmap(phi_t))
                    write_image(
                        tmp / "relevance" / f"{sample.stem}.png", relevance_picture(relevance)
                    )
                    write_image(tmp / "masks" / f"{sample.stem}.png", mask * 255)
                    if sink is None:
                        sink = VideoSink(tmp / "overlay.mp4", rate, (height, width))
                    sink.write(_overlay(sample.frame, phi_t, float(probability[t])))
                    rows.append((sample.stem, float(probability[t]), float(mask.mean())))
                    probabilities.append(float(probability[t]))
                bar.update(len(batch))
        if sink is not None:
            sink.close()
        with atomic_path(tmp / "saliency.csv") as partial:
            with partial.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["stem", "p_salient", "salient_area"])
                writer.writerows((s, f"{p:.4f}", f"{a:.5f}") for s, p, a in rows)
    values = np.array(probabilities)
    return SaliencyResult(
        Path(out), len(values), int((values >= 0.5).sum()), time.perf_counter() - start, values
    )


__all__ = ["SALIENCY_ENTRIES", "SaliencyResult", "heatmap", "relevance_picture", "saliency_source"]
