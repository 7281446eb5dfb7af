"""``motionlayers flow INPUT -o OUT``: optical flow of a video as flow files and colour images."""

from __future__ import annotations

import argparse
import re

from motionlayers.errors import InputError
from motionlayers.flow import DEFAULT_BACKEND, available_backends, export_flows
from motionlayers.io import FLOW_FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "flow",
        help="compute optical flow: OUT/<stem>.<fmt> and OUT/color/<stem>.png",
        description=(
            "Compute the forward optical flow between consecutive frames of a video file or a "
            "folder of images. Writes OUT/<stem>.<fmt> (flow from frame <stem> to the next) and "
            "OUT/color/<stem>.png (Middlebury colour wheel). OUT is replaced only on success."
        ),
    )
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help=f"flow backend: {', '.join(available_backends())}, or precomputed:FOLDER "
        f"(default {DEFAULT_BACKEND})",
    )
    parser.add_argument(
        "--size", default=None, help="working size HxW, e.g. 240x320 (default: the input's)"
    )
    parser.add_argument(
        "--format",
        default="flo",
        choices=FLOW_FORMATS,
        help="flow file format (png = KITTI 16-bit; default flo)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"240x320"`` -> ``(240, 320)`` (height, width); None stays None."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None or min(int(match.group(1)), int(match.group(2))) <= 0:
        raise InputError(
            "--size", f"expected HxW with positive integers, e.g. 240x320, got {text!r}"
        )
    return int(match.group(1)), int(match.group(2))


def run(args: argparse.Namespace) -> int:
    count = export_flows(
        args.input,
        args.output,
        backend=args.backend,
        size=parse_size(args.size),
        fmt=args.format,
        progress=not args.no_progress,
    )
    print(f"wrote {count} flow files ({args.format}) and colour images to {args.output}")
    return 0
