"""Flows of the pipeline's input: a video, a folder of frames, or a folder of flow files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionlayers.defaults import DEFAULT_FLOW_BACKEND, DEFAULT_WORKING_SIZE
from motionlayers.errors import InputError
from motionlayers.flow import (
    FLOW_OVERSAMPLING,
    get_backend,
    oversampled_size,
    resize_flow,
    to_tensor,
)
from motionlayers.io import frame_count, iter_frames, read_flow, resize_image
from motionlayers.io.frames import open_video
from motionlayers.io.listing import natural_key
from motionlayers.limits import check_working_size

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
    backend: str = DEFAULT_FLOW_BACKEND,
    size: tuple[int, int] | None = DEFAULT_WORKING_SIZE,
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

    Frames are read and their flows computed one pair at a time: only two frames are held,
    whatever the length of the video.

    Raises:
        InputError: missing, empty, corrupt or single-frame input, or a working size out of
            bounds (`motionlayers.limits.check_working_size`) or too small for the backend.
    """
    check_working_size(size)
    source = Path(source)
    if not source.exists():
        raise InputError(source, "does not exist")
    files = flow_files(source)
    if files:
        return _from_flow_files(files, size, progress)
    flow_backend = get_backend(backend)
    flow_size = oversampled_size(size, oversample)
    if flow_size is not None:
        flow_backend.check_size(*flow_size, name="working size")
    kind = "frames" if source.is_dir() else "video"
    frames = iter_frames(source)

    def flow(frame0: tuple[str, np.ndarray], frame1: tuple[str, np.ndarray]) -> torch.Tensor:
        computed = flow_backend(frame0[1], frame1[1], stem=frame0[0])
        if size is not None and computed.shape[:2] != size:
            computed = resize_flow(computed, *size)
        return to_tensor(computed)

    stems: list[str] = []
    flows: list[torch.Tensor] = []
    input_size: tuple[int, int] = (0, 0)
    older, previous = None, None  # the two frames before, at the flow's size
    bar = tqdm(
        frames,
        total=frame_count(source),
        desc=f"flow ({flow_backend.name})",
        unit="frame",
        disable=not progress,
    )
    for stem, frame in bar:
        input_size = (int(frame.shape[0]), int(frame.shape[1]))
        current = (stem, resize_image(frame, flow_size) if flow_size is not None else frame)
        if previous is not None:
            flows.append(flow(previous, current))
        older, previous = previous, current
        stems.append(stem)
    if older is None or previous is None:
        raise InputError(source, "needs at least two frames to compute flow, found one")
    flows.append(-flow(previous, older))  # the last frame: its negated backward flow
    return FlowInput(
        stems,
        torch.cat(flows),
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
                path,
                f"size {flow.shape[1]}x{flow.shape[0]} differs from the first flow's "
                f"{input_size[1]}x{input_size[0]}",
            )
        if size is not None:
            flow = resize_flow(flow, *size)
        flows.append(to_tensor(np.ascontiguousarray(flow, dtype=np.float32)))
    assert input_size is not None
    return FlowInput([p.stem for p in files], torch.cat(flows), input_size, DEFAULT_FPS, "flows")


def _fps(source: Path) -> float:
    capture = open_video(source)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return fps if 0 < fps < 1000 else DEFAULT_FPS
