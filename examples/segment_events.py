"""Segment an event recording into motion layers and score it against its ground truth.

Simulates a recording (what ``motionlayers synth events`` writes: a textured background and a
textured object moving with affine motions, events simulated ESIM-style, labels every 10 ms),
segments it with `motionlayers.pipeline.segment_source` (what ``motionlayers segment
REC.npz -o OUT`` runs: the shipped EV-LayerSegNet, one window at a time, each refined by a
translation search and motion-compensation EM) and scores each window's mask, at the sensor's
resolution, on the pixels that received events: IoU after Hungarian matching of the layers, over
every layer and over the object only. The sensor is 64x64, the size the shipped model was
trained at; ``--sensor-size 240x180`` shows how far from it the model still is.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from motionlayers.eval import event_pixels, score_event_window
from motionlayers.events.recording import write_synthetic_recording
from motionlayers.io import parse_sensor_size, read_events, read_mask
from motionlayers.pipeline import segment_source


def score_windows(recording: Path, output: Path) -> list[dict[str, float]]:
    """Scores of each window of ``output`` against the labels of ``recording`` nearest to the
    window's middle (labels are drawn every 10 ms, windows are cut by event count)."""
    meta = json.loads((recording / "meta.json").read_text())
    label_times = np.asarray(meta["label_times_us"])
    events = read_events(recording / "events.npz")
    width, height = events.sensor_size
    scores = []
    with open(output / "windows.csv") as table:
        for row in csv.DictReader(table):
            start, end = int(row["t_start_us"]), int(row["t_end_us"])
            inside = (events.t >= start) & (events.t < end)
            if not inside.any():
                continue
            nearest = int(np.abs(label_times - (start + end) / 2).argmin())
            truth = read_mask(recording / "labels" / f"{nearest:05d}.png")
            predicted = read_mask(output / "masks" / f"{int(row['index']):05d}.png")
            valid = event_pixels(events.x[inside], events.y[inside], height, width)
            scores.append(score_event_window(predicted, truth, valid))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="out/examples/segment_events")
    parser.add_argument("--sensor-size", default="64x64", help="WxH (default 64x64)")
    parser.add_argument("--quick", action="store_true", help="no refinement (the network alone)")
    args = parser.parse_args(argv)
    output = Path(args.output)
    recording = output.parent / "segment_events_recording"
    meta = write_synthetic_recording(
        recording, seed=12, duration_s=0.1, sensor_size=parse_sensor_size(args.sensor_size)
    )
    print(f"simulated {meta['num_events']} events on {args.sensor_size} into {recording}")

    # --refine 0 is the network's single pass; the default refines each window (slower).
    refine = {"refine_iterations": 0} if args.quick else {}
    result = segment_source(recording / "events.npz", output, progress=False, **refine)
    print(result.summary())
    print("masks/<window>.png are at the sensor's resolution; windows.csv gives their times")

    scores = score_windows(recording, output)
    for index, score in enumerate(scores):
        print(f"window {index}: IoU {score['iou']:.2f}, object IoU {score['object_iou']:.2f}")
    if scores:
        mean = np.mean([s["iou"] for s in scores])
        print(f"mean IoU over {len(scores)} windows: {mean:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
