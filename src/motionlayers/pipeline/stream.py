"""The one segmentation path, as a stream: samples in, one `FrameResult` per frame (or event
window) out, in order, holding only the frames that the method and the smoothing need.

    samples (`sources`)  ->  method (`motionlayers.methods.registry.Method`, batches)
      ->  temporal linking (Hungarian, eq. 3.9: consecutive frames, or the frames that
          overlapping volumes share)  ->  smoothing along the flow (radius r)
      ->  one motion model per layer (`motion.fit`)  ->  background layer (no ground truth)
      ->  segments that the background explains absorbed  ->  background first (label 0)
      ->  full size: boundaries snapped to the frame, foreground refined (`frame_labels`)

Flow-based sources (videos, frames, flows, cameras, arrays) take every step; event windows take
the method, the linking, the background rule and the reordering (their layers come with their
own motions, fitted on the events). Memory: a frame's full-size image, flow and masks live from
its sample to its result, i.e. for about ``batch_size + radius + volume`` frames, whatever the
length of the video.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from motionlayers.defaults import LINK_CUT, LINKINGS, SALIENCY_RULE
from motionlayers.errors import InputError, ShapeError
from motionlayers.methods.registry import Method
from motionlayers.motion import fit
from motionlayers.pipeline.sources import FlowSample
from motionlayers.postprocess import (
    Linker,
    VolumeLinker,
    absorb_explained,
    background_layers,
    frame_labels,
    labels_to_masks,
    masks_to_labels,
    smooth_masks,
)

MOTION_MODEL = "quadratic12"
"""The model fitted per layer of a flow-based segmentation (``motion.json``, the border rule)."""
FULL_SIZE_THREADS = 2
"""Frames upsampled and refined at once: OpenCV releases the GIL while it resizes and filters,
so frames overlap (measured in benchmarks/segment_speed.py)."""


@dataclass
class FrameResult:
    """One frame's (or event window's) segmentation.

    Attributes:
        index: position in the stream (0 first).
        stem: the frame's name (``00000`` for a video; the file's stem in a folder).
        labels: ``(H, W)`` uint8 layer labels at the input's resolution (the sensor's for
            events); label 0 is the frame's background layer, the others keep their order over
            time (linked).
        theta: ``(K, 2, J)`` float64 motion model of each layer, in the order of the labels
            (flows: quadratic12 in pixels of the working grid per frame; events: affine in
            pixels per window).
        areas: ``(K,)`` fraction of the working grid (events: of the sensor) in each layer.
        soft: ``(K, h, w)`` float32 soft masks at the working size (events: the sensor's), in
            the labels' order.
        flow: ``(2, h, w)`` the frame's forward flow at the working size (None for events).
        frame: ``(H, W, 3)`` uint8 BGR input frame (None for flows and events).
        window: events only: ``(t_start_us, t_end_us, events)`` of the window.
        events: events only: the window's `Events` (for the overlay).
        resumed: events only: the window comes from a stopped run's log, not the method.
        background: the background's label (0 in every output of the pipeline).
        size: the input's ``(H, W)``.
    """

    index: int
    stem: str
    labels: np.ndarray
    theta: np.ndarray
    areas: np.ndarray
    soft: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    frame: np.ndarray | None = None
    window: tuple[int, int, int] | None = None
    events: Any = None
    resumed: bool = False
    background: int = 0
    size: tuple[int, int] = (0, 0)

    @property
    def foreground(self) -> np.ndarray:
        """``(H, W)`` bool: every layer but the background."""
        return self.labels != self.background


@dataclass(frozen=True)
class Steps:
    """The settings of the shared stage (see `motionlayers.pipeline.options.OPTIONS`)."""

    batch_size: int
    temporal_radius: int
    foreground_rule: str
    foreground_cut: int
    saliency_model: str | None
    linking: str
    chunk: int | None
    chunk_overlap: int | None
    explained_ratio: float
    snap_radius: float
    colour_weight: float
    border_limit: float
    hole_fraction: float

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Steps:
        return cls(**{name: options[name] for name in cls.__dataclass_fields__})


def predict_stream(
    samples: Iterable[FlowSample],
    method: Method,
    batch_size: int,
    linking: str = LINKINGS[0],
    chunk: tuple[int, int] | None = None,
) -> Iterator[tuple[FlowSample, torch.Tensor]]:
    """``(sample, masks (K, h, w))`` of each sample in order: the method run on batches of
    ``batch_size`` samples of its input kind (flows, working-size frames, or flow volumes
    around each frame, `volume_stream`, linked with ``linking``; ``chunk``: its volumes' length
    and stride, `volume_shape`)."""
    if method.entry.input == "flow-volume":
        length, stride = chunk or (method.entry.volume, method.entry.stride)
        yield from volume_stream(samples, method, batch_size, linking, length, stride)
        return
    if method.entry.input not in ("flow-pair", "frames"):
        raise ShapeError(f"method {method.name} reads {method.entry.input}, not flows or frames")
    for batch in batches(samples, batch_size):
        if method.entry.input == "frames":
            inputs = torch.stack([_working_frame(s) for s in batch])
        else:
            inputs = torch.stack([s.flow for s in batch])
        masks = method(inputs.to(_device(method))).masks
        yield from zip(batch, masks.cpu())


def volume_shape(entry: Any, chunk: int | None, overlap: int | None) -> tuple[int, int]:
    """``(length, stride)`` of the volumes of a flow-volume method: its own (`MethodEntry`
    ``volume`` and ``stride``), or for a method that reads any length, ``chunk`` frames owned
    per volume, consecutive volumes sharing ``overlap`` frames (None: the method's;
    ``chunk = 0``: the whole video in one volume, ``(0, 0)``)."""
    if not entry.any_length:
        if chunk is not None or overlap is not None:
            raise InputError(
                "--chunk",
                f"method {entry.name} reads "
                + (f"volumes of {entry.volume} flows" if entry.volume > 1 else "one flow at a time")
                + "; --chunk and --chunk-overlap apply to methods that read any length (lt)",
            )
        return entry.volume, entry.stride
    chunk = entry.stride if chunk is None else chunk
    overlap = entry.volume - entry.stride if overlap is None else overlap
    if chunk == 0:
        return 0, 0
    return chunk + overlap, chunk


def volume_stream(
    samples: Iterable[FlowSample],
    method: Method,
    batch_size: int,
    linking: str = LINKINGS[0],
    length: int | None = None,
    stride: int | None = None,
) -> Iterator[tuple[FlowSample, torch.Tensor]]:
    """A flow-volume method on a stream: volumes of ``T = length`` flows (default
    ``entry.volume``) start every ``s = stride`` frames (default ``entry.stride``); the volume
    that starts at ``i s - (T - s) // 2`` gives the masks of frames ``i s .. i s + s - 1`` (its
    central ``s`` frames). Flows before the first frame or after the last repeat the end ones
    (as ST-MS's triplets at the ends of a video). Volumes that overlap (``s < T``) are linked on
    the frames they share before their central masks are taken (eq. 3.9, `VolumeLinker` with
    ``linking``: one-to-one, or greedy within cuts of `LINK_CUT` volumes). ``length = 0``: the
    whole stream in one volume (memory grows with the video: every frame is held until the
    end)."""
    length = method.entry.volume if length is None else length
    stride = method.entry.stride if stride is None else stride
    if length == 0:
        kept_all = list(samples)
        if kept_all:
            volume = torch.stack([s.flow for s in kept_all], dim=1).unsqueeze(0)
            masks = method(volume.to(_device(method))).masks.cpu()[0]
            yield from ((sample, masks[:, t]) for t, sample in enumerate(kept_all))
        return
    if not 1 <= stride <= length:
        raise InputError("--chunk", f"need 1 <= stride <= length, got {stride}, {length}")
    offset = (length - stride) // 2
    kept: dict[int, FlowSample] = {}
    iterator = iter(samples)
    seen, done, start = 0, False, 0  # `start`: first frame owned by the next volume
    pending: list[tuple[int, torch.Tensor]] = []  # (first owned frame, volume)
    link = VolumeLinker(stride, linking, LINK_CUT) if stride < length else None

    def pull_until(last: int) -> None:
        nonlocal seen, done
        while not done and seen <= last:
            sample = next(iterator, None)
            if sample is None:
                done = True
            else:
                kept[seen] = sample
                seen += 1

    def flush() -> Iterator[tuple[FlowSample, torch.Tensor]]:
        volumes = torch.stack([v for _, v in pending]).to(_device(method))
        masks = method(volumes).masks.cpu()  # (B, K, T, h, w)
        for (first, _), mask in zip(pending, masks):
            mask = link(mask) if link is not None else mask
            for j in range(stride):
                if first + j < seen:
                    yield kept[first + j], mask[:, offset + j]
        pending.clear()

    while True:
        pull_until(start - offset + length - 1)
        if start >= seen:
            break
        indices = [min(max(start - offset + j, 0), seen - 1) for j in range(length)]
        pending.append((start, torch.stack([kept[i].flow for i in indices], dim=1)))
        start += stride
        if len(pending) == batch_size:
            yield from flush()
            for old in [i for i in kept if i < start - offset]:
                del kept[old]
    if pending:
        yield from flush()


def _working_frame(sample: FlowSample) -> torch.Tensor:
    """``(3, h, w)`` RGB in [0, 1] of the sample's frame at the flow's working size."""
    import cv2

    if sample.frame is None:
        raise ShapeError("a frames method needs frames; this source holds flows only")
    height, width = sample.flow.shape[-2:]
    small = cv2.resize(sample.frame, (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(small[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255


def _device(method: Method) -> torch.device:
    predictor = method.predictor
    if isinstance(predictor, torch.nn.Module):
        parameter = next(predictor.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device("cpu")


def smooth_stream(
    items: Iterable[tuple[FlowSample, torch.Tensor]], radius: int, block: int
) -> Iterator[tuple[list[FlowSample], torch.Tensor]]:
    """Blocks ``(samples, smoothed masks (n, K, h, w))`` of linked masks averaged over ``radius``
    frames on each side along the flow (`motionlayers.postprocess.smooth_masks`), computed on
    windows of ``block + 2 radius`` frames: exactly the whole-video result, since frame t reads
    only frames ``t - radius .. t + radius`` and the flows between them."""
    history: deque[tuple[FlowSample, torch.Tensor]] = deque(maxlen=max(radius, 1))
    pending: list[tuple[FlowSample, torch.Tensor]] = []

    def emit(count: int) -> tuple[list[FlowSample], torch.Tensor]:
        context = list(history) if radius else []
        window = context + pending
        masks = torch.stack([m for _, m in window])
        flows = torch.stack([s.flow for s, _ in window])
        smoothed = smooth_masks(masks, radius, flows) if radius else masks
        rows = smoothed[len(context) : len(context) + count]
        done = pending[:count]
        del pending[:count]
        if radius:
            history.extend(done)
        return [s for s, _ in done], rows

    for item in items:
        pending.append(item)
        if len(pending) >= block + radius:
            yield emit(block)
    while pending:
        yield emit(min(block, len(pending)))


def layered_frames(
    samples: Iterable[FlowSample], method: Method, steps: Steps
) -> Iterator[FrameResult]:
    """The shared stage of flow-based sources, at the working size (labels not yet full-size:
    `full_size` does that): linking, smoothing, motion models, background, absorption,
    background first."""
    entry = method.entry
    chunk = None
    if entry.input == "flow-volume":
        chunk = volume_shape(entry, steps.chunk, steps.chunk_overlap)
    predictions = predict_stream(samples, method, steps.batch_size, steps.linking, chunk)
    if chunk is not None and (chunk[1] < chunk[0] or chunk[0] == 0):
        # linked on the frames that the volumes share (`volume_stream`), or one volume
        linked = predictions
    else:
        link = Linker(method=steps.linking)
        linked = ((s, link(m)) for s, m in predictions)
    # blocks hold whole cuts of the background choice (`background_layers`' cut): a block's
    # frames are in memory together, so a cut of N frames holds at least N
    cut = steps.foreground_cut
    block_size = cut * -(-steps.batch_size // cut)
    for block, soft in smooth_stream(linked, steps.temporal_radius, block_size):
        flows = torch.stack([s.flow for s in block])
        soft, theta = _layers(soft, flows, steps)
        areas = labels_to_masks(masks_to_labels(soft), soft.shape[1]).mean((-2, -1)).numpy()
        for t, sample in enumerate(block):
            yield FrameResult(
                sample.index,
                sample.stem,
                labels=np.zeros(0, np.uint8),  # filled by full_size
                theta=theta[t].double().numpy(),
                areas=areas[t],
                soft=soft[t],
                flow=sample.flow,
                frame=sample.frame,
                size=sample.size,
            )


def _layers(
    soft: torch.Tensor, flows: torch.Tensor, steps: Steps
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft masks ``(n, K, h, w)`` reordered background first, and each layer's model
    ``(n, K, 2, J)`` (fitted on the final labels)."""
    count = soft.shape[1]
    first = labels_to_masks(masks_to_labels(soft), count)
    theta = fit(flows, first, MOTION_MODEL, "l1")
    labels = masks_to_labels(soft)
    if steps.foreground_rule == SALIENCY_RULE:
        soft, background = _salient(soft, labels, flows, steps.saliency_model)
    else:
        background = background_layers(
            labels, steps.foreground_rule, flows, theta, MOTION_MODEL, cut=steps.foreground_cut
        )
        soft = absorb_explained(soft, background, flows, theta, MOTION_MODEL, steps.explained_ratio)
    final = labels_to_masks(masks_to_labels(soft), count)
    changed = (final != first).flatten(1).any(1)
    if changed.any():  # motion.json describes the layers as written
        theta[changed] = fit(flows[changed], final[changed], MOTION_MODEL, "l1")
    order = background_first_order(background, count)
    soft = soft.gather(1, order[:, :, None, None].expand_as(soft))
    theta = theta.gather(1, order[:, :, None, None].expand_as(theta))
    return soft, theta


def _salient(
    soft: torch.Tensor, labels: torch.Tensor, flows: torch.Tensor, model: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The saliency rule (`motionlayers.methods.nims.salient_layers`): soft masks whose
    non-salient regions are one-hot on the background, and the background ``(n,)``. No
    absorption follows: the classifier's relevance has already judged every region."""
    from motionlayers.methods.nims import salient_layers, shipped_scorer

    salient, background = salient_layers(labels, flows, shipped_scorer(model))
    demoted = (salient != labels).unsqueeze(1)
    onehot = torch.nn.functional.one_hot(background, soft.shape[1]).to(soft)
    return torch.where(demoted, onehot[:, :, None, None], soft), background


def background_first_order(background: torch.Tensor, count: int) -> torch.Tensor:
    """``(T, K)`` int64: per frame, the layer order that puts ``background (T,)`` first and
    keeps the other layers in their order."""
    layers = torch.arange(count, device=background.device).expand(len(background), count)
    rank = torch.where(layers == background[:, None], -1, layers)  # the background sorts first
    return rank.argsort(dim=1, stable=True)


def full_size(result: FrameResult, steps: Steps) -> FrameResult:
    """``result`` with its labels at the input's resolution: its soft masks upsampled,
    boundaries snapped to its frame, foreground refined (`motionlayers.postprocess.frame_labels`;
    flows have no frame: neither snapped nor refined by colour)."""
    assert result.soft is not None
    has_frame = result.frame is not None
    result.labels = frame_labels(
        result.soft,
        *result.size,
        result.frame,
        steps.snap_radius if has_frame else 0.0,
        0,
        steps.colour_weight if has_frame else 0.0,
        steps.border_limit,
        steps.hole_fraction,
    )
    return result


T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    function: Callable[[T], R], items: Iterable[T], threads: int, chunk: int = 16
) -> Iterator[R]:
    """``function`` of each item, in order, by ``threads`` threads, ``chunk`` items at a time:
    the items of a chunk are drawn first (this runs the upstream stages: flow, network,
    fitting, whose torch and OpenCV threads use every core), then mapped by the pool. The two
    phases alternate instead of overlapping: measured on 854x480, overlapping them made
    torch's worker threads and the pool's compete for the two cores (670 ms per frame against
    130 ms with one thread), alternating them is faster than one thread. Memory: ``chunk``
    items at most."""
    if threads <= 1:
        yield from map(function, items)
        return
    iterator = iter(items)
    with ThreadPoolExecutor(threads) as pool:
        while True:
            batch = list(itertools.islice(iterator, chunk))
            if not batch:
                return
            yield from pool.map(function, batch)


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "FULL_SIZE_THREADS",
    "MOTION_MODEL",
    "FrameResult",
    "Steps",
    "background_first_order",
    "batches",
    "full_size",
    "layered_frames",
    "ordered_map",
    "predict_stream",
    "smooth_stream",
    "volume_shape",
    "volume_stream",
]
