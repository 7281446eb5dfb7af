"""``motionlayers saliency INPUT -o OUT``: motion saliency maps of a video (thesis ch. 5)."""

from __future__ import annotations

import argparse

from motionlayers.cli.options import add_device, add_flow, add_output, add_size
from motionlayers.defaults import DEFAULT_BATCH_SIZE, DEFAULT_WORKING_SIZE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "saliency",
        help="motion saliency: OUT/saliency (heatmaps), OUT/masks, overlay.mp4, saliency.csv",
        description=(
            "Find the independently moving regions of a video file, a folder of frames or of "
            "flow files (NIMS, thesis ch. 5): a flow classifier scores each frame, its LRP "
            "relevance picks the salient regions among robust motion layers, and the flow "
            "inpainted from the rest measures how differently they move. Writes "
            "OUT/saliency/<stem>.png (saliency map heatmap), OUT/relevance/<stem>.png (LRP "
            "relevance: red for, blue against), OUT/masks/<stem>.png (salient set, 0/255), "
            "OUT/overlay.mp4 and OUT/saliency.csv (p_salient and salient area per frame). Each "
            "output appears complete or not at all; other files in OUT are never touched."
        ),
    )
    parser.add_argument("input", help="video file, folder of frames or folder of flow files")
    add_output(parser, "output folder")
    parser.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="classifier from 'motionlayers train nims' (checkpoint or weights; default: the "
        "shipped case-1 model, independent motion against parallax; a crowd model from "
        "--config nims-crowd selects with the light version)",
    )
    add_flow(parser)
    add_size(
        parser,
        "--working-size",
        DEFAULT_WORKING_SIZE,
        "size WxH at which the flow is computed and scored; outputs are at the input's size",
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="frames per forward pass"
    )
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many")
    parser.add_argument(
        "--no-gate",
        action="store_true",
        help="keep the salient regions of frames the classifier calls not salient (p < 0.5)",
    )
    parser.add_argument("--fps", type=float, default=None, help="frame rate of overlay.mp4")
    add_device(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from motionlayers.devices import resolve_device
    from motionlayers.errors import InputError
    from motionlayers.pipeline.saliency import saliency_source

    if args.batch_size < 1:
        raise InputError("--batch-size", f"must be positive, got {args.batch_size}")
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames", f"must be positive, got {args.max_frames}")
    result = saliency_source(
        args.input,
        args.output,
        model=args.model,
        flow_backend=args.flow,
        size=args.working_size,
        batch_size=args.batch_size,
        max_frames=args.max_frames,
        gate=not args.no_gate,
        device=resolve_device(args.device),
        fps=args.fps,
        progress=not args.no_progress,
    )
    print(
        f"saliency: {result.frames} frames, {result.salient_frames} salient (p >= 0.5), "
        f"{result.seconds:.1f} s; wrote {args.output}/saliency, masks, relevance, overlay.mp4, "
        "saliency.csv"
    )
    return 0
