"""Flows of the pipeline's input: a video, a folder of frames, or a folder of flow files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionlayers.errors import InputError
from motionlayers.flow import (
    FLOW_OVERSAMPLING,
    get_backend,
    oversampled_size,
    resize_flow,
    to_tensor,
)
from motionlayers.io import iter_frames, read_flow, resize_image
from motionlayers.io.listing import natural_key

FLOW_FILE_SUFFIXES = (".flo", ".pfm", ".npy", ".npz")
"""A folder holding files with these suffixes is read as precomputed flows (16-bit KITTI PNG
flow folders are ambiguous with frame folders: convert them to .flo first)."""
DEFAULT_FPS = 10.0


@dataclass
class FlowInput:
    """``stems`` one per output frame; ``flows (T, 2, h, w)`` float32 at the working size (u first,
    pixels of the working grid); ``size`` the input's ``(H, W)``; ``fps``; ``kind`` ``"video"``,
    ``"frames"`` or ``"flows"``."""

    stems: list[str]
    flows: torch.Tensor
    size: tuple[int, int]
    fps: float
    kind: str


def flow_files(source: Path) -> list[Path]:
    """The flow files of a folder in natural order (empty if it holds none)."""
    if not source.is_dir():
        return []
    files = [p for p in source.iterdir() if p.is_file() and p.suffix.lower() in FLOW_FILE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def load_flows(
    source: str | Path,
    backend: str = "dis-medium",
    size: tuple[int, int] | None = (128, 224),
    progress: bool = True,
    oversample: int = FLOW_OVERSAMPLING,
) -> FlowInput:
    """Forward flows of every input frame at the working ``size`` (None: the input's size).

    Frames are resized to ``oversample`` times the working size for the flow, which is then
    resized (vectors rescaled) to the working size (see `motionlayers.flow.FLOW_OVERSAMPLING`).

    Frame t gets the flow from t to t+1. The last frame, which has no successor, gets the
    backward flow from T-1 to T-2 computed by the same backend and negated (for motion that is
    smooth in time, ``-f(T-1 -> T-2)`` approximates the missing forward flow), so that every
    input frame gets its own segmentation. A folder of flow files gives one frame per file.

    Raises:
        InputError: missing, empty, corrupt or single-frame input.
    """
    source = Path(source)
    if not source.exists():
        raise InputError(source, "does not exist")
    files = flow_files(source)
    if files:
        return _from_flow_files(files, size, progress)
    flow_backend = get_backend(backend)
    flow_size = oversampled_size(size, oversample)
    kind = "frames" if source.is_dir() else "video"
    frames_iter = iter_frames(source)
    stems: list[str] = []
    frames: list[np.ndarray] = []
    input_size: tuple[int, int] = (0, 0)
    for stem, frame in tqdm(frames_iter, desc="read frames", unit="frame", disable=not progress):
        input_size = (int(frame.shape[0]), int(frame.shape[1]))
        stems.append(stem)
        frames.append(resize_image(frame, flow_size) if flow_size is not None else frame)
    if len(frames) < 2:
        raise InputError(source, "needs at least two frames to compute flow, found one")
    flows = []
    pairs = [(t, t + 1) for t in range(len(frames) - 1)] + [(len(frames) - 1, len(frames) - 2)]
    for t, s in tqdm(pairs, desc=f"flow ({flow_backend.name})", unit="pair", disable=not progress):
        flow = flow_backend(frames[t], frames[s], stem=stems[t])
        if size is not None and flow.shape[:2] != size:
            flow = resize_flow(flow, *size)
        flows.append(flow if s > t else -flow)
    return FlowInput(
        stems,
        torch.cat([to_tensor(f) for f in flows]),
        input_size,
        _fps(source) if kind == "video" else DEFAULT_FPS,
        kind,
    )


def _from_flow_files(files: list[Path], size: tuple[int, int] | None, progress: bool) -> FlowInput:
    flows, input_size = [], None
    for path in tqdm(files, desc="read flows", unit="file", disable=not progress):
        flow = read_flow(path)
        if input_size is None:
            input_size = (int(flow.shape[0]), int(flow.shape[1]))
        elif flow.shape[:2] != input_size:
            raise InputError(
                path, f"size {flow.shape[:2]} differs from the first flow's {input_size}"
            )
        if size is not None:
            flow = resize_flow(flow, *size)
        flows.append(to_tensor(np.ascontiguousarray(flow, dtype=np.float32)))
    assert input_size is not None
    return FlowInput([p.stem for p in files], torch.cat(flows), input_size, DEFAULT_FPS, "flows")


def _fps(source: Path) -> float:
    capture = cv2.VideoCapture(str(source))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return fps if 0 < fps < 1000 else DEFAULT_FPS
