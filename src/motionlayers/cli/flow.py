"""``motionlayers flow INPUT -o OUT``: optical flow of a video as flow files and colour images."""

from __future__ import annotations

import argparse

from motionlayers.cli.options import add_flow, add_output, add_size
from motionlayers.defaults import DEFAULT_FLOW_FORMAT, FLOW_FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "flow",
        help="compute optical flow: OUT/<stem>.<fmt> and OUT/color/<stem>.png",
        description=(
            "Compute the forward optical flow between consecutive frames of a video file or a "
            "folder of images. Writes OUT/<stem>.<fmt> (flow from frame <stem> to the next) and "
            "OUT/color/<stem>.png (Middlebury colour wheel). Each output appears complete or not "
            "at all; other files in OUT are never touched."
        ),
    )
    parser.add_argument("input", help="video file or folder of frames")
    add_output(parser, "output folder")
    add_flow(parser, renamed=("--backend",))
    add_size(
        parser,
        "--working-size",
        None,
        "size at which the flow is computed and written, WxH, e.g. 320x240 (default: the input's)",
    )
    parser.add_argument(
        "--format",
        default=DEFAULT_FLOW_FORMAT,
        choices=FLOW_FORMATS,
        help=f"flow file format (png = KITTI 16-bit; default {DEFAULT_FLOW_FORMAT})",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from motionlayers.flow import export_flows

    count = export_flows(
        args.input,
        args.output,
        backend=args.flow,
        size=args.working_size,
        fmt=args.format,
        progress=not args.no_progress,
    )
    print(f"wrote {count} flow files ({args.format}) and colour images to {args.output}")
    return 0
