"""Evaluate a segmentation against DAVIS-style ground truth.

Writes a small synthetic data set in the DAVIS layout (``JPEGImages/<seq>/<frame>.jpg``,
``Annotations/<seq>/<frame>.png``, exact labels: `motionlayers.data.write_synthetic_dataset`,
what ``motionlayers synth flow --mode frames`` writes), segments the folder of sequences with
`motionlayers.pipeline.segment_source` (one output folder per sequence, as ``motionlayers
segment JPEGImages -o PRED`` does) and scores it with `motionlayers.eval.evaluate_folders`
under the davis16 protocol (what ``motionlayers evaluate PRED Annotations --protocol davis16``
prints: J and F per sequence, the first and last annotated frames left out as the official
scorer does). On real DAVIS, give its frames and annotations folders and the sequences to
score: ``--frames DAVIS/JPEGImages/480p --annotations DAVIS/Annotations/480p --sequences
blackswan camel`` (about 10 frames/s on two cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from motionlayers.data import SynthConfig, write_synthetic_dataset
from motionlayers.eval import evaluate_folders, format_table
from motionlayers.pipeline import segment_source


def synthetic_davis(root: Path, sequences: int, frames: int) -> tuple[Path, Path]:
    """``(frames folder, annotations folder)`` of ``sequences`` synthetic 128x224 sequences."""
    config = SynthConfig(height=128, width=224, layers=2)
    write_synthetic_dataset(root, sequences, config, seed=5, mode="frames", frames=frames)
    return root / "JPEGImages", root / "Annotations"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="out/examples/evaluate_davis")
    parser.add_argument("--frames", type=Path, help="DAVIS JPEGImages/480p (default: synthetic)")
    parser.add_argument("--annotations", type=Path, help="DAVIS Annotations/480p")
    parser.add_argument("--sequences", nargs="+", default=["blackswan"], help="with --frames")
    parser.add_argument("--quick", action="store_true", help="two short synthetic sequences")
    args = parser.parse_args(argv)
    output = Path(args.output)
    predictions = output / "predictions"
    if args.frames:
        if args.annotations is None:
            parser.error("--frames needs --annotations")
        annotations, names = args.annotations, args.sequences
        for name in names:  # one folder of frames each -> predictions/<name>/
            result = segment_source(args.frames / name, predictions / name, progress=False)
            print(result.summary())
    else:
        count, length = (2, 4) if args.quick else (4, 12)
        frames, annotations = synthetic_davis(output / "data", count, length)
        names = None  # every sequence
        result = segment_source(frames, predictions, progress=False)  # predictions/<seq>/
        print(result.summary())
    scores = evaluate_folders(predictions, annotations, protocol="davis16", sequences=names)
    print(format_table(scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
