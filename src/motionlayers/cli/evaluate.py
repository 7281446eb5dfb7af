"""``motionlayers evaluate PRED GT --protocol P``: score predicted masks against ground truth."""

from __future__ import annotations

import argparse
import sys

from motionlayers.eval.contours import BOUNDARY_TOLERANCE
from motionlayers.eval.protocols import PROTOCOLS
from motionlayers.eval.report import format_table, write_report
from motionlayers.eval.runner import evaluate_folders
from motionlayers.eval.selection import SELECTIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    selections = ", ".join(
        f"{s.name}{' (uses GT)' if s.uses_ground_truth else ''}" for s in SELECTIONS.values()
    )
    parser = subparsers.add_parser(
        "evaluate",
        help="score predicted masks against ground truth (J, F, box IoU)",
        description=(
            "Score PRED against GT, two folders of <sequence>/<frame>.png masks (binary 0/255 "
            "or label PNGs; frames pair by name; predictions are resized to the ground truth's "
            "size by nearest neighbour). Prints a per-sequence table, the overall scores and "
            "which frames were scored; --out writes per_frame.csv, per_sequence.csv and "
            "summary.json. davis16 scores every annotated frame but the first and the last of "
            "each sequence, as the official DAVIS-2016 scorer; the other protocols score them "
            "all. Binary protocols (davis16, fbms, segtrack, moca) merge all ground-truth "
            "objects into one foreground, and by default every non-zero predicted label is "
            "foreground (--selection changes that)."
        ),
    )
    parser.add_argument("pred", help="folder of predicted masks: <sequence>/<frame>.png")
    parser.add_argument("gt", help="folder of ground-truth masks: <sequence>/<frame>.png")
    parser.add_argument(
        "--protocol", required=True, choices=list(PROTOCOLS), help="benchmark protocol"
    )
    parser.add_argument("--out", default=None, help="folder for the CSV and JSON results")
    parser.add_argument(
        "--selection",
        default="nonzero",
        choices=list(SELECTIONS),
        help=f"binary protocols: which predicted layers are foreground: {selections} "
        "(default nonzero)",
    )
    parser.add_argument(
        "--cut",
        type=int,
        default=10,
        help="frames per cut for --selection exhaustive/greedy (default 10)",
    )
    parser.add_argument(
        "--candidates",
        default="nonzero",
        choices=("nonzero", "all"),
        help="davis17: predicted labels that may match an object; nonzero (label 0 is "
        "background, as the DAVIS-2017 scorer) or all (default nonzero)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads reading and scoring frames (default: CPU count, max 8)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=BOUNDARY_TOLERANCE,
        help="contour tolerance: fraction of the image diagonal, or pixels if >= 1 "
        f"(default {BOUNDARY_TOLERANCE}, the DAVIS value)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = evaluate_folders(
        args.pred,
        args.gt,
        protocol=args.protocol,
        selection=args.selection,
        cut=args.cut,
        candidates=args.candidates,
        workers=args.workers,
        tolerance=args.tolerance,
    )
    print(format_table(result))
    if args.out is not None:
        paths = write_report(result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0
