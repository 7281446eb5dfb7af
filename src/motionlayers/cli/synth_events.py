"""``motionlayers synth events -o DIR``: simulated event recordings of layered affine motion."""

from __future__ import annotations

import argparse
from pathlib import Path

from motionlayers.cli.options import add_output
from motionlayers.errors import InputError


def register_events(synth_subparsers: argparse._SubParsersAction) -> None:
    """Add the ``events`` sub-command to the ``synth`` command's sub-parsers."""
    parser = synth_subparsers.add_parser(
        "events",
        help="simulated event recordings: DIR/<index>/{events.npz,labels/,meta.json}",
        description=(
            "Render random layered scenes (textured background and objects moving with affine "
            "motions), simulate their events (ESIM-style) and write DIR/<index:05d>/ with "
            "events.npz, labels/<k:05d>.png (ground truth every --label-interval-ms) and "
            "meta.json (per-layer motion in pixels/second). Recording i uses seed SEED + i. "
            "Each output appears complete or not at all; other files in DIR are never touched."
        ),
    )
    add_output(parser, "output folder")
    parser.add_argument("--count", type=int, default=1, help="number of recordings (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first recording")
    parser.add_argument(
        "--sensor-size", default="240x180", help="sensor size WxH (default 240x180)"
    )
    parser.add_argument(
        "--duration-ms", type=float, default=100.0, help="duration in ms (default 100)"
    )
    parser.add_argument("--objects", type=int, default=1, help="moving objects (default 1)")
    parser.add_argument(
        "--fps", type=float, default=1000.0, help="rendering rate in frames/s (default 1000)"
    )
    parser.add_argument(
        "--label-interval-ms", type=float, default=10.0, help="label spacing in ms (default 10)"
    )
    parser.set_defaults(func=run_events)


def run_events(args: argparse.Namespace) -> int:
    from motionlayers.events.recording import write_synthetic_recording
    from motionlayers.io.atomic import atomic_directory
    from motionlayers.io.event_container import parse_sensor_size

    if args.count < 1:
        raise InputError("--count", f"expected a positive count, got {args.count}")
    if not 0 < args.duration_ms <= 600_000:  # also NaN
        raise InputError(
            "--duration-ms", f"expected a duration in (0, 600000] ms, got {args.duration_ms}"
        )
    if not 0 < args.fps <= 100_000:
        raise InputError("--fps", f"expected a frame rate in (0, 100000], got {args.fps}")
    if not 0 < args.label_interval_ms <= 600_000:
        raise InputError(
            "--label-interval-ms",
            f"expected an interval in (0, 600000] ms, got {args.label_interval_ms}",
        )
    size = parse_sensor_size(args.sensor_size, "--sensor-size")
    total = 0
    with atomic_directory(args.output, kind="synth-events") as tmp:
        for index in range(args.count):
            meta = write_synthetic_recording(
                Path(tmp) / f"{index:05d}",
                seed=args.seed + index,
                duration_s=args.duration_ms / 1000.0,
                fps_render=args.fps,
                sensor_size=size,
                objects=args.objects,
                label_interval_us=max(1, round(args.label_interval_ms * 1000)),
            )
            total += int(meta["num_events"])
    print(f"wrote {args.count} recording(s), {total} events, to {args.output}")
    return 0
