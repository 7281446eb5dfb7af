"""``motionlayers segment INPUT -o OUT``: layered motion segmentation of a video or of an event
recording (dispatched by the input's type: event files go to `pipeline.events`)."""

from __future__ import annotations

import argparse

from motionlayers.cli.flow import parse_size
from motionlayers.flow import available_backends
from motionlayers.pipeline import DEFAULT_METHOD, available_methods, segment_source
from motionlayers.pipeline.events import (
    DEFAULT_REFINE_ITERATIONS,
    EVENT_METHODS,
    EVENT_SUFFIXES,
    is_event_input,
    segment_events,
)
from motionlayers.pipeline.registry import DEFAULT_LAYERS
from motionlayers.pipeline.segment import DEFAULT_SIZE
from motionlayers.postprocess import (
    BORDER_CONTACT_LIMIT,
    COLOUR_WEIGHT,
    EXPLAINED_RATIO,
    FOREGROUND_RULES,
    HOLE_FRACTION,
    SNAP_RADIUS,
    TEMPORAL_RADIUS,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment a video into motion layers: OUT/masks, foreground, overlay.mp4, ...",
        description=(
            "Segment a video file, a folder of frames or a folder of flow files (.flo, .pfm, "
            ".npy, .npz) into motion layers. Writes OUT/masks/<stem>.png (layer labels), "
            "OUT/foreground/<stem>.png (0/255), OUT/flow/<stem>.png, OUT/overlay.mp4 and "
            "OUT/motion.json. An event recording (" + " ".join(EVENT_SUFFIXES) + ") is "
            "segmented window by window by EV-LayerSegNet: OUT/masks/<index>.png, "
            "OUT/windows.csv, OUT/overlay.mp4 and OUT/motion.json. OUT is replaced only on "
            "success."
        ),
    )
    parser.add_argument(
        "input",
        help="video file, folder of frames, folder of flow files, or event recording",
    )
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--method",
        default=None,
        help=f"segmentation method: {', '.join(available_methods())} (default {DEFAULT_METHOD}); "
        f"events: {', '.join(EVENT_METHODS)} (default {EVENT_METHODS[0]})",
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help=f"number of layers K (default: the trained model's; {DEFAULT_LAYERS} for classical "
        "methods)",
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
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="trained model for a network method: a train checkpoint (.ckpt) or exported "
        "weights (.pt); default: the model shipped with motionlayers",
    )
    events = parser.add_argument_group("event recordings")
    events.add_argument(
        "--window-events",
        type=int,
        default=None,
        help="events per window (default: the model's events per pixel x sensor pixels)",
    )
    events.add_argument("--window-us", type=int, default=None, help="windows of this duration")
    events.add_argument(
        "--sensor-size", default=None, help="WxH, for event files that do not store it"
    )
    events.add_argument(
        "--refine",
        type=int,
        default=DEFAULT_REFINE_ITERATIONS,
        help="motion-compensation EM iterations per refinement round (a global search of "
        "each layer's translation, then EM; two rounds) of each window's layers; 0: the "
        "network's single pass (default %(default)s)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="flows per batch (default 8)")
    parser.add_argument(
        "--foreground-rule",
        default="border",
        choices=FOREGROUND_RULES,
        help="how the background layer is chosen (default border)",
    )
    parser.add_argument(
        "--explained-ratio",
        type=float,
        default=EXPLAINED_RATIO,
        help="foreground segments that the background's motion model explains within this "
        "multiple of its median error join the background; 0 keeps every segment "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--snap-radius",
        type=float,
        default=SNAP_RADIUS,
        help="layer boundaries follow the frame's edges: radius of the colour guided filter as "
        "a fraction of the frame height; 0 keeps the upsampled flow layers (default %(default)s)",
    )
    parser.add_argument(
        "--colour-weight",
        type=float,
        default=COLOUR_WEIGHT,
        help="the foreground is refined by a colour model of the frame (its foreground and "
        "background colours): weight of the colour evidence against the motion's; 0: off "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--border-limit",
        type=float,
        default=BORDER_CONTACT_LIMIT,
        help="foreground segments that hug the image border (boundary connectivity: border "
        "pixels over the square root of the area, at least this) are dropped when a segment "
        "inside the frame remains; 0: off (default %(default)s)",
    )
    parser.add_argument(
        "--hole-fraction",
        type=float,
        default=HOLE_FRACTION,
        help="holes of the foreground smaller than this fraction of its area are filled; "
        "0: off (default %(default)s)",
    )
    parser.add_argument(
        "--temporal-radius",
        type=int,
        default=TEMPORAL_RADIUS,
        help="average the linked layer masks over this many frames on each side; 0: off "
        "(default %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if is_event_input(args.input):
        events_result = segment_events(
            args.input,
            args.output,
            window_events=args.window_events,
            window_us=args.window_us,
            layers=args.layers,
            sensor_size=args.sensor_size,
            method=args.method or EVENT_METHODS[0],
            checkpoint=args.checkpoint,
            device=args.device,
            refine_iterations=args.refine,
            progress=not args.no_progress,
        )
        print(events_result.summary())
        return 0
    result = segment_source(
        args.input,
        args.output,
        method=args.method or DEFAULT_METHOD,
        layers=args.layers,
        flow_backend=args.flow,
        size=parse_size(args.size),
        device=args.device,
        batch_size=args.batch_size,
        foreground_rule=args.foreground_rule,
        explained_ratio=args.explained_ratio,
        progress=not args.no_progress,
        method_options={"checkpoint": args.checkpoint} if args.checkpoint else None,
        snap_radius=args.snap_radius,
        temporal_radius=args.temporal_radius,
        colour_weight=args.colour_weight,
        border_limit=args.border_limit,
        hole_fraction=args.hole_fraction,
    )
    print(result.summary())
    return 0
