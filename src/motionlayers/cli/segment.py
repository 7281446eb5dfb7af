"""``motionlayers segment INPUT -o OUT``: layered motion segmentation of a video or of an event
recording (dispatched by the input's type: event files go to `pipeline.events`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from motionlayers.cli.options import add_device, add_flow, add_output, add_size
from motionlayers.defaults import (
    BORDER_CONTACT_LIMIT,
    COLOUR_WEIGHT,
    DEFAULT_LAYERS,
    DEFAULT_METHOD,
    DEFAULT_REFINE_ITERATIONS,
    DEFAULT_WORKING_SIZE,
    EVENT_METHODS,
    EVENT_SUFFIXES,
    EXPLAINED_RATIO,
    FLOW_METHODS,
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
            "OUT/windows.csv, OUT/overlay.mp4 and OUT/motion.json, window by window (a stopped "
            "run resumes). Each output appears complete or not at all; other files in OUT are "
            "never touched, and an OUT that is, contains or lies inside the input is refused."
        ),
    )
    parser.add_argument(
        "input",
        help="video file, folder of frames, folder of flow files, or event recording",
    )
    add_output(parser, "output folder")
    parser.add_argument(
        "--method",
        default=None,
        help=f"segmentation method: {', '.join(FLOW_METHODS)} (default {DEFAULT_METHOD}); "
        f"events: {', '.join(EVENT_METHODS)} (default {EVENT_METHODS[0]})",
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help=f"number of layers K (default: the trained model's; {DEFAULT_LAYERS} for classical "
        "methods)",
    )
    add_flow(parser)
    add_size(
        parser,
        "--working-size",
        DEFAULT_WORKING_SIZE,
        "size WxH at which the flow is computed and segmented; masks, foreground and overlay "
        "are written at the input's size",
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
        "--sensor-size",
        default=None,
        metavar="WxH",
        help="sensor size WxH, e.g. 346x260, for event files that do not store it",
    )
    events.add_argument(
        "--refine",
        type=int,
        default=DEFAULT_REFINE_ITERATIONS,
        help="motion-compensation EM iterations per refinement round (a global search of "
        "each layer's translation, then EM; two rounds) of each window's layers; 0: the "
        "network's single pass (default %(default)s)",
    )
    add_device(parser)
    parser.add_argument("--batch-size", type=int, default=8, help="flows per batch (default 8)")
    parser.add_argument(
        "--foreground-rule",
        default=FOREGROUND_RULES[0],
        choices=FOREGROUND_RULES,
        help=f"how the background layer is chosen (default {FOREGROUND_RULES[0]})",
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
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame rate of overlay.mp4 (default: the video's; 24, as DAVIS, for a folder of "
        "frames or flows; 10 windows per second for events)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from motionlayers.devices import resolve_device

    device = resolve_device(args.device)  # before any work, and before torch loads the rest
    # The suffix test first: the event pipeline loads Lightning, which a video may not need.
    if Path(args.input).suffix.lower() in EVENT_SUFFIXES:
        from motionlayers.pipeline.events import is_event_input

        if is_event_input(args.input):
            return _run_events(args, device)
    return _run_video(args, device)


def _run_events(args: argparse.Namespace, device: str) -> int:
    from motionlayers.pipeline.events import segment_events

    result = segment_events(
        args.input,
        args.output,
        window_events=args.window_events,
        window_us=args.window_us,
        layers=args.layers,
        sensor_size=args.sensor_size,
        method=args.method or EVENT_METHODS[0],
        checkpoint=args.checkpoint,
        device=device,
        fps=10.0 if args.fps is None else args.fps,
        refine_iterations=args.refine,
        progress=not args.no_progress,
    )
    print(result.summary())
    return 0


def _run_video(args: argparse.Namespace, device: str) -> int:
    from motionlayers.pipeline import segment_source

    result = segment_source(
        args.input,
        args.output,
        method=args.method or DEFAULT_METHOD,
        layers=args.layers,
        flow_backend=args.flow,
        size=args.working_size,
        device=device,
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
        fps=args.fps,
    )
    print(result.summary())
    return 0
