"""Datasets at scale: a folder of sequences (DAVIS ``JPEGImages/480p/<seq>/``, or sub-folders of
flow files) or of videos, segmented into ``OUT/<sequence>/`` each (what ``motionlayers
evaluate`` reads), by `segment_source` once per sequence.

1. `dataset_items` lists the sequences; `check_items` checks each one cheaply, so that a bad
   sequence fails before anything is written, in one error that lists them all.
2. The sequences run in this process (``workers=1``), in ``workers`` spawned processes on this
   machine (`concurrent.futures.ProcessPoolExecutor`: no forked torch or OpenCV state), or past
   one machine in Lightning's ``Trainer.predict`` over ``devices`` x ``num_nodes`` ranks with its
   ``strategy`` (`motionlayers.pipeline.dataset_ranks`), each rank taking every n-th sequence.
3. A sequence that fails while running does not stop the others: they are written, and then one
   error names every failed sequence (a long run keeps its work; `check_items` has already
   caught the failures that would otherwise repeat on every sequence).
4. Each sequence is one output folder written atomically by `segment_source`, so the split needs
   no coordination, and the result (`DatasetResult`) is read back from each
   ``OUT/<sequence>/motion.json``, whichever process wrote it.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from motionlayers.errors import InputError
from motionlayers.io.frames import IMAGE_EXTENSIONS
from motionlayers.io.listing import natural_key

Item = tuple[str, Path]
"""A sequence: its name (the output folder's) and its folder or video file."""
MAX_WORKERS = 256
T = TypeVar("T")


def dataset_items(source: str | Path) -> list[Item]:
    """``(name, path)`` of each sequence of a dataset folder, in natural order (``seq2`` before
    ``seq10``): sub-folders holding frames or flow files (named by the folder; hidden ones and
    folders holding neither are skipped) and video files (named by their stem).

    Empty when ``source`` is not a dataset: a file, a missing path, or a folder holding frames or
    flow files of its own (one sequence, even if videos lie beside them).

    Raises:
        InputError: two sequences with one name (``a.mp4`` and ``a/``), both named.
    """
    from motionlayers.pipeline.sources import VIDEO_SUFFIXES, holds_sequence, is_dataset

    source = Path(source)
    if not is_dataset(source):
        return []
    items: dict[str, Path] = {}
    for path in sorted(source.iterdir(), key=lambda p: natural_key(p.name)):
        if path.name.startswith("."):
            continue
        if holds_sequence(path):
            name = path.name
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            name = path.stem
        else:
            continue
        if name in items:
            raise InputError(
                source,
                f"two sequences are named {name!r}: {items[name].name} and {path.name} "
                "(their outputs would be one folder); rename one",
            )
        items[name] = path
    return list(items.items())


def check_items(items: Sequence[Item]) -> None:
    """Check every sequence cheaply, before anything is written: a folder holds at least two
    frames or one flow file (not both kinds), a video opens, decodes its first frame and has at
    least two. Frames are not decoded past that.

    Raises:
        InputError: one error listing each bad sequence with its problem.
    """
    problems = [(name, _problem(path)) for name, path in items]
    bad = [f"{name}: {problem}" for name, problem in problems if problem]
    if bad:
        raise InputError(
            items[0][1].parent,
            f"{len(bad)} of {len(items)} sequences cannot be segmented (nothing was written): "
            + "; ".join(bad),
        )


def _problem(path: Path) -> str | None:
    """What is wrong with one sequence, or None."""
    return _folder_problem(path) if path.is_dir() else _video_problem(path)


def _folder_problem(path: Path) -> str | None:
    from motionlayers.io import list_frames
    from motionlayers.pipeline.sources import flow_files

    flows = flow_files(path)
    frames = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if flows and frames:
        return f"holds both flow files ({flows[0].name}) and frames ({frames[0].name})"
    if flows:
        return None
    try:
        count = len(list_frames(path))
    except InputError as error:  # e.g. two frames with one stem
        return error.problem
    return None if count >= 2 else f"{count} frame, needs at least two"


def _video_problem(path: Path) -> str | None:
    import cv2

    from motionlayers.io.frames import open_video, read_video_frame

    capture = open_video(path)
    try:
        if not capture.isOpened():
            return "cannot be opened as a video"
        if not read_video_frame(capture)[0]:
            return "holds no readable frame"
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:  # no announced count: is there a second frame?
            count = 2 if read_video_frame(capture)[0] else 1
    finally:
        capture.release()
    return None if count >= 2 else f"{count} frame, needs at least two"


@dataclass(frozen=True)
class SequenceFailure:
    """A sequence that failed while it ran: ``message``; ``input_error`` when it was an
    `InputError` (a bad input) rather than a bug, whose ``trace`` is kept. Plain strings, so
    that it crosses process boundaries (an `InputError` does not unpickle: its constructor
    takes two arguments)."""

    name: str
    message: str
    input_error: bool = True
    trace: str = ""


def segment_item(item: Item, out: Path, options: dict[str, Any]) -> SequenceFailure | None:
    """Segment one sequence into ``out/<name>/`` (`segment_source` with ``options``); its
    failure is returned, not raised, so that the other sequences go on."""
    from motionlayers.pipeline.segmentation import segment_source

    name, path = item
    try:
        segment_source(path, out / name, **options)
    except InputError as error:
        return SequenceFailure(name, str(error))
    except Exception as error:  # a bug: kept with its traceback, reported after the others
        trace = traceback.format_exc()
        return SequenceFailure(name, f"{type(error).__name__}: {error}", False, trace)
    return None


def rank_share(items: Sequence[T], rank: int, world: int) -> list[T | None]:
    """The items of rank ``rank`` of ``world``: ``rank, rank + world, ...``, padded with None
    to ``ceil(len(items) / world)`` entries, so that every rank runs the same number of steps
    (a rank without a step would skip the collective at the end and hang the others) and every
    item belongs to exactly one rank (Lightning's DistributedSampler pads with repeated items
    instead: a sequence written twice, concurrently)."""
    share: list[T | None] = list(items[rank::world])
    steps = -(-len(items) // world)
    return share + [None] * (steps - len(share))


@dataclass
class SequenceResult:
    """One sequence as its ``motion.json`` records it: ``frames``, the input's ``size (H, W)``,
    ``areas (T, K)`` layer area fractions and ``background (T,)`` each frame's background."""

    name: str
    output: Path
    frames: int
    size: tuple[int, int]
    areas: np.ndarray = field(repr=False)
    background: np.ndarray = field(repr=False)


@dataclass
class DatasetResult:
    """What `segment_dataset` wrote: ``sequences`` (names, in the dataset's order), ``frames``
    in total, ``seconds`` of the whole run, ``results`` per sequence; ``rank`` is the process's
    global rank (0 but in a ``ddp`` rank, where every rank returns the result: print on 0)."""

    output: Path
    method: str
    sequences: list[str]
    frames: int
    seconds: float
    results: list[SequenceResult] = field(repr=False)
    rank: int = 0

    @property
    def areas(self) -> np.ndarray:
        """``(sum T, K)`` every frame's layer areas, zero for layers a sequence lacks."""
        layers = max(r.areas.shape[1] for r in self.results)
        padded = [np.pad(r.areas, ((0, 0), (0, layers - r.areas.shape[1]))) for r in self.results]
        return np.concatenate(padded)

    @property
    def background(self) -> np.ndarray:
        """``(sum T,)`` every frame's background label."""
        return np.concatenate([r.background for r in self.results])

    def summary(self) -> str:
        """A few lines for the terminal, as `SegmentResult.summary`'s."""
        sizes = sorted({r.size for r in self.results}, key=lambda s: (s[0] * s[1], s))
        size = " to ".join(f"{w}x{h}" for h, w in dict.fromkeys((sizes[0], sizes[-1])))
        areas, background = self.areas, self.background
        mean = ", ".join(f"{a:.2f}" for a in areas.mean(0))
        foreground = 1 - areas[np.arange(len(areas)), background].mean()
        rate = 1000 * self.seconds / max(self.frames, 1)
        return (
            f"segmented {len(self.sequences)} sequences, {self.frames} frames ({size}) with "
            f"{self.method} in {self.seconds:.1f} s ({rate:.0f} ms/frame)\n"
            f"mean layer areas: {mean}; mean foreground area: {foreground:.2f}\n"
            f"outputs in {self.output}"
        )

    def as_result(self) -> Any:
        """The run as one `SegmentResult` (kind ``dataset``; ``size`` the first sequence's)."""
        from motionlayers.pipeline.segmentation import SegmentResult

        return SegmentResult(
            self.output,
            self.method,
            self.frames,
            self.results[0].size,
            self.seconds,
            self.areas,
            self.background,
            kind="dataset",
            sequences=len(self.sequences),
            rank=self.rank,
        )


def segment_dataset(
    source: str | Path,
    out: str | Path,
    *,
    workers: int | None = 1,
    devices: int | str | list[int] | None = None,
    strategy: str | None = None,
    num_nodes: int | None = 1,
    progress: bool = True,
    **options: Any,
) -> DatasetResult:
    """Segment every sequence of the dataset ``source`` into ``out/<name>/`` (module doc).

    Args:
        source: a folder of sequences or of videos (`dataset_items`).
        out: the output folder; each sequence's outputs go to ``out/<name>/``.
        workers: processes on this machine (None: 1); each limits torch and OpenCV to
            ``cpu_count // workers`` threads.
        devices, strategy, num_nodes: any of them given (``num_nodes`` other than 1): Lightning
            ``Trainer.predict`` over ``devices`` per node (``"auto"``, a count, a list of GPU
            indices) with ``strategy`` (``"ddp"``, ``"ddp_spawn"``; None: ``"auto"``). GPUs are
            used when ``device`` is not ``"cpu"``; each rank then runs on its own.
        progress: a progress bar over the sequences (and over the frames with one process).
        options: passed to `segment_source` for every sequence (``method``, ``size``,
            ``flow_backend``, ...).

    Raises:
        InputError: not a dataset, bad sequences (`check_items`), bad run options, or the
            sequences that failed as they ran (after the others were written).
        RuntimeError: a sequence failed on a bug (its traceback is in the message).
    """
    from motionlayers.io.atomic import check_not_input

    start = time.perf_counter()
    source, out = Path(source), Path(out)
    workers = _count(workers, "--workers", MAX_WORKERS)
    nodes = _count(num_nodes, "--num-nodes", 10**6)
    lightning = devices is not None or strategy is not None or nodes != 1
    if lightning and workers != 1:
        raise InputError(
            "--workers",
            "runs processes on one machine; Lightning (--devices, --strategy, "
            "--num-nodes) runs one process per device instead",
        )
    items = dataset_items(source)
    if not items:
        raise InputError(
            source,
            "is not a folder of sequences (sub-folders of frames or flow files) or of videos",
        )
    check_items(items)
    check_not_input(out, [source])
    rank = 0
    if lightning:
        from motionlayers.pipeline.dataset_ranks import predict_sequences

        failures, rank = predict_sequences(
            items, out, {**options, "progress": False}, devices, strategy, nodes, progress
        )
    elif workers == 1:
        each = {**options, "progress": progress}
        bar = tqdm(items, desc="sequences", unit="seq", disable=not progress)
        failures = [f for f in (segment_item(item, out, each) for item in bar) if f is not None]
    else:
        failures = _pool(items, out, {**options, "progress": False}, workers, progress)
    raise_failures(source, failures, len(items))
    return merge(items, out, time.perf_counter() - start, rank)


def _count(value: int | None, flag: str, high: int) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InputError(flag, f"must be an integer in [1, {high}], got {value!r}")
    return value


def _limit_threads(threads: int) -> None:
    """A worker's initializer: its share of the cores, so that ``workers`` processes do not
    each start one thread per core (torch's and OpenCV's default)."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _pool(
    items: list[Item], out: Path, options: dict[str, Any], workers: int, progress: bool
) -> list[SequenceFailure]:
    """Segment ``items`` in ``workers`` spawned processes; the failures, in the items' order.
    An interruption (Ctrl-C) cancels the sequences not started."""
    workers = min(workers, len(items))
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        workers, get_context("spawn"), initializer=_limit_threads, initargs=(threads,)
    )
    failures: dict[str, SequenceFailure] = {}
    futures: dict[Future[SequenceFailure | None], str] = {}
    try:
        futures = {pool.submit(segment_item, item, out, options): item[0] for item in items}
        with tqdm(total=len(items), desc="sequences", unit="seq", disable=not progress) as bar:
            for future in as_completed(futures):
                failure = future.result()
                if failure is not None:
                    failures[failure.name] = failure
                bar.update()
    except BrokenProcessPool:  # a worker was killed (out of memory?): name what it held
        pool.shutdown(wait=False, cancel_futures=True)
        lost = [
            name
            for future, name in futures.items()
            if not future.done() or future.cancelled() or future.exception() is not None
        ]
        raise RuntimeError(
            f"a worker process died while segmenting one of: {', '.join(lost)} (out of memory? "
            "try fewer --workers)"
        ) from None
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [failures[name] for name, _ in items if name in failures]


def raise_failures(source: Path, failures: Sequence[SequenceFailure], total: int) -> None:
    """Raise one error naming every failed sequence: `InputError` when all were bad inputs,
    else `RuntimeError` with the first bug's traceback."""
    if not failures:
        return
    listed = "; ".join(f"{f.name}: {f.message}" for f in failures)
    what = f"{len(failures)} of {total} sequences failed (the others were written): {listed}"
    bugs = [f for f in failures if not f.input_error]
    if not bugs:
        raise InputError(source, what)
    raise RuntimeError(f"{source}: {what}\n{bugs[0].name}: {bugs[0].trace}")


def merge(items: Sequence[Item], out: Path, seconds: float, rank: int = 0) -> DatasetResult:
    """The run's `DatasetResult`, read back from each ``out/<name>/motion.json`` (complete
    across processes: whichever wrote it; ``frames`` = its number of frame records)."""
    results = []
    methods = []
    for name, _ in items:
        path = out / name / "motion.json"
        if not path.is_file():  # every run reports its failures: this is a lost sequence
            raise RuntimeError(f"{path}: missing after the run (a process stopped early?)")
        record = json.loads(path.read_text())
        frames = record["frames"]
        areas = np.array([[layer["area"] for layer in f["layers"]] for f in frames], np.float64)
        height, width = record.get("input_size") or (0, 0)
        results.append(
            SequenceResult(
                name,
                out / name,
                len(frames),
                (int(height), int(width)),
                areas.reshape(len(frames), -1),
                np.array([f["background"] for f in frames], np.int64),
            )
        )
        methods.append(str(record.get("method")))
    method = methods[0] if len(set(methods)) == 1 else ", ".join(sorted(set(methods)))
    return DatasetResult(
        out,
        method,
        [name for name, _ in items],
        sum(r.frames for r in results),
        seconds,
        results,
        rank,
    )


__all__ = [
    "DatasetResult",
    "Item",
    "SequenceFailure",
    "SequenceResult",
    "check_items",
    "dataset_items",
    "merge",
    "raise_failures",
    "rank_share",
    "segment_dataset",
    "segment_item",
]
