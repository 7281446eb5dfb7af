"""Datasets at scale: a folder of sequences (DAVIS ``JPEGImages/480p/<seq>/``) or of videos,
segmented into ``OUT/<sequence>/`` each (what ``motionlayers evaluate`` reads).

Every sequence is checked before anything is written (one error lists every bad sequence).
Then, on one machine, ``workers`` processes take the sequences in turn
(`concurrent.futures.ProcessPoolExecutor`, spawned: no forked torch state); past one machine,
Lightning's ``Trainer.predict`` runs them on ``devices`` x ``num_nodes`` with its ``strategy``
(``ddp``), each rank taking every n-th sequence. A sequence is one output folder written
atomically by `segment_source`, so the split and the merge need no coordination: the result is
read back from each ``OUT/<sequence>/motion.json``.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from motionlayers.errors import InputError
from motionlayers.io.frames import IMAGE_EXTENSIONS
from motionlayers.io.listing import natural_key
from motionlayers.pipeline.sources import FLOW_FILE_SUFFIXES, VIDEO_SUFFIXES


def dataset_items(source: Path) -> list[tuple[str, Path]]:
    """``(name, path)`` of the sequences of a dataset folder, in natural order: sub-folders
    holding frames or flow files, and video files (named by their stem).

    Raises:
        InputError: two sequences with one name (``a.mp4`` and ``a/``).
    """
    inner = set(IMAGE_EXTENSIONS + FLOW_FILE_SUFFIXES)
    items: dict[str, Path] = {}
    for path in sorted(source.iterdir(), key=lambda p: natural_key(p.name)):
        if path.name.startswith("."):
            continue
        if path.is_dir() and any(f.suffix.lower() in inner for f in path.iterdir()):
            name = path.name
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            name = path.stem
        else:
            continue
        if name in items:
            raise InputError(source, f"two sequences are named {name!r}: {items[name]}, {path}")
        items[name] = path
    return list(items.items())


def check_items(items: list[tuple[str, Path]]) -> None:
    """Raise one `InputError` listing every sequence that cannot be segmented (fewer than two
    frames, an unreadable video), before anything is written."""
    from motionlayers.io import frame_count
    from motionlayers.pipeline.sources import flow_files

    problems = []
    for name, path in items:
        if path.is_dir() and flow_files(path):
            continue
        try:
            count = frame_count(path)
        except InputError as error:
            problems.append(f"{name}: {error}")
            continue
        if count is not None and count < 2:
            problems.append(f"{name}: {count} frame(s), needs at least two")
    if problems:
        raise InputError("dataset", "cannot segment " + "; ".join(problems))


@dataclass
class DatasetResult:
    """What `segment_dataset` wrote: ``sequences`` (names), ``frames`` per sequence."""

    output: Path
    method: str
    sequences: list[str]
    frames: list[int]
    seconds: float
    areas: np.ndarray
    background: np.ndarray
    size: tuple[int, int]

    def as_result(self) -> Any:
        from motionlayers.pipeline.segmentation import SegmentResult

        return SegmentResult(
            self.output,
            self.method,
            sum(self.frames),
            self.size,
            self.seconds,
            self.areas,
            self.background,
            kind="dataset",
            sequences=len(self.sequences),
        )


def _segment_one(item: tuple[str, Path], out: Path, options: dict[str, Any]) -> str:
    from motionlayers.pipeline.segmentation import segment_source

    name, path = item
    try:
        segment_source(path, out / name, **options)
    except InputError as error:
        raise InputError(name, str(error)) from None
    return name


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def segment_dataset(
    source: Path,
    out: Path,
    *,
    method: str | None = None,
    workers: int | None = None,
    devices: int | str | None = None,
    strategy: str | None = None,
    num_nodes: int | None = None,
    **options: Any,
) -> DatasetResult:
    """Segment every sequence of ``source`` into ``out/<name>/`` (see the module doc);
    ``options`` are those of `motionlayers.pipeline.segmentation.segment_source`."""
    start = time.perf_counter()
    items = dataset_items(source)
    if not items:
        raise InputError(source, "holds no sequence (sub-folders of frames, or videos)")
    check_items(items)
    workers = 1 if workers is None else workers
    if not 1 <= workers <= 256:
        raise InputError("--workers", f"must be in [1, 256], got {workers}")
    progress = options.get("progress", True)
    each = {**options, "method": method, "progress": progress and workers == 1}
    if devices is not None or strategy is not None or num_nodes is not None:
        _lightning_predict(items, out, each, devices, strategy, num_nodes, progress)
    elif workers == 1:
        for item in tqdm(items, desc="sequences", unit="seq", disable=not progress):
            _segment_one(item, out, each)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(
            workers, get_context("spawn"), initializer=_limit_threads, initargs=(threads,)
        ) as pool:
            futures = [pool.submit(_segment_one, item, out, each) for item in items]
            bar = tqdm(total=len(items), desc="sequences", unit="seq", disable=not progress)
            try:
                for future in futures:
                    future.result()  # the first failure stops the run, naming its sequence
                    bar.update()
            finally:
                for future in futures:
                    future.cancel()
                bar.close()
    return _merge(items, out, method, time.perf_counter() - start)


def _merge(
    items: list[tuple[str, Path]], out: Path, method: str | None, seconds: float
) -> DatasetResult:
    """The dataset's result, read back from each sequence's motion.json (whichever process
    wrote it)."""
    frames, areas, background, size = [], [], [], (0, 0)
    for name, _ in items:
        record = json.loads((out / name / "motion.json").read_text())
        frames.append(len(record["frames"]))
        areas += [[layer["area"] for layer in f["layers"]] for f in record["frames"]]
        background += [f["background"] for f in record["frames"]]
        size = tuple(record.get("input_size") or size)  # type: ignore[assignment]
        method = method or record["method"]
    return DatasetResult(
        out,
        str(method),
        [n for n, _ in items],
        frames,
        seconds,
        np.array(areas),
        np.array(background),
        size,
    )


def _lightning_predict(
    items: list[tuple[str, Path]],
    out: Path,
    options: dict[str, Any],
    devices: int | str | None,
    strategy: str | None,
    num_nodes: int | None,
    progress: bool,
) -> None:
    """Lightning's ``Trainer.predict`` over the sequences (`motionlayers.pipeline.distributed`)."""
    import lightning as L
    from torch.utils.data import DataLoader

    from motionlayers.pipeline.distributed import RankSplit, SequenceSegmenter

    trainer = L.Trainer(
        accelerator="cpu" if options.get("device", "cpu") == "cpu" else "auto",
        devices=devices if devices is not None else 1,
        strategy=strategy or "auto",
        num_nodes=num_nodes or 1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    loader = DataLoader(RankSplit(items), batch_size=None, shuffle=False)
    trainer.predict(SequenceSegmenter(out, options), loader, return_predictions=False)


__all__ = ["DatasetResult", "check_items", "dataset_items", "segment_dataset"]
