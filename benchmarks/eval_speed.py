"""Time ``motionlayers evaluate`` end to end on a synthetic DAVIS-sized split.

Writes, in a temporary folder, 20 sequences with the frame counts of the DAVIS-2016 validation
set (1376 frames, 854 x 480): ground truth as binary 0/255 PNGs (a moving ellipse plus random
blobs) and predictions as indexed label PNGs with three layers (the ground truth shifted, eroded
or dilated, plus spurious blobs as a second foreground layer). Then runs the ``evaluate``
command (argument parsing, reading, scoring, printing, writing the CSV/JSON files) and prints
frames per second and the total time. Data generation is not timed.

Usage:
    PYTHONPATH=src python benchmarks/eval_speed.py [--protocol davis16] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from motionlayers.cli import evaluate as evaluate_command
from motionlayers.io.masks import write_mask

DAVIS16_VAL_LENGTHS = (
    50,
    80,
    84,
    90,
    75,
    40,
    104,
    90,
    60,
    52,
    50,
    90,
    50,
    50,
    49,
    40,
    80,
    100,
    43,
    99,
)


def blob_masks(rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    """``(T, H, W)`` uint8 {0, 1}: an ellipse moving along a line, plus a few random blobs."""
    masks = np.zeros((frames, height, width), dtype=np.uint8)
    start = rng.uniform([0.3 * width, 0.3 * height], [0.7 * width, 0.7 * height])
    velocity = rng.uniform(-3, 3, size=2)
    axes = rng.uniform([40, 30], [160, 120]).astype(int)
    for t in range(frames):
        cx, cy = (start + t * velocity).astype(int)
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(masks[t], (int(cx), int(cy)), tuple(int(a) for a in axes), angle, 0, 360, 1, -1)
        for _ in range(int(rng.integers(0, 3))):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.circle(masks[t], centre, int(rng.integers(5, 30)), 1, -1)
    return masks


def perturb(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    """A three-layer prediction of one frame: 1 = perturbed object, 2 = spurious blobs."""
    dx, dy = rng.integers(-6, 7, size=2)
    shifted = np.roll(gt, (int(dy), int(dx)), axis=(0, 1))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    op = cv2.erode if rng.random() < 0.5 else cv2.dilate
    pred = op(shifted, kernel).astype(np.uint8)
    labels = pred.copy()
    for _ in range(int(rng.integers(0, 4))):
        centre = (int(rng.integers(0, gt.shape[1])), int(rng.integers(0, gt.shape[0])))
        cv2.circle(labels, centre, int(rng.integers(5, 40)), 2, -1)
    return labels


def make_split(root: Path, lengths: tuple[int, ...], height: int, width: int, seed: int) -> int:
    """Write ``root/gt`` and ``root/pred``; return the number of frames."""

    def sequence(index: int) -> int:
        rng = np.random.default_rng(seed + index)
        name = f"seq{index:02d}"
        gt_dir, pred_dir = root / "gt" / name, root / "pred" / name
        gt_dir.mkdir(parents=True)
        pred_dir.mkdir(parents=True)
        masks = blob_masks(rng, lengths[index], height, width)
        for t, mask in enumerate(masks):
            cv2.imwrite(str(gt_dir / f"{t:05d}.png"), mask * 255)
            write_mask(pred_dir / f"{t:05d}.png", perturb(rng, mask))
        return len(masks)

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return sum(pool.map(sequence, range(len(lengths))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", default="davis16")
    parser.add_argument("--selection", default="nonzero")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", action="store_true", help="print the evaluation table")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="eval_speed_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        frames = make_split(root, DAVIS16_VAL_LENGTHS, args.height, args.width, args.seed)
        print(
            f"generated {frames} frames {args.width}x{args.height} in "
            f"{time.perf_counter() - t0:.1f} s (not timed)"
        )

        cli = argparse.ArgumentParser(prog="motionlayers")
        evaluate_command.register(cli.add_subparsers(dest="command"))
        argv_eval = [
            "evaluate",
            str(root / "pred"),
            str(root / "gt"),
            "--protocol",
            args.protocol,
            "--selection",
            args.selection,
            "-o",
            str(root / "out"),
        ]
        if args.workers:
            argv_eval += ["--workers", str(args.workers)]
        parsed = cli.parse_args(argv_eval)
        printed = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
            code = parsed.func(parsed)
        elapsed = time.perf_counter() - start
        if args.show:
            print(printed.getvalue())
        overall = [line for line in printed.getvalue().splitlines() if line.startswith("Overall")]
        print(overall[0] if overall else "(no overall line)")
        print(
            f"evaluate --protocol {args.protocol}: {frames} frames in {elapsed:.2f} s "
            f"({frames / elapsed:.1f} frames/s, {os.cpu_count()} CPUs, exit code {code})"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
