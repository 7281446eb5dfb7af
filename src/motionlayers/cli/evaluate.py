"""``motionlayers evaluate PRED GT --protocol P``: score predicted masks against ground truth."""

from __future__ import annotations

import argparse
import sys

from motionlayers.cli.options import add_output
from motionlayers.defaults import (
    BOUNDARY_TOLERANCE,
    EVAL_PROTOCOLS,
    EVAL_SELECTIONS,
    GROUND_TRUTH_SELECTIONS,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    selections = ", ".join(
        f"{name}{' (uses GT)' if name in GROUND_TRUTH_SELECTIONS else ''}"
        for name in EVAL_SELECTIONS
    )
    parser = subparsers.add_parser(
        "evaluate",
        help="score predicted masks against ground truth (J, F, box IoU)",
        description=(
            "Score PRED against GT, a folder of <sequence>/<frame>.png masks (binary 0/255 or "
            "label PNGs; or one sequence's masks). PRED holds, per sequence, label PNGs "
            "PRED/<sequence>/<frame>.png (label 0 is the background) or the output of "
            "'motionlayers segment' (PRED/<sequence>/masks/ and PRED/<sequence>/motion.json, "
            "as segment writes for a folder of sequences: each frame's background is read from "
            "motion.json, and a motion.json that does not match its masks is an error); for one "
            "sequence, PRED is its prediction in either layout. Frames pair by name; "
            "predictions of another size but the same aspect ratio are resized to the ground "
            "truth's by nearest neighbour. Every GT sequence needs a prediction unless "
            "--sequences names a subset. Prints a per-sequence table, the overall scores and "
            "which frames were scored; -o/--output writes per_frame.csv, per_sequence.csv and "
            "summary.json. davis16 scores every annotated frame but the first and the last of "
            "each sequence, as the official DAVIS-2016 scorer; the other protocols score them "
            "all. Binary protocols (davis16, fbms, segtrack, moca) merge all ground-truth "
            "objects into one foreground, and by default every predicted label but the "
            "background is foreground (--selection changes that)."
        ),
    )
    parser.add_argument(
        "pred",
        help="folder of predictions: <sequence>/<frame>.png, or segment outputs "
        "<sequence>/masks/ + <sequence>/motion.json",
    )
    parser.add_argument("gt", help="folder of ground-truth masks: <sequence>/<frame>.png")
    parser.add_argument(
        "--sequences",
        default=None,
        metavar="A,B,...",
        help="score only these ground-truth sequences, comma-separated (default: all, each of "
        "which needs a prediction)",
    )
    parser.add_argument(
        "--protocol", required=True, choices=EVAL_PROTOCOLS, help="benchmark protocol"
    )
    add_output(parser, "folder for the CSV and JSON results (default: none)", required=False)
    parser.add_argument(
        "--selection",
        default="nonzero",
        choices=EVAL_SELECTIONS,
        help=f"binary protocols: which predicted layers are foreground: {selections} "
        "(default nonzero)",
    )
    parser.add_argument(
        "--cut",
        type=int,
        default=10,
        help="frames per cut for --selection exhaustive/greedy, at least 1 (default 10)",
    )
    parser.add_argument(
        "--candidates",
        default="nonzero",
        choices=("nonzero", "all"),
        help="davis17: predicted labels that may match an object; nonzero (all but the "
        "background: label 0, as the DAVIS-2017 scorer, or motion.json's) or all (default "
        "nonzero)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads reading and scoring frames, 1 to 64 (default: CPU count, max 8)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=BOUNDARY_TOLERANCE,
        help="contour tolerance: fraction of the image diagonal (at most 0.05), or pixels if "
        f">= 1 (at most 50) (default {BOUNDARY_TOLERANCE}, the DAVIS value)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from motionlayers.eval.report import format_table, write_report
    from motionlayers.eval.runner import evaluate_folders

    result = evaluate_folders(
        args.pred,
        args.gt,
        protocol=args.protocol,
        selection=args.selection,
        cut=args.cut,
        candidates=args.candidates,
        workers=args.workers,
        tolerance=args.tolerance,
        sequences=None if args.sequences is None else args.sequences.split(","),
    )
    print(format_table(result))
    if args.output is not None:
        paths = write_report(result, args.output)
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0
