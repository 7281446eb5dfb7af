"""LT-MS's network: frames per second by clip length, and peak memory of a whole-video pass.

Speed (same process, shipped LT-MS model, 128x224 random flows, median of ``--repeats``):
volumes of the training length (T = 9) at batch 1 and 4, the pipeline's default chunks (12 flows
giving 10 frames' masks), and whole clips of ``--lengths`` flows in one pass; the ST-MS network
(one triplet per frame, batch 8) is the baseline of the ratios.

Memory: each whole-clip pass runs in a fresh process that first loads the model and runs a
one-frame clip (its peak resident set is the baseline), then segments a clip of T flows; the
table gives the peak resident set size (``ru_maxrss``) and its growth over the baseline.

    PYTHONPATH=src .venv/bin/python benchmarks/lt_network.py --lengths 9 30 100 300 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from motionlayers.methods import get_method

CHILD = """
import json, resource, sys, torch
torch.set_num_threads(int(sys.argv[3]))
from motionlayers.methods import get_method
method = get_method("lt", layers=int(sys.argv[2]))
method(torch.randn(1, 2, 1, 128, 224))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
method(torch.randn(1, 2, int(sys.argv[1]), 128, 224) * 3)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024}))
"""


def frames_per_second(method, shape: tuple[int, ...], frames: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Masks of ``frames`` frames per call of ``method`` on random volumes ``shape``."""
    flow = torch.randn(shape) * 3
    method(flow)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        method(flow)
        times.append(time.perf_counter() - start)
    return frames / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[9, 30, 100])
    parser.add_argument("--layers", type=int, default=4, help="K of the shipped models")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lt = get_method("lt", layers=args.layers)
    st = get_method("st", layers=args.layers)
    size = (128, 224)
    rows = [("ST-MS, triplets, batch 8", frames_per_second(st, (8, 2, 3, *size), 8, args.repeats))]
    rows.append(("LT-MS, T = 9, batch 1", frames_per_second(lt, (1, 2, 9, *size), 9, args.repeats)))
    rows.append(
        ("LT-MS, T = 9, batch 4", frames_per_second(lt, (4, 2, 9, *size), 36, args.repeats))
    )
    rows.append(
        (
            "LT-MS, chunks of 12 for 10, batch 8",
            frames_per_second(lt, (8, 2, 12, *size), 80, args.repeats),
        )
    )
    for length in args.lengths:
        fps = frames_per_second(lt, (1, 2, length, *size), length, args.repeats)
        rows.append((f"LT-MS, whole clip of {length}", fps))
    base = rows[0][1]
    print(f"K = {args.layers}, 128x224, {args.threads} CPU thread(s), median of {args.repeats}\n")
    print("| network | frames/s | speed vs ST-MS |")
    print("|---|---:|---:|")
    for name, fps in rows:
        print(f"| {name} | {fps:.1f} | {fps / base:.2f}x |")
    if args.no_memory:
        return 0
    print("\n| whole-clip pass, T flows | peak RSS (MB) | over the model's baseline (MB) |")
    print("|---:|---:|---:|")
    for length in args.lengths:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(length), str(args.layers), str(args.threads)],
            check=True,
            capture_output=True,
            text=True,
        )
        memory = json.loads(out.stdout.strip().splitlines()[-1])
        growth = memory["peak_mb"] - memory["base_mb"]
        print(f"| {length} | {memory['peak_mb']:.0f} | {growth:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
