"""Flow over a whole video: consecutive frame pairs through a backend, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from motionlayers.errors import InputError
from motionlayers.flow.backends import DEFAULT_BACKEND, FlowBackend, get_backend
from motionlayers.flow.resize import resize_flow
from motionlayers.io.frames import frame_count, iter_frames, resize_image

# FLOW_OVERSAMPLING (motionlayers.defaults, measured there): flow above the working size.


def oversampled_size(size: tuple[int, int] | None, oversample: int) -> tuple[int, int] | None:
    """The size at which flow is computed for a working ``size`` (None: the input's size)."""
    if size is None or oversample == 1:
        return size
    if oversample < 1:
        raise InputError("oversample", f"must be >= 1, got {oversample}")
    return (size[0] * oversample, size[1] * oversample)


def iter_flows(
    source: str | Path,
    backend: str | FlowBackend = DEFAULT_BACKEND,
    size: tuple[int, int] | None = None,
    progress: bool = True,
    oversample: int = 1,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Forward flow between consecutive frames of a video file or a folder of images.

    Args:
        source: a video file or a folder of images (see `motionlayers.io.iter_frames`).
        backend: a backend name (see `available_backends`) or a `FlowBackend`; one with
            ``batch_size > 1`` gets that many consecutive pairs per `compute_pairs` call.
        size: ``(height, width)`` working size: frames are resized to it before the flow is
            computed, and flow from files of another size is resized (vectors rescaled).
        progress: show a tqdm bar on stderr.
        oversample: compute the flow on frames ``oversample`` times the working size, then
            resize it (vectors rescaled) to the working size (see `FLOW_OVERSAMPLING`).

    Yields:
        ``(stem, frame0, flow)`` for t = 0 .. T-2: the stem of frame t, frame t ``(H, W, 3)``
        uint8 BGR at the working size, and the flow from frame t to frame t+1 ``(H, W, 2)``
        float32, u first, in pixels of the working grid.

    Raises:
        InputError: at the call for an unknown backend or a missing, empty or unreadable source;
            during iteration if the source has fewer than two frames or a frame is unreadable.
    """
    flow_backend = get_backend(backend)
    frames = iter_frames(source, oversampled_size(size, oversample))
    count = frame_count(source)
    total = count - 1 if count else None
    return _pairs(Path(source), frames, flow_backend, total, progress, size)


def _pairs(
    source: Path,
    frames: Iterator[tuple[str, np.ndarray]],
    backend: FlowBackend,
    total: int | None,
    progress: bool,
    size: tuple[int, int] | None = None,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Consecutive pairs through ``backend``: one call per pair, or, for a backend with
    ``batch_size > 1``, one `FlowBackend.compute_pairs` call per batch of consecutive pairs
    (frames are read only as far as the batch being computed)."""
    with tqdm(total=total, desc=f"flow ({backend.name})", unit="pair", disable=not progress) as bar:
        previous = next(frames, None)
        pairs = 0
        for batch in _batches(previous, frames, max(1, backend.batch_size)):
            stems, frames0, frames1 = (list(column) for column in zip(*batch))
            flows = backend.compute_pairs(frames0, frames1, stems)
            for (stem0, frame0, _), flow in zip(batch, flows, strict=True):
                height, width = size if size is not None else frame0.shape[:2]
                if flow.shape[:2] != (height, width):
                    flow = resize_flow(flow, height, width)
                yield stem0, resize_image(frame0, (height, width)), flow
                pairs += 1
                bar.update()
    if pairs == 0:
        raise InputError(source, "needs at least two frames to compute flow, found one")


def _batches(
    first: tuple[str, np.ndarray] | None,
    frames: Iterator[tuple[str, np.ndarray]],
    batch_size: int,
) -> Iterator[list[tuple[str, np.ndarray, np.ndarray]]]:
    """Lists of up to ``batch_size`` consecutive pairs ``(stem0, frame0, frame1)``."""
    batch: list[tuple[str, np.ndarray, np.ndarray]] = []
    previous = first
    for stem, frame in frames:
        assert previous is not None
        batch.append((previous[0], previous[1], frame))
        previous = (stem, frame)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
