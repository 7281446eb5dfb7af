"""Write a simulated layered-motion event recording to a folder.

Layout of ``out_dir`` (each entry complete or absent: `motionlayers.io.atomic.atomic_directory`)::

    events.npz            the events (`motionlayers.io.write_events`), t in us from 0
    labels/00000.png ...  ground-truth label maps (indexed PNGs, 0 = background) at the times
                          listed in meta.json (the end of each window of ``label_interval_us``)
    meta.json             seed, sensor size, duration, thresholds, per-layer affine ``theta``
                          (pixels/second, normalised coordinates), label times
"""

from __future__ import annotations

import json
from pathlib import Path

from motionlayers.errors import InputError
from motionlayers.events.scenes import simulate_scene
from motionlayers.io.atomic import atomic_directory
from motionlayers.io.events import write_events
from motionlayers.io.masks import write_mask

__all__ = ["write_synthetic_recording"]


def write_synthetic_recording(
    out_dir: str | Path,
    seed: int,
    duration_s: float = 0.1,
    fps_render: float = 1000.0,
    sensor_size: tuple[int, int] = (240, 180),
    objects: int = 1,
    label_interval_us: int = 10_000,
    threshold: float = 0.2,
    threshold_sigma: float = 0.03,
) -> dict:
    """Simulate a random scene (`simulate_scene`) and write it to ``out_dir``.

    Labels are written at ``t_i = (i + 1) * label_interval_us`` for every ``t_i`` within the
    duration, as ``labels/<i:05d>.png``.

    Returns:
        The metadata written to ``meta.json``.
    """
    if int(label_interval_us) <= 0:
        raise InputError("label_interval_us", f"must be positive, got {label_interval_us}")
    events, labels_at, _, metadata = simulate_scene(
        seed, duration_s, fps_render, sensor_size, objects, threshold, threshold_sigma
    )
    step = int(label_interval_us)
    times = list(range(step, int(metadata["duration_us"]) + 1, step))
    metadata = {**metadata, "label_interval_us": step, "label_times_us": times}
    with atomic_directory(out_dir, kind="synth-recording") as tmp:
        write_events(tmp / "events.npz", events)
        (tmp / "labels").mkdir()
        for index, t_us in enumerate(times):
            write_mask(tmp / "labels" / f"{index:05d}.png", labels_at(t_us))
        (tmp / "meta.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata
