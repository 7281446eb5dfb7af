"""Methods compared through the real command on DAVIS-2016: ``segment`` on the whole dataset,
then ``evaluate`` (davis16 protocol: J = mean of sequence means), one row per method and K.

    PYTHONPATH=src .venv/bin/python benchmarks/davis_methods.py --methods em:2 em:4 st:2 st:4

Every row runs `motionlayers.segment_source` on ``--root``/JPEGImages/240p (what
``motionlayers segment JPEGImages/240p -o PRED --method M --layers K`` does: the same flow, the
same post-processing for every method) into a temporary folder, then scores it:

- **no GT**: the foreground that ``segment`` writes (every layer but the background of
  ``motion.json``; segment's ``--foreground-rule`` and ``--foreground-cut``, ``border`` and 1 by
  default, or ``--rules`` and ``--cuts``);
- **GT bound**: the best subset of the written layers per cut of 10 frames, chosen with the
  ground truth (thesis eq. 3.11, all 2^K subsets), labelled as using ground truth.

``method:K:CHECKPOINT`` runs a checkpoint instead of the shipped model (its K). ``--raw``
turns segment's post-processing off (no smoothing, absorption, snapping, colour, border or hole
steps: the network's linked layers upsampled), as the thesis scores its ablations (Table 3.1,
with ``--linking greedy``: its greedy linking in cuts of 10 frames). Prints a Markdown table;
times are the whole command's (flow included) per frame.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from motionlayers.eval import evaluate_folders
from motionlayers.pipeline.segmentation import segment_source

DEFAULT_ROOT = Path("/work/shared/data/davis2016-train")
RAW = {
    "temporal_radius": 0,
    "explained_ratio": 0.0,
    "snap_radius": 0.0,
    "colour_weight": 0.0,
    "border_limit": 0.0,
    "hole_fraction": 0.0,
}
"""segment's options that turn its post-processing off."""


def _j(pred: Path, gt: Path, selection: str, sequences: list[str]) -> float:
    result = evaluate_folders(pred, gt, "davis16", selection=selection, cut=10, sequences=sequences)
    return float(result.overall["J_mean"])


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    frames, gt = root / "JPEGImages" / "240p", root / "Annotations" / "480p"
    if not frames.is_dir() or not gt.is_dir():
        print(
            f"error: DAVIS-2016 not found under {root} (JPEGImages/240p, Annotations/480p); "
            "pass --root",
            file=sys.stderr,
        )
        return 1
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        names = sorted(d.name for d in frames.iterdir() if d.is_dir())
        if args.sequences is not None:  # a dataset of the first N sequences (links)
            subset = Path(tmp_name) / "frames"
            for seq in names[: args.sequences]:
                (subset / seq).parent.mkdir(parents=True, exist_ok=True)
                (subset / seq).symlink_to((frames / seq).resolve())
            frames, names = subset, names[: args.sequences]
        for spec in args.methods:
            name, _, rest = spec.partition(":")
            layers_text, _, checkpoint = rest.partition(":")
            for rule, cut in [(r, c) for r in args.rules for c in args.cuts]:
                out = Path(tmp_name) / f"{name}-{layers_text}-{rule}-{cut}"
                options: dict[str, object] = {
                    "foreground_rule": rule,
                    "foreground_cut": cut,
                    "linking": args.linking,
                    **(RAW if args.raw else {}),
                }
                if rule == "saliency" and args.saliency_model:
                    options["saliency_model"] = args.saliency_model
                if checkpoint:
                    options["checkpoint"] = checkpoint
                elif layers_text:
                    options["layers"] = int(layers_text)
                start = time.perf_counter()
                result = segment_source(frames, out, name, progress=not args.no_progress, **options)
                seconds = time.perf_counter() - start
                count = int(result.frames)
                scores = {
                    "no GT": _j(out, gt, "nonzero", names),
                    "GT bound": _j(out, gt, "exhaustive", names),
                }
                rows.append((spec, f"{rule}, cut {cut}", scores, seconds / max(count, 1), count))
                print(f"{spec} {rule} {cut}: {scores} {seconds:.0f} s", file=sys.stderr, flush=True)
    print(
        f"\nDAVIS-2016 train ({len(names)} sequences), segment defaults but the method "
        f"and K, linking {args.linking}{', no post-processing' if args.raw else ''}, "
        f"{args.threads} torch thread(s)\n"
    )
    print("| method | foreground rule | J no GT | J GT bound (cut 10) | s / frame | frames |")
    print("|---|---|---:|---:|---:|---:|")
    for spec, rule, scores, spf, count in rows:
        print(
            f"| {spec} | {rule} | {100 * scores['no GT']:.1f} | "
            f"{100 * scores['GT bound']:.1f} | {spf:.3f} | {count} |"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="DAVIS-2016 folder")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["em:2", "em:4", "st:2", "st:4"],
        help="METHOD[:K[:CHECKPOINT]] rows",
    )
    parser.add_argument(
        "--rules", nargs="+", default=["border"], help="segment's --foreground-rule values"
    )
    parser.add_argument(
        "--saliency-model", default=None, help="the saliency rule's classifier (default: shipped)"
    )
    parser.add_argument(
        "--cuts", nargs="+", type=int, default=[1], help="segment's --foreground-cut values"
    )
    parser.add_argument("--linking", default="hungarian", help="segment's --linking")
    parser.add_argument("--raw", action="store_true", help="no post-processing (see above)")
    parser.add_argument("--sequences", type=int, default=None, help="first N sequences only")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
