"""Event motion segmentation of a trained EV-LayerSegNet on held-out simulated sequences.

Trains nothing. Each sequence is a random layered scene (`motionlayers.data.events.
simulate_layered_scene`: a textured background and 1-2 objects with affine motions, events simulated
ESIM-style) on seeds far from the training ones; it is cut into consecutive windows of the model's
size (``events_per_pixel * W * H`` events, or ``--window-events``). Every window is segmented by one
forward pass (``--refine N``: then refined as ``motionlayers segment --refine N`` does, a
translation search and N motion-compensation EM iterations, twice) and scored on its event pixels
(`motionlayers.eval.events`): IoU after Hungarian matching of the predicted to the true layers (mean
over the true layers, and over the objects only), detection rate of the objects, and the end-point
error of the predicted layered flow against the true one, in pixels per window. Sequence scores are
window means.

Usage:
    python benchmarks/event_segmentation.py [CHECKPOINT] [--sequences 10] [--sensor-size 128x128]
        [--refine 0]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from motionlayers.data.events import label_events, simulate_layered_scene, window_item
from motionlayers.errors import InputError
from motionlayers.eval.events import event_pixels, layer_flow, majority_labels, score_event_window
from motionlayers.io.event_container import parse_sensor_size
from motionlayers.methods.evlayerseg import (
    DEFAULT_WEIGHTS,
    EVLayerSegMethod,
    load_evlayerseg_model,
)

FIRST_SEED = 900_000  # training scenes draw their seeds from a generator; these are fixed
KEYS = ("iou", "object_iou", "detection_rate", "epe")


def score_sequence(
    model: EVLayerSegMethod,
    seed: int,
    size: tuple[int, int],
    window_events: int,
    duration_ms: float,
    refine_iterations: int = 0,
) -> tuple[dict[str, float], int, int]:
    """Mean scores of one sequence's windows, its object count and its window count."""
    objects = 1 + seed % 2
    events, scene = simulate_layered_scene(seed, size, objects, duration_ms)
    width, height = size
    rows = []
    for window in events.window_by_count(window_events, drop_last=True):
        labels = label_events(window, scene.labels_at)
        item = window_item(
            window,
            model.hparams["representation"],
            int(model.hparams["bins"]),
            labels,
            scene.theta,
            len(scene.theta),
        )
        masks, theta = model.segment_window(window, refine_iterations)
        x, y = window.x, window.y
        gt = majority_labels(x, y, labels, height, width)
        pred = masks.argmax(0).numpy()
        rows.append(
            score_event_window(
                pred,
                gt,
                event_pixels(x, y, height, width),
                layer_flow(pred, theta.double()),
                layer_flow(gt, item["gt_theta"].double()),
            )
        )
    return {k: float(_nanmean([r[k] for r in rows])) for k in KEYS}, objects, len(rows)


def _nanmean(values: object, axis: int | None = None) -> np.ndarray:
    """Mean ignoring NaN (NaN, without a warning, when nothing is left)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmean(np.asarray(values, dtype=np.float64), axis=axis))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint",
        nargs="?",
        default=str(DEFAULT_WEIGHTS),
        help="train checkpoint (.ckpt) or exported weights (.pt); default: the shipped model",
    )
    parser.add_argument("--sequences", type=int, default=10, help="held-out sequences (10)")
    parser.add_argument("--sensor-size", default="128x128", help="WxH (default 128x128)")
    parser.add_argument("--duration-ms", type=float, default=100.0, help="sequence length")
    parser.add_argument("--window-events", type=int, default=None, help="events per window")
    parser.add_argument(
        "--refine",
        type=int,
        default=0,
        help="motion-compensation EM iterations per refinement round (0: the network alone)",
    )
    args = parser.parse_args(argv)
    if not Path(args.checkpoint).is_file():
        print(
            f"event_segmentation: checkpoint {args.checkpoint} does not exist; train one with "
            "`motionlayers train evlayerseg --config evlayerseg --out runs/evlayerseg` and pass "
            "runs/evlayerseg/checkpoints/last.ckpt",
            file=sys.stderr,
        )
        return 2
    try:
        model = load_evlayerseg_model(args.checkpoint)
        size = parse_sensor_size(args.sensor_size, "--sensor-size")
    except InputError as error:
        print(f"event_segmentation: {error}", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    count = args.window_events or model.window_size(size)
    print(
        f"EV-LayerSegNet {args.checkpoint}: K={model.hparams['layers']}, sensor "
        f"{size[0]}x{size[1]}, {count} events/window, {args.sequences} sequences, "
        f"{args.refine} refinement iterations"
    )
    header = ("seq", "seed", "obj", "win", "IoU", "objIoU", "DR", "EPE")
    print("{:>4} {:>7} {:>3} {:>3}  {:>6} {:>6} {:>5} {:>6}".format(*header))
    table: list[list[float]] = []
    empty, start = 0, time.perf_counter()
    for i in range(args.sequences):
        seed = FIRST_SEED + i
        scores, objects, windows = score_sequence(
            model, seed, size, count, args.duration_ms, args.refine
        )
        table.append([scores[k] for k in KEYS])
        empty += windows == 0
        print(
            f"{i:>4} {seed:>7} {objects:>3} {windows:>3}  {scores['iou']:6.3f} "
            f"{scores['object_iou']:6.3f} {scores['detection_rate']:5.2f} {scores['epe']:6.2f}"
        )
    if empty:
        print(
            f"{empty} sequence(s) had no full window: raise --duration-ms or lower --window-events"
        )
    mean = _nanmean(table, axis=0)
    print(f"{'mean':>20}  {mean[0]:6.3f} {mean[1]:6.3f} {mean[2]:5.2f} {mean[3]:6.2f}")
    print(
        f"IoU: mean over true layers; objIoU: over objects; DR: detection rate; EPE: px/window "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
