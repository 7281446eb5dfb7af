"""The grid search behind the ``dis-fine`` preset (`motionlayers.defaults.DIS_FINE_SETTINGS`).

DIS medium with overrides (patch size 8/12, stride 3/4, finest scale 0/1, variational iterations
5/10/20, gradient-descent iterations 16/25) on layered pairs of `generate_sequence` (seeds
``(7001, i)`` at 384x672, the working size times `FLOW_OVERSAMPLING`, and ``(7002, i)`` at
128x224) and on Middlebury Grove3. Not DAVIS, and not the held-out sets of
``flow_accuracy.py``. EPE is the mean over the pairs; time is the least over ``--repeats``
interleaved passes over the first four pairs (the least disturbed by other processes).

Run: ``python benchmarks/dis_grid.py [--pairs 8] [--repeats 3] [--only 8/4/0/5/16,...]``
"""

from __future__ import annotations

import argparse
import itertools
import time

import cv2
import numpy as np

from flow_accuracy import grove3  # benchmarks/ is on the path of a script run from it
from motionlayers.data.layered import SynthConfig, generate_sequence
from motionlayers.flow import DISBackend

KEYS = ("patch_size", "patch_stride", "finest_scale", "variational_iterations",
        "gradient_descent_iterations")  # fmt: skip
GRID = list(itertools.product([8, 12], [3, 4], [0, 1], [5, 10, 20], [16, 25]))


def pairs(height: int, width: int, count: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """``(grey0, grey1, flow (H, W, 2))`` of ``count`` generated scenes."""
    out: list[tuple[np.ndarray, ...]] = []
    for index in range(count):
        scene = generate_sequence(SynthConfig(height, width), 1, (seed, index), images=True)
        assert scene.frames is not None
        grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in scene.frames]
        out.append((grey[0], grey[1], scene.flow[:, 0].transpose(1, 2, 0)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=8, help="pairs at 384x672 (2x at 128x224)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="configurations P/S/F/V/G, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    sets = {"384x672": pairs(384, 672, args.pairs, 7001),
            "128x224": pairs(128, 224, 2 * args.pairs, 7002)}  # fmt: skip
    sets["grove3"] = [
        tuple(cv2.cvtColor(p[k], cv2.COLOR_BGR2GRAY) for k in ("frame0", "frame1")) + (p["flow"],)
        for p in grove3()
    ]
    grid = (
        [tuple(int(v) for v in c.split("/")) for c in args.only.split(",")] if args.only else GRID
    )
    backends = {"medium": DISBackend("medium"), "fast": DISBackend("fast")}
    backends |= {"/".join(map(str, c)): DISBackend("medium", **dict(zip(KEYS, c))) for c in grid}
    times = {name: {s: float("inf") for s in sets} for name in backends}
    for _ in range(args.repeats):
        for name, backend in backends.items():
            for s, items in sets.items():
                start = time.perf_counter()
                for grey0, grey1, _ in items[:4]:
                    backend(grey0, grey1)
                ms = 1000 * (time.perf_counter() - start) / len(items[:4])
                times[name][s] = min(times[name][s], ms)
    print("| P/S/F/V/G | " + " | ".join(f"{s} EPE | ms" for s in sets) + " |")
    print("|---|" + "---:|---:|" * len(sets))
    for name, backend in backends.items():
        cells = []
        for s, items in sets.items():
            epe = np.mean([np.linalg.norm(backend(a, b) - f, axis=2).mean() for a, b, f in items])
            cells.append(f"{epe:.3f} | {times[name][s]:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
