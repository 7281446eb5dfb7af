"""``motionlayers synth flow -o DIR``: synthetic layered flows with exact masks, DAVIS layout.

``synth`` has its own sub-commands. ``flow`` lives here; other generators add theirs through
`SYNTH_COMMANDS`: ``(module, function)`` pairs whose function takes the ``synth`` sub-parsers
(e.g. ``motionlayers.cli.synth_events.register_events`` adds ``synth events``). A listed module
that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import importlib

from motionlayers.cli.options import add_output, add_size
from motionlayers.errors import InputError

#: Extra ``synth`` sub-commands: (module, registering function).
SYNTH_COMMANDS: tuple[tuple[str, str], ...] = (
    ("motionlayers.cli.synth_events", "register_events"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic data with exact ground truth (synth flow, synth events)",
        description="Generate synthetic data with exact ground truth.",
    )
    synth = parser.add_subparsers(dest="synth_command", metavar="KIND")
    register_flow(synth)
    for module_name, function in SYNTH_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        getattr(module, function)(synth)
    parser.set_defaults(func=lambda args: _help(parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def register_flow(synth: argparse._SubParsersAction) -> None:
    """Add ``synth flow`` to the ``synth`` sub-parsers."""
    parser = synth.add_parser(
        "flow",
        help="layered flows: DIR/{Flows,Annotations,JPEGImages}/<seq>/ and DIR/meta.json",
        description=(
            "Draw random layered scenes (a background with a camera-like quadratic motion and "
            "objects of random shapes with affine or quadratic motions, in depth order) and write "
            "DIR/Flows/<seq>/<frame>.flo (exact flow), DIR/Annotations/<seq>/<frame>.png (exact "
            "labels, DAVIS palette), DIR/JPEGImages/<seq>/<frame>.jpg (textured frames, with "
            "--mode frames) and DIR/meta.json (parameters and per-layer models). Sequence i uses "
            "seed (SEED, i). Each output appears complete or not at all; other files in DIR are "
            "never touched."
        ),
    )
    add_output(parser, "output folder")
    parser.add_argument("--count", type=int, default=10, help="number of sequences (default 10)")
    parser.add_argument("--layers", type=int, default=3, help="maximum layers K (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    add_size(parser, "--frame-size", (128, 224), "frame size WxH")
    parser.add_argument(
        "--mode", choices=("flow", "frames"), default="flow", help="also render frames (frames)"
    )
    parser.add_argument("--frames", type=int, default=1, help="flows per sequence T (default 1)")
    parser.add_argument(
        "--max-motion", type=float, default=0.1, help="largest motion, fraction of the width"
    )
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian flow noise (px)")
    parser.add_argument("--outliers", type=int, default=0, help="outlier patches per flow")
    parser.add_argument("--blur", type=float, default=0.0, help="boundary blur sigma (px)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_flow)


def run_flow(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)  # many tiny torch calls: threads only add overhead
    from motionlayers.data import SynthConfig, write_synthetic_dataset

    height, width = args.frame_size
    if args.count < 1:
        raise InputError("--count", f"expected a positive count, got {args.count}")
    config = SynthConfig(
        height=height,
        width=width,
        layers=args.layers,
        max_motion=args.max_motion,
        noise_std=args.noise,
        outliers=args.outliers,
        boundary_blur=args.blur,
    )
    write_synthetic_dataset(
        args.output, args.count, config, args.seed, args.mode, args.frames, not args.no_progress
    )
    print(f"wrote {args.count} synthetic sequence(s) of {args.frames} flow(s) to {args.output}")
    return 0
