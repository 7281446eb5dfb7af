"""Peak memory of ``motionlayers segment`` against the length of the video (issue: bounded memory).

Writes synthetic 854x480 videos (a textured background panning, two textured objects moving
their own ways) of each length, segments each with the default settings in a fresh process, and
prints that process's peak resident set size (``ru_maxrss``), the time per frame, and the ratio
to the shortest video. With ``--api`` it also measures the Python API on the shortest clip:
`motionlayers.iter_segment` (streams) and `motionlayers.segment` (keeps every frame's labels,
so its memory grows with the video by design).

    PYTHONPATH=src .venv/bin/python benchmarks/segment_memory.py --frames 100 2000 --api
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

SIZE = (480, 854)
CHILD = """
import json, resource, sys, time
kind, video, out = sys.argv[1:4]
start = time.perf_counter()
if kind == "cli":
    from motionlayers.cli.main import main
    code = main(["segment", video, "-o", out, "--no-progress"])
    assert code == 0
    frames = None
else:
    import motionlayers
    if kind == "iter":
        frames = sum(1 for _ in motionlayers.iter_segment(video, progress=False))
    else:
        frames = len(motionlayers.segment(video, progress=False))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
print(json.dumps({"seconds": seconds, "peak_mib": peak, "frames": frames}))
"""


def write_video(path: Path, count: int, seed: int = 0) -> Path:
    """``count`` frames of 854x480: a smooth texture panning right by 2 px per frame, a bright
    textured disc moving down-right and a dark square moving left."""
    rng = np.random.default_rng(seed)
    height, width = SIZE
    texture = cv2.GaussianBlur(
        rng.random((height, width + 2 * count + 8)).astype(np.float32), (0, 0), 3
    )
    texture = np.clip((texture - texture.mean()) * 6 + 0.5, 0, 1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25, (width, height))
    yy, xx = np.mgrid[:height, :width]
    for t in range(count):
        grey = texture[:, 2 * t : 2 * t + width]
        frame = np.repeat((grey * 200)[..., None], 3, axis=2).astype(np.uint8)
        cx, cy = 150 + (3 * t) % 500, 120 + (t % 200)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 60**2
        frame[disc] = (grey[disc, None] * 120 + 120).astype(np.uint8)
        sx = 700 - (4 * t) % 600
        frame[300:380, sx : sx + 80] = (grey[300:380, sx : sx + 80, None] * 60).astype(np.uint8)
        writer.write(frame)
    writer.release()
    return path


def measure(kind: str, video: Path, out: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(video), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 2000])
    parser.add_argument("--api", action="store_true", help="also the Python API on the shortest")
    args = parser.parse_args()
    lengths = sorted(args.frames)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for count in lengths:
            video = write_video(tmp / f"clip{count}.mp4", count)
            figures = measure("cli", video, tmp / f"out{count}")
            rows.append((f"motionlayers segment, {count} frames", count, figures))
            print(
                f"{rows[-1][0]}: peak {figures['peak_mib']:.0f} MiB, "
                f"{1000 * figures['seconds'] / count:.1f} ms/frame",
                flush=True,
            )
        if args.api:
            video = tmp / f"clip{lengths[0]}.mp4"
            for kind, label in (("iter", "iter_segment"), ("whole", "segment")):
                figures = measure(kind, video, tmp / "unused")
                rows.append((f"motionlayers.{label}, {lengths[0]} frames", lengths[0], figures))
                print(
                    f"{rows[-1][0]}: peak {figures['peak_mib']:.0f} MiB, "
                    f"{1000 * figures['seconds'] / lengths[0]:.1f} ms/frame",
                    flush=True,
                )
    base = rows[0][2]["peak_mib"]
    print("\n| run | peak RSS (MiB) | vs shortest CLI run | ms/frame |\n|---|---:|---:|---:|")
    for label, count, figures in rows:
        print(
            f"| {label} | {figures['peak_mib']:.0f} | {figures['peak_mib'] / base:.2f}x | "
            f"{1000 * figures['seconds'] / count:.1f} |"
        )


if __name__ == "__main__":
    main()
