"""Evaluate a folder of predicted masks against a folder of ground truth, under a protocol.

Both folders hold ``<sequence>/<frame>.png`` (or ``.bmp``) label maps; a folder holding mask
images directly is one sequence. Frames pair by file stem. Every ground-truth frame the protocol
scores must have a prediction (missing ones are an error that names them); predictions for other
frames are ignored. Predictions of another size are resized to the ground truth's by nearest
neighbour. Frames are read and scored by a thread pool (OpenCV, Pillow and NumPy release the GIL).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from motionlayers.errors import InputError
from motionlayers.eval.contours import BOUNDARY_TOLERANCE
from motionlayers.eval.protocols import Protocol, get_protocol, scored_frames
from motionlayers.eval.records import EvaluationResult, SequenceFiles
from motionlayers.eval.scoring import score_binary_sequence, score_object_sequence
from motionlayers.eval.selection import get_selection
from motionlayers.eval.summary import summarise
from motionlayers.io.listing import natural_key
from motionlayers.io.masks import list_masks


def collect_sequences(
    pred_root: str | Path, gt_root: str | Path, protocol: Protocol
) -> list[SequenceFiles]:
    """Pair ground-truth and predicted frames; raise `InputError` naming any missing prediction."""
    pred_root, gt_root = Path(pred_root), Path(gt_root)
    for root, what in ((gt_root, "ground-truth"), (pred_root, "prediction")):
        if not root.is_dir():
            raise InputError(
                root,
                f"{what} folder does not exist"
                if not root.exists()
                else f"{what} path is not a folder",
            )
    folders = sorted(
        (d for d in gt_root.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: natural_key(d.name),
    )
    pairs = [(d, pred_root / d.name) for d in folders] or [(gt_root, pred_root)]
    sequences, missing = [], []
    for gt_dir, pred_dir in pairs:
        stems = list_masks(gt_dir)
        scored, skipped = scored_frames([s for s, _ in stems], protocol)
        gt_paths = dict(stems)
        try:
            predicted = dict(list_masks(pred_dir))
        except InputError:
            predicted = {}
        name = gt_dir.name
        missing += [f"{name}/{s}" for s in scored if s not in predicted]
        frames = [(s, gt_paths[s], predicted[s]) for s in scored if s in predicted]
        sequences.append(SequenceFiles(name, frames, skipped))
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise InputError(
            pred_root, f"{len(missing)} ground-truth frame(s) have no prediction: {shown}"
        )
    return sequences


def evaluate_folders(
    pred_root: str | Path,
    gt_root: str | Path,
    protocol: str | Protocol = "davis16",
    selection: str = "nonzero",
    cut: int = 10,
    candidates: str = "nonzero",
    workers: int | None = None,
    tolerance: float = BOUNDARY_TOLERANCE,
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Score the predictions of ``pred_root`` against ``gt_root``.

    Args:
        protocol: a `Protocol` or its name (``davis16``, ``davis17``, ``fbms``, ``segtrack``,
            ``moca``).
        selection: binary protocols: how predicted layers become the foreground (see
            `selection.SELECTIONS`); ignored by ``davis17``.
        cut: frames per cut for the ``exhaustive`` and ``greedy`` selections.
        candidates: ``davis17``: ``"nonzero"`` (label 0 is background, as the DAVIS-2017 scorer
            reads results) or ``"all"`` (every predicted label may match an object).
        workers: threads reading and scoring frames (default: the CPU count, at most 8).
        tolerance: contour-accuracy tolerance (fraction of the diagonal, or pixels if >= 1).
        progress: called with each sequence name once it is scored.
    """
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if candidates not in ("nonzero", "all"):
        raise InputError("candidates", f"unknown value {candidates!r}; valid: nonzero, all")
    chosen = None if protocol.multi_object else get_selection(selection)
    sequences = collect_sequences(pred_root, gt_root, protocol)
    workers = workers or min(os.cpu_count() or 1, 8)
    result = EvaluationResult(protocol, chosen, [], sum(len(s.skipped) for s in sequences))
    result.settings = {
        "prediction": str(pred_root),
        "ground_truth": str(gt_root),
        "boundary_tolerance": tolerance,
    }
    if protocol.multi_object:
        result.settings["candidates"] = candidates
    elif chosen is not None and chosen.name in ("exhaustive", "greedy"):
        result.settings["cut"] = cut
    multi_object_gt = False
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for seq in sequences:
            if not seq.frames:
                result.notes.append(f"{seq.name}: no frame to score")
                continue
            if protocol.multi_object:
                records = score_object_sequence(pool, seq, candidates, tolerance)
                if not records:
                    result.notes.append(f"{seq.name}: no ground-truth object")
            else:
                assert chosen is not None
                records, several = score_binary_sequence(
                    pool, seq, protocol, chosen, cut, tolerance
                )
                multi_object_gt |= several
            result.frames += records
            if progress is not None:
                progress(seq.name)
    if protocol.name == "fbms" and multi_object_gt:
        result.notes.append(
            "multi-object ground truth: bootstrap IoU (bIoU) and linear-"
            "assignment J (LA_J) added, averaged over frames with an object"
        )
    else:
        for record in result.frames:
            record.scores.pop("bIoU", None)
            record.scores.pop("LA_J", None)
    summarise(result)
    return result
