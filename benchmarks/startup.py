"""Start-up time of the ``motionlayers`` command against ``python -c "import torch"``.

Each command runs as a fresh process, as a user types it, ``--repeats`` times; the commands take
turns within each round, so that a change in the machine's load falls on all of them alike. The
times are wall-clock seconds of the whole process (interpreter start, imports, work, exit):

- ``python -c pass``: the interpreter alone;
- ``python -c "import torch"``: the floor of any command that computes something;
- ``motionlayers --help`` and ``motionlayers segment --help``: parsers only (no torch);
- ``motionlayers segment --working-size 5x5``: an argument error (no torch);
- ``motionlayers segment CLIP -o OUT``: a whole run on a 3-frame 64x48 clip written beforehand
  (torch, OpenCV, Lightning and the shipped EM model are loaded; the work itself is small).

    PYTHONPATH=src .venv/bin/python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def motionlayers_command() -> list[str]:
    """The ``motionlayers`` script beside this interpreter (what a user runs), else ``-m``."""
    script = Path(sys.executable).with_name("motionlayers")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "motionlayers.cli.main"]


def write_clip(folder: Path, frames: int = 3, height: int = 48, width: int = 64) -> Path:
    """``frames`` PNGs of a textured background panning under a moving square."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (height + 2 * frames, width, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)
    for t in range(frames):
        image = texture[2 * t : 2 * t + height].copy()
        image[10:24, 6 + 3 * t : 20 + 3 * t] = 255 - image[10:24, 6 + 3 * t : 20 + 3 * t]
        cv2.imwrite(str(folder / f"{t:05d}.png"), image)
    return folder


def timed(argv: list[str], expect: int) -> float:
    """Wall-clock seconds of one run of ``argv``, which must exit with ``expect``."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(
            f"{' '.join(argv)}: exit {done.returncode}, expected {expect}\n{done.stderr}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command")
    args = parser.parse_args()
    tool = motionlayers_command()
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "clip")
        out = Path(tmp) / "out"
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], 0),
            'python -c "import torch"': ([sys.executable, "-c", "import torch"], 0),
            "motionlayers --help": ([*tool, "--help"], 0),
            "motionlayers segment --help": ([*tool, "segment", "--help"], 0),
            "motionlayers segment CLIP -o OUT --working-size 5x": (
                [*tool, "segment", str(clip), "-o", str(out), "--working-size", "5x"],
                1,
            ),
            "motionlayers segment CLIP -o OUT (3 frames, 64x48)": (
                [*tool, "segment", str(clip), "-o", str(out), "--no-progress"],
                0,
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, (argv, expect) in commands.items():
                times[name].append(timed(argv, expect))
    torch_time = statistics.median(times['python -c "import torch"'])
    print(f"{args.repeats} runs each, {os.cpu_count()} CPUs, {sys.version.split()[0]}\n")
    print("| command | median (s) | min (s) | / import torch |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {min(values):.3f} | {median / torch_time:.2f}x |")


if __name__ == "__main__":
    main()
