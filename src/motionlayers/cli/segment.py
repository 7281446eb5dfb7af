"""``motionlayers segment INPUT -o OUT``: layered motion segmentation of a video, a folder of
frames or flows, an event recording, a camera, or a dataset of sequences.

The segmentation options are left unset unless given (``argparse.SUPPRESS``), so that the
library can tell an option that does not apply to the input (an error) from one that was not
written: their defaults live in one table, `motionlayers.pipeline.options.OPTIONS`, and this
module shows them in the help.
"""

from __future__ import annotations

import argparse
from typing import Any

from motionlayers.cli.options import add_device, add_flow, add_output, add_size
from motionlayers.defaults import (
    BORDER_CONTACT_LIMIT,
    COLOUR_WEIGHT,
    DEFAULT_BATCH_SIZE,
    DEFAULT_LAYERS,
    DEFAULT_METHOD,
    DEFAULT_REFINE_ITERATIONS,
    DEFAULT_WORKING_SIZE,
    EVENT_FPS,
    EVENT_METHODS,
    EVENT_SUFFIXES,
    EVENT_WINDOW_RULE,
    EXPLAINED_RATIO,
    FLOW_METHODS,
    FOREGROUND_CUT,
    HOLE_FRACTION,
    LINK_CUT,
    LINKINGS,
    SEGMENT_FOREGROUND_RULES,
    SNAP_RADIUS,
    TEMPORAL_RADIUS,
)

