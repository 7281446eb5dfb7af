"""``motionlayers segment INPUT -o OUT``: layered motion segmentation of a video."""

from __future__ import annotations

import argparse

from motionlayers.cli.flow import parse_size
from motionlayers.flow import available_backends
from motionlayers.pipeline import DEFAULT_METHOD, available_methods, segment_source
from motionlayers.pipeline.segment import DEFAULT_LAYERS, DEFAULT_SIZE
from motionlayers.postprocess import FOREGROUND_RULES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment a video into motion layers: OUT/masks, foreground, overlay.mp4, ...",
        description=(
            "Segment a video file, a folder of frames or a folder of flow files (.flo, .pfm, "
            ".npy, .npz) into motion layers. Writes OUT/masks/<stem>.png (layer labels), "
            "OUT/foreground/<stem>.png (0/255), OUT/flow/<stem>.png, OUT/overlay.mp4 and "
            "OUT/motion.json. OUT is replaced only on success."
        ),
    )
    parser.add_argument("input", help="video file, folder of frames, or folder of flow files")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        help=f"segmentation method: {', '.join(available_methods())} (default {DEFAULT_METHOD})",
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=DEFAULT_LAYERS,
        help=f"number of layers K (default {DEFAULT_LAYERS})",
    )
    parser.add_argument(
        "--flow",
        default="dis-medium",
        help=f"flow backend: {', '.join(available_backends())} (default dis-medium)",
    )
    parser.add_argument(
        "--size",
        default="x".join(map(str, DEFAULT_SIZE)),
        help="working size HxW of the flows (default %(default)s)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="flows per batch (default 8)")
    parser.add_argument(
        "--foreground-rule",
        default="border",
        choices=FOREGROUND_RULES,
        help="how the background layer is chosen (default border)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = segment_source(
        args.input,
        args.output,
        method=args.method,
        layers=args.layers,
        flow_backend=args.flow,
        size=parse_size(args.size),
        device=args.device,
        batch_size=args.batch_size,
        foreground_rule=args.foreground_rule,
        progress=not args.no_progress,
    )
    print(result.summary())
    return 0
