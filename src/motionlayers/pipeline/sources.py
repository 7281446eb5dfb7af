"""Input adapters: whatever the user gives becomes a stream of samples.

`open_source` recognises a video file, a folder of frames, a folder of flow files, an event
recording, a live camera (``"camera:N"``, an int, or any object with OpenCV's
``read() -> (ok, frame)``) and frames from Python (an iterable of ``(H, W, 3)`` uint8 BGR
arrays, OpenCV's order, or ``(H, W)`` grey). `flow_samples` then turns a frame or flow source
into `FlowSample` s: one per frame, its forward flow at the working size, holding only the two
frames that the flow needs, so that a video of any length streams in constant memory.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionlayers.defaults import EVENT_SUFFIXES
from motionlayers.errors import InputError
from motionlayers.io.frames import IMAGE_EXTENSIONS
from motionlayers.io.listing import natural_key

FLOW_FILE_SUFFIXES = (".flo", ".pfm", ".npy", ".npz")
"""A folder holding files with these suffixes is read as precomputed flows (16-bit KITTI PNG
flow folders are ambiguous with frame folders: convert them to .flo first)."""
VIDEO_FPS = 10.0
"""Frame rate assumed for a video that does not state a usable one."""
FOLDER_FPS = 24.0
"""Frame rate of ``overlay.mp4`` for folders of frames or flows and for arrays (DAVIS's)."""


def flow_files(source: Path) -> list[Path]:
    """The flow files of a folder in natural order (empty if it holds none)."""
    if not source.is_dir():
        return []
    files = [p for p in source.iterdir() if p.is_file() and p.suffix.lower() in FLOW_FILE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
"""Files that a folder of videos (a dataset) holds."""


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder of sequences (sub-folders of frames or flow files, as DAVIS
    ``JPEGImages/480p``) or of videos, rather than one sequence: it holds no frame or flow file
    of its own."""
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    suffixes = {p.suffix.lower() for p in entries if p.is_file()}
    if suffixes & set(IMAGE_EXTENSIONS + FLOW_FILE_SUFFIXES):
        return False
    if suffixes & set(VIDEO_SUFFIXES):
        return True
    return any(holds_sequence(p) for p in entries)


def holds_sequence(path: Path) -> bool:
    """Whether ``path`` is a folder holding frames or flow files of its own (one sequence)."""
    inner = set(IMAGE_EXTENSIONS + FLOW_FILE_SUFFIXES)
    return path.is_dir() and any(f.is_file() and f.suffix.lower() in inner for f in path.iterdir())


def is_event_input(path: str | Path) -> bool:
    """Whether ``path`` names an event recording (by its suffix; it need not exist)."""
    return Path(path).suffix.lower() in EVENT_SUFFIXES and not Path(path).is_dir()


@dataclass
class Source:
    """An opened input.

    Attributes:
        kind: one of `motionlayers.pipeline.options.SOURCE_KINDS`.
        name: how messages and ``motion.json`` name it (a path, ``camera:0``, ``<frames>``).
        path: the file or folder, when there is one (an output may not lie inside it).
        fps: its frame rate, when it has one.
        length: frames (or flow files) when known in advance, for the progress bar.
        items: for frame sources an iterator of ``(stem, frame)``; for flow folders the files.
    """

    kind: str
    name: str
    path: Path | None = None
    fps: float | None = None
    length: int | None = None
    items: Any = None

    def frames(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(stem, (H, W, 3) uint8 BGR)`` of a frame source, in order, once."""
        if self.kind == "video" or self.kind == "frames":
            from motionlayers.io import iter_frames

            assert self.path is not None
            return iter_frames(self.path)
        return iter(self.items)


def open_source(source: Any) -> Source:
    """The `Source` that ``source`` names (see the module doc).

    Raises:
        InputError: a path that does not exist, a folder mixing frames and flow files, an
            unreadable camera, or something that is neither.
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return _camera(int(source), f"camera:{int(source)}")
    if isinstance(source, str) and source.startswith("camera:"):
        index = source.partition(":")[2]
        if not index.isdigit():
            raise InputError(source, "a camera is camera:N with N its index (camera:0)")
        return _camera(int(index), source)
    if isinstance(source, (str, Path)):
        return _path_source(Path(source))
    if hasattr(source, "read") and callable(source.read):
        return Source("camera", "<capture>", items=_capture_frames(source, "<capture>"))
    if isinstance(source, np.ndarray):
        if source.ndim not in (3, 4):
            raise InputError("frames", f"expected (T, H, W[, 3]) frames, got {source.shape}")
        return Source(
            "arrays", "<frames>", fps=FOLDER_FPS, length=len(source), items=_array_frames(source)
        )
    if isinstance(source, Iterable):
        return Source("arrays", "<frames>", fps=FOLDER_FPS, items=_array_frames(source))
    raise InputError(
        "source",
        f"cannot segment a {type(source).__name__}: give a path (video, frames, flows, events), "
        "camera:N, a cv2.VideoCapture or an iterable of frames",
    )


def _path_source(path: Path) -> Source:
    from motionlayers.io import frame_count

    if not path.exists():
        raise InputError(path, "does not exist")
    if is_event_input(path):
        return Source("events", str(path), path)
    files = flow_files(path)
    if files:
        images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        if images:
            raise InputError(
                path,
                f"holds both flow files ({files[0].name}, ...) and frames ({images[0].name}, "
                "...): put them in separate folders",
            )
        return Source("flows", str(path), path, FOLDER_FPS, len(files), files)
    if path.is_dir():
        return Source("frames", str(path), path, FOLDER_FPS, frame_count(path))
    return Source("video", str(path), path, _video_fps(path), frame_count(path))


def _video_fps(path: Path) -> float:
    import cv2

    from motionlayers.io.frames import open_video

    capture = open_video(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return fps if 0 < fps < 1000 else VIDEO_FPS


def _camera(index: int, name: str) -> Source:
    import cv2

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise InputError(name, "no camera with this index can be opened")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    return Source(
        "camera", name, fps=fps if 0 < fps < 1000 else None, items=_capture_frames(capture, name)
    )


def _capture_frames(capture: Any, name: str) -> Iterator[tuple[str, np.ndarray]]:
    """Frames of an OpenCV-style capture until it ends, or until Ctrl-C: a live camera has no
    end but the user's, so the first Ctrl-C while a frame is awaited ends the stream (the frames
    so far are segmented and written; a second Ctrl-C stops everything). Released at the end if
    it can be."""
    try:
        for index in itertools.count():
            try:
                ok, frame = capture.read()
            except KeyboardInterrupt:
                print(
                    f"{name}: recording stopped (Ctrl-C); finishing the frames so far",
                    file=sys.stderr,
                )
                return
            if not ok or frame is None:
                return
            yield f"{index:05d}", _check_frame(frame, name, index)
    finally:
        if hasattr(capture, "release"):
            capture.release()


def _array_frames(frames: Iterable[Any]) -> Iterator[tuple[str, np.ndarray]]:
    for index, frame in enumerate(frames):
        yield f"{index:05d}", _check_frame(np.asarray(frame), "frames", index)


def _check_frame(frame: np.ndarray, name: str, index: int) -> np.ndarray:
    """A frame as ``(H, W, 3)`` uint8 BGR (grey repeated), or an `InputError` naming it."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise InputError(name, f"frame {index}: expected (H, W, 3) or (H, W), got {frame.shape}")
    if frame.dtype != np.uint8:
        if not np.issubdtype(frame.dtype, np.number) or not np.isfinite(frame).all():
            raise InputError(name, f"frame {index}: values must be finite numbers")
        scale = 255.0 if frame.dtype.kind == "f" and frame.max() <= 1.0 else 1.0
        frame = np.clip(frame * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frame)


@dataclass
class FlowSample:
    """One frame of a flow-based source: ``stem``; ``flow (2, h, w)`` float32 forward flow at the
    working size (pixels of that grid); ``frame (H, W, 3)`` uint8 BGR at the input's size (None
    for flow files); ``size`` the input's ``(H, W)``."""

    index: int
    stem: str
    flow: torch.Tensor
    frame: np.ndarray | None
    size: tuple[int, int]


def flow_samples(
    source: Source,
    backend: str,
    size: tuple[int, int] | None,
    oversample: int,
    max_frames: int | None = None,
) -> Iterator[FlowSample]:
    """`FlowSample` s of a frame or flow source, one per input frame, in order.

    Frame t gets the flow from t to t+1, computed on frames resized to ``oversample`` times the
    working ``size`` and then resized (vectors rescaled) to it. The last frame, which has no
    successor, gets the backward flow from T-1 to T-2 negated (for motion smooth in time it
    approximates the missing forward flow); with precomputed flows (which hold forward flows
    only) it gets the flow of T-2 instead. A folder of flow files gives one sample per file.

    Raises:
        InputError: corrupt or single-frame input, a working size out of bounds or too small
            for the backend, flow files of different sizes.
    """
    from motionlayers.limits import check_working_size

    check_working_size(size)
    if source.kind == "flows":
        yield from _file_samples(source.items[:max_frames] if max_frames else source.items, size)
        return
    from motionlayers.flow import get_backend, oversampled_size, resize_flow, to_tensor
    from motionlayers.io import resize_image

    flow_backend = get_backend(backend)
    flow_size = oversampled_size(size, oversample)
    if flow_size is not None:
        flow_backend.check_size(*flow_size, name="working size")

    def working(computed: np.ndarray) -> torch.Tensor:
        if size is not None and computed.shape[:2] != size:
            computed = resize_flow(computed, *size)
        return to_tensor(computed)[0]

    def flows(pairs: list[tuple[tuple[str, np.ndarray], tuple[str, np.ndarray]]]) -> list:
        """One flow per pair ``((stem0, frame0), (stem1, frame1))``; a batching backend (a
        network) computes them in one call."""
        frames0, frames1 = [a[1] for a, _ in pairs], [b[1] for _, b in pairs]
        computed = flow_backend.compute_pairs(frames0, frames1, [a[0] for a, _ in pairs])
        return [working(flow) for flow in computed]

    frames = source.frames()
    if max_frames is not None:
        frames = itertools.islice(frames, max_frames)
    older = previous = None  # (stem, frame at the flow's size)
    previous_full: np.ndarray | None = None
    last_flow: torch.Tensor | None = None
    index = 0
    pending: list[tuple[tuple[str, np.ndarray], tuple[str, np.ndarray], np.ndarray]] = []

    def flush() -> Iterator[FlowSample]:
        nonlocal index, last_flow
        for (a, _, full), computed in zip(pending, flows([(a, b) for a, b, _ in pending])):
            last_flow = computed
            yield FlowSample(index, a[0], computed, full, _size(full))
            index += 1
        pending.clear()

    for stem, frame in frames:
        current = (stem, resize_image(frame, flow_size) if flow_size is not None else frame)
        if previous is not None and previous_full is not None:
            pending.append((previous, current, previous_full))
            if len(pending) >= flow_backend.batch_size:
                yield from flush()
        older, previous, previous_full = previous, current, frame
    yield from flush()
    if previous is None or previous_full is None:
        raise InputError(source.name, "holds no frames")
    if older is None or last_flow is None:
        raise InputError(source.name, "needs at least two frames to compute flow, found one")
    if flow_backend.name == "precomputed":
        final = last_flow.clone()
    else:
        final = -flows([(previous, older)])[0]
    yield FlowSample(index, previous[0], final, previous_full, _size(previous_full))


def _size(frame: np.ndarray) -> tuple[int, int]:
    return int(frame.shape[0]), int(frame.shape[1])


def _file_samples(files: list[Path], size: tuple[int, int] | None) -> Iterator[FlowSample]:
    from motionlayers.flow import resize_flow, to_tensor
    from motionlayers.io import read_flow

    input_size: tuple[int, int] | None = None
    for index, path in enumerate(files):
        flow = read_flow(path)
        shape = (int(flow.shape[0]), int(flow.shape[1]))
        if input_size is None:
            input_size = shape
        elif shape != input_size:
            raise InputError(
                path,
                f"size {shape[1]}x{shape[0]} differs from the first flow's "
                f"{input_size[1]}x{input_size[0]}",
            )
        if size is not None:
            flow = resize_flow(flow, *size)
        tensor = to_tensor(np.ascontiguousarray(flow, dtype=np.float32))[0]
        yield FlowSample(index, path.stem, tensor, None, input_size)


__all__ = [
    "FLOW_FILE_SUFFIXES",
    "FOLDER_FPS",
    "FlowSample",
    "Source",
    "flow_files",
    "flow_samples",
    "holds_sequence",
    "is_dataset",
    "is_event_input",
    "open_source",
]