UNSET = argparse.SUPPRESS
RUN_OPTIONS = ("workers", "devices", "strategy", "num_nodes")
"""Options of a dataset run (several sequences), not of a segmentation."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment a video into motion layers: OUT/masks, foreground, overlay.mp4, ...",
        description=(
            "Segment a video file, a folder of frames, a folder of flow files (.flo, .pfm, "
            ".npy, .npz), an event recording (" + " ".join(EVENT_SUFFIXES) + ") or a camera "
            "(camera:N) into motion layers. Writes OUT/masks/<stem>.png (layer labels, 0 = "
            "background), OUT/foreground/<stem>.png (0/255), OUT/overlay.mp4, OUT/motion.json, "
            "and OUT/flow/<stem>.png (videos, frames, flows) or OUT/windows.csv (events; a "
            "stopped run resumes). A folder of sequences (DAVIS JPEGImages/480p) or of videos "
            "gives OUT/<sequence>/ each, what 'motionlayers evaluate' reads. Each output appears "
            "complete or not at all; other files in OUT are never touched, and an OUT that is, "
            "contains or lies inside the input is refused. An option that does not apply to "
            "the input is an error. 'motionlayers methods' lists the methods."
        ),
    )
    parser.add_argument(
        "input",
        help="video file, folder of frames or flow files, event recording, camera:N, or a "
        "folder of sequences or videos",
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
        default=UNSET,
        help=f"number of layers K (default: the shipped model's; {DEFAULT_LAYERS} for "
        "classical methods)",
    )
    parser.add_argument(
        "--checkpoint",
        default=UNSET,
        help="trained model for a network method: a train checkpoint (.ckpt) or exported "
        "weights (.pt); default: the model shipped with motionlayers",
    )
    add_device(parser, default=UNSET)
    parser.add_argument(
        "--foreground-rule",
        default=UNSET,
        choices=SEGMENT_FOREGROUND_RULES,
        help="how the background layer is chosen: the layer whose motion explains the image "
        "border, or the largest; saliency: the regions that a flow classifier explained by "
        "LRP finds salient are the foreground, every other region is background (thesis ch. 5) "
        f"(default {SEGMENT_FOREGROUND_RULES[0]})",
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=UNSET,
        help="frame rate of overlay.mp4 (default: the video's; 24, as DAVIS, for a folder of "
        f"frames or flows; {EVENT_FPS:g} windows per second for events)",
    )
    parser.add_argument(
        "--max-frames",
        type=int,
        default=UNSET,
        help="stop after this many frames (event windows); a camera otherwise records until "
        "Ctrl-C, and keeps what it recorded",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    flows = parser.add_argument_group("videos, frames and flows")
    add_flow(flows, renamed=("--backend",), default=UNSET, dest="flow_backend")
    add_size(
        flows,
        "--working-size",
        DEFAULT_WORKING_SIZE,
        "size WxH at which the flow is computed and segmented; masks, foreground and overlay "
        "are written at the input's size",
        stored=UNSET,
        dest="size",
    )
    _number(flows, "--batch-size", int, DEFAULT_BATCH_SIZE, "flows per forward pass")
    _number(
        flows,
        "--temporal-radius",
        int,
        TEMPORAL_RADIUS,
        "average the linked layer masks over this many frames on each side, along the flow; 0: off",
    )
    flows.add_argument(
        "--linking",
        default=UNSET,
        choices=LINKINGS,
        help="how layer labels are linked over time (thesis eq. 3.9): one-to-one, or the "
        f"thesis's greedy argmax, which may merge labels, in cuts of {LINK_CUT} frames "
        f"(default {LINKINGS[0]})",
    )
    flows.add_argument(
        "--chunk",
        type=int,
        default=UNSET,
        help="methods that read volumes of any length (lt): frames segmented per pass; 0: the "
        "whole video in one pass (memory grows with its length) (default: the method's, 10)",
    )
    flows.add_argument(
        "--chunk-overlap",
        type=int,
        default=UNSET,
        help="frames that consecutive chunks share, on which their labels are linked (eq. 3.9); "
        "0: none, chunks joined frame to frame (default: the method's, 2)",
    )
    _number(
        flows,
        "--adapt-steps",
        int,
        0,
        "test-time adaptation: fine-tune a copy of the network (em, st, lt) for this many "
        "steps of its own label-free training loss on the video's first flows before "
        "segmenting; the shipped weights are never changed; 0: off",
    )
    _number(
        flows,
        "--foreground-cut",
        int,
        FOREGROUND_CUT,
        "choose the background once per cut of this many frames (their linked labels share "
        "it; the rule's scores summed over the cut); 1: every frame alone",
    )
    flows.add_argument(
        "--saliency-model",
        default=UNSET,
        metavar="PATH",
        help="the saliency rule's classifier: a checkpoint or weights of 'motionlayers train "
        "nims', or a shipped one's name (nims-crowd.pt) (default: the shipped case-1 model, "
        "nims-parallax.pt: independent motion against parallax)",
    )
    _number(
        flows,
        "--explained-ratio",
        float,
        EXPLAINED_RATIO,
        "foreground segments that the background's motion model explains within this multiple "
        "of its median error join the background; 0 keeps every segment",
    )
    _number(
        flows,
        "--border-limit",
        float,
        BORDER_CONTACT_LIMIT,
        "foreground segments that hug the image border (border pixels over the square root of "
        "the area, at least this) are dropped when a segment inside the frame remains; 0: off",
    )
    _number(
        flows,
        "--hole-fraction",
        float,
        HOLE_FRACTION,
        "holes of the foreground smaller than this fraction of its area are filled; 0: off",
    )
    frames = parser.add_argument_group("videos and frames (not flow files)")
    _number(
        frames,
        "--snap-radius",
        float,
        SNAP_RADIUS,
        "layer boundaries follow the frame's edges: radius of the colour guided filter as a "
        "fraction of the frame height; 0 keeps the upsampled flow layers",
    )
    _number(
        frames,
        "--colour-weight",
        float,
        COLOUR_WEIGHT,
        "the foreground is refined by a colour model of the frame: weight of the colour "
        "evidence against the motion's; 0: off",
    )
    events = parser.add_argument_group("event recordings")
    events.add_argument(
        "--window-events",
        type=int,
        default=UNSET,
        help=f"events per window (default: the model's rule, {EVENT_WINDOW_RULE})",
    )
    events.add_argument(
        "--window-us", type=int, default=UNSET, help="windows of this duration (microseconds)"
    )
    events.add_argument(
        "--sensor-size",
        default=UNSET,
        metavar="WxH",
        help="sensor size WxH, e.g. 346x260, for event files that do not store it",
    )
    _number(
        events,
        "--refine",
        int,
        DEFAULT_REFINE_ITERATIONS,
        "motion-compensation EM iterations per refinement round (a global search of each "
        "layer's translation, then EM; two rounds) of each window's layers; 0: the network's "
        "single pass",
        dest="refine_iterations",
    )
    dataset = parser.add_argument_group("datasets (a folder of sequences or videos)")
    dataset.add_argument(
        "--workers", type=int, default=UNSET, help="sequences segmented at once (default 1)"
    )
    dataset.add_argument(
        "--devices",
        default=UNSET,
        help="past one machine: Lightning's Trainer.predict on this many devices (or 'auto')",
    )
    dataset.add_argument(
        "--strategy", default=UNSET, help="Lightning strategy with --devices, e.g. ddp"
    )
    dataset.add_argument(
        "--num-nodes", type=int, default=UNSET, help="machines of a Lightning run (default 1)"
    )
    parser.set_defaults(func=run)


def _number(
    group: argparse._ArgumentGroup,
    flag: str,
    kind: type,
    default: float,
    help: str,
    dest: str | None = None,
) -> None:
    extra: dict[str, Any] = {"dest": dest} if dest else {}
    group.add_argument(
        flag, type=kind, default=UNSET, help=f"{help} (default {default:g})", **extra
    )


def run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k not in ("input", "output", "method", "func")
    }
    options.pop("command", None)
    options["progress"] = not options.pop("no_progress")
    dataset = {k: options.pop(k) for k in RUN_OPTIONS if k in options}
    if "devices" in dataset and dataset["devices"] != "auto":
        from motionlayers.errors import InputError

        if not str(dataset["devices"]).isdigit() or int(dataset["devices"]) < 1:
            raise InputError(
                "--devices", f"must be a positive integer or auto, got {dataset['devices']!r}"
            )
        dataset["devices"] = int(dataset["devices"])
    if "device" in options:
        from motionlayers.devices import resolve_device

        options["device"] = resolve_device(options["device"])  # before any work
    from motionlayers.pipeline.segmentation import segment_source

    result = segment_source(args.input, args.output, args.method, **options, **dataset)
    if result.rank == 0:  # under ddp every rank returns; one prints
        print(result.summary())
    return 0
