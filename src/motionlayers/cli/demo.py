"""``motionlayers demo``: a few synthetic scenes drawn as panels, to see the problem at a glance."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from motionlayers.cli.options import add_flow, add_output
from motionlayers.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="render a few synthetic layered scenes as PNG panels (default out/demo)",
        description=(
            "Draw a few synthetic layered scenes and write one PNG panel each: the first frame, "
            "the exact flow (colour wheel), the flow estimated by the flow backend on the "
            "rendered frames, and the ground-truth layers (DAVIS colours). Each output appears "
            "complete or not at all; other files in OUT are never touched."
        ),
    )
    add_output(parser, "output folder (default out/demo)", default="out/demo")
    parser.add_argument("--count", type=int, default=4, help="number of scenes (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--layers", type=int, default=4, help="maximum layers K (default 4)")
    parser.add_argument(
        "--mode", choices=("flow", "frames"), default="frames", help="flow only, or frames too"
    )
    add_flow(parser, renamed=("--backend",))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)  # many tiny torch calls: threads only add overhead
    import numpy as np

    from motionlayers.data import SynthConfig, estimate_flow, generate_layered_flow
    from motionlayers.io import write_image
    from motionlayers.io.atomic import atomic_directory
    from motionlayers.viz import color_flow, color_labels, side_by_side

    if args.count < 1:
        raise InputError("--count", f"expected a positive count, got {args.count}")
    start = time.perf_counter()
    config = SynthConfig(layers=args.layers)
    images = args.mode == "frames"
    written = []
    with atomic_directory(args.output, kind="demo") as tmp:
        for index in range(args.count):
            scene = generate_layered_flow(config, (args.seed, index), images)
            scale = float(np.hypot(*scene.flow).max())
            tiles, captions = [], []
            if scene.frame0 is not None and scene.frame1 is not None:
                estimated = estimate_flow(scene.frame0, scene.frame1, args.flow)
                tiles += [scene.frame0, color_flow(estimated, scale)]
                captions += ["frame 0", f"{args.flow} flow"]
            tiles += [color_flow(scene.flow, scale), color_labels(scene.labels)]
            captions += [f"exact flow (max {scale:.1f} px)", f"{len(scene.theta)} layers"]
            name = f"demo{index:02d}.png"
            write_image(tmp / name, side_by_side(tiles, captions))
            written.append(name)
    elapsed = time.perf_counter() - start
    output = Path(args.output)
    for name in written:
        print(output / name)
    print(f"wrote {len(written)} panel(s) to {output} in {elapsed:.1f} s")
    return 0
