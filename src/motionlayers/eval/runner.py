"""Evaluate a folder of predicted masks against a folder of ground truth, under a protocol.

The ground truth holds ``<sequence>/<frame>.png`` (or ``.bmp``) label maps; a folder holding mask
images directly is one sequence. Predictions are label PNGs ``PRED/<sequence>/<frame>.png``
(label 0 = background) or ``segment`` outputs ``PRED/<sequence>/masks`` + ``motion.json`` (the
background of each frame from motion.json), see `predictions`. Every ground-truth sequence needs
a prediction, or only those named by ``sequences``. Frames pair by file stem; every ground-truth
frame the protocol scores must have a prediction (missing ones are an error that names them);
predictions for other frames are ignored. Predictions of another size but the same aspect ratio
are resized to the ground truth's by nearest neighbour. Frames are read and scored by a thread
pool (OpenCV, Pillow and NumPy release the GIL).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from motionlayers.errors import InputError
from motionlayers.eval.contours import BOUNDARY_TOLERANCE, check_tolerance
from motionlayers.eval.predictions import (
    PredictionReader,
    is_segment_output,
    open_prediction,
    resolve_prediction_root,
)
from motionlayers.eval.protocols import Protocol, get_protocol, scored_frames
from motionlayers.eval.records import EvaluationResult, SequenceFiles
from motionlayers.eval.scoring import score_binary_sequence, score_object_sequence
from motionlayers.eval.selection import get_selection
from motionlayers.eval.summary import summarise
from motionlayers.io.listing import natural_key
from motionlayers.io.masks import MASK_EXTENSIONS, list_masks

MAX_WORKERS = 64
"""Most threads `evaluate_folders` starts."""


def _shown(names: Sequence[str], limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _check_folder(root: Path, what: str) -> None:
    if not root.is_dir():
        problem = "folder does not exist" if not root.exists() else "path is not a folder"
        raise InputError(root, f"{what} {problem}")


def _visible_folders(root: Path) -> list[Path]:
    """Sub-folders of ``root`` in natural order, hidden ones (staging folders) left out."""
    folders = (d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return sorted(folders, key=lambda d: natural_key(d.name))


def _ground_truth_sequences(gt_root: Path, sequences: Sequence[str] | None) -> list[Path]:
    """The ground-truth sequence folders to score (``gt_root`` itself when it is one)."""
    folders = _visible_folders(gt_root)
    if not folders:
        try:
            list_masks(gt_root)
        except InputError:
            raise InputError(
                gt_root, "ground-truth folder holds no sequence folder and no mask image"
            ) from None
        folders = [gt_root]
    if sequences is None:
        return folders
    if isinstance(sequences, str):
        sequences = sequences.split(",")
    wanted = list(dict.fromkeys(sequences))  # in the given order, each once
    if not wanted or any(not name or name.strip() != name for name in wanted):
        raise InputError("sequences", f"expected sequence names, got {list(sequences)!r}")
    known = {d.name: d for d in folders}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise InputError(
            gt_root,
            f"no ground-truth sequence {_shown(unknown)} (it has: {_shown(list(known))})",
        )
    return [known[name] for name in wanted]


def _prediction_folders(
    pred_root: Path, gt_root: Path, gt_dirs: list[Path], subset: bool
) -> list[Path]:
    """The prediction folder of each ground-truth sequence (see the module docstring)."""
    if gt_dirs == [gt_root]:
        inner = pred_root / gt_root.name  # PRED/<seq> of a folder of sequences
        if not is_segment_output(pred_root) and inner.is_dir() and not _holds_masks(pred_root):
            return [inner]
        return [pred_root]
    if is_segment_output(pred_root):
        if len(gt_dirs) == 1:
            return [pred_root]
        raise InputError(
            pred_root,
            f"is the segment output of one sequence, and {gt_root} holds {len(gt_dirs)}: give "
            "that sequence's ground-truth folder or name it with --sequences",
        )
    folders = [pred_root / d.name for d in gt_dirs]
    missing = [d.name for d, p in zip(gt_dirs, folders) if not p.is_dir()]
    if missing:
        if len(missing) == len(gt_dirs) and not any(pred_root.iterdir()):
            raise InputError(pred_root, "prediction folder is empty")
        hint = "" if subset else " (--sequences scores a subset)"
        raise InputError(
            pred_root,
            f"no prediction for {len(missing)} of the {len(gt_dirs)} ground-truth sequences: "
            f"{_shown(missing)}{hint}",
        )
    return folders


def _holds_masks(folder: Path) -> bool:
    return any(p.suffix.lower() in MASK_EXTENSIONS and p.is_file() for p in folder.iterdir())


def collect_sequences(
    pred_root: str | Path,
    gt_root: str | Path,
    protocol: Protocol,
    sequences: Sequence[str] | None = None,
) -> list[SequenceFiles]:
    """Pair ground-truth and predicted frames of every sequence (or of ``sequences``).

    Raises:
        InputError: a missing or empty folder, an unknown sequence name, a missing prediction
            (naming the sequences or frames), or a segment output whose motion.json does not
            match its masks.
    """
    pred_root, gt_root = Path(pred_root), Path(gt_root)
    _check_folder(gt_root, "ground-truth")
    _check_folder(pred_root, "prediction")
    pred_root = resolve_prediction_root(pred_root)
    gt_dirs = _ground_truth_sequences(gt_root, sequences)
    pred_dirs = _prediction_folders(pred_root, gt_root, gt_dirs, sequences is not None)
    out, missing = [], []
    for gt_dir, pred_dir in zip(gt_dirs, pred_dirs):
        stems = list_masks(gt_dir)
        scored, skipped = scored_frames([s for s, _ in stems], protocol)
        gt_paths = dict(stems)
        prediction = open_prediction(pred_dir)
        missing += [f"{gt_dir.name}/{s}" for s in scored if s not in prediction.masks]
        frames = [(s, gt_paths[s], prediction.masks[s]) for s in scored if s in prediction.masks]
        out.append(SequenceFiles(gt_dir.name, frames, skipped, prediction))
    if missing:
        raise InputError(
            pred_root, f"{len(missing)} ground-truth frame(s) have no prediction: {_shown(missing)}"
        )
    return out


def _background_settings(files: list[SequenceFiles]) -> dict[str, object]:
    """Where the predicted background came from: ``"motion.json"``, ``"label 0"`` or
    ``"mixed"`` (then with the sequences read from motion.json)."""
    from_json = [s.name for s in files if s.prediction and s.prediction.layers is not None]
    if len(from_json) == len(files):
        return {"background": "motion.json"}
    if not from_json:
        return {"background": "label 0"}
    return {"background": "mixed", "background_from_motion_json": from_json}


def _check_options(cut: int, workers: int | None, tolerance: float) -> None:
    """Numeric options; NaN fails every comparison, so it is refused too."""
    if not cut >= 1:
        raise InputError("cut", f"must be at least 1 frame, got {cut}")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InputError("workers", f"must be in [1, {MAX_WORKERS}], got {workers}")
    check_tolerance(tolerance)


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
    sequences: Sequence[str] | None = None,
) -> EvaluationResult:
    """Score the predictions of ``pred_root`` against ``gt_root``.

    ``pred_root`` holds label PNGs ``<sequence>/<frame>.png`` (label 0 = background) or
    ``segment`` outputs ``<sequence>/masks/`` + ``<sequence>/motion.json`` (each frame's
    background from motion.json); for one ground-truth sequence, it is that sequence's
    prediction (see `motionlayers.eval.predictions`).

    Args:
        protocol: a `Protocol` or its name (``davis16``, ``davis17``, ``fbms``, ``segtrack``,
            ``moca``).
        selection: binary protocols: how predicted layers become the foreground (see
            `selection.SELECTIONS`); ignored by ``davis17``.
        cut: frames per cut for the ``exhaustive`` and ``greedy`` selections.
        candidates: ``davis17``: ``"nonzero"`` (label 0 is background, as the DAVIS-2017 scorer
            reads results) or ``"all"`` (every predicted label may match an object).
        workers: threads reading and scoring frames (default: the CPU count, at most 8).
        tolerance: contour-accuracy tolerance (fraction of the diagonal, or pixels if >= 1;
            see `contours.check_tolerance` for the bounds).
        progress: called with each sequence name once it is scored.
        sequences: names of the ground-truth sequences to score, or one comma-separated
            string (default: all of them, each of which then needs a prediction).

    Raises:
        InputError: a bad option, a missing, empty or corrupt input (naming the file), or a
            prediction that does not fit its ground truth or its motion.json.
    """
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if candidates not in ("nonzero", "all"):
        raise InputError("candidates", f"unknown value {candidates!r}; valid: nonzero, all")
    chosen = None if protocol.multi_object else get_selection(selection)
    _check_options(cut, workers, tolerance)
    files = collect_sequences(pred_root, gt_root, protocol, sequences)
    workers = workers or min(os.cpu_count() or 1, 8)
    result = EvaluationResult(protocol, chosen, [], sum(len(s.skipped) for s in files))
    result.settings = {
        "prediction": str(pred_root),
        "ground_truth": str(gt_root),
        "boundary_tolerance": tolerance,
        **_background_settings(files),
    }
    if sequences is not None:
        result.settings["sequences"] = [s.name for s in files]
    if protocol.multi_object:
        result.settings["candidates"] = candidates
    elif chosen is not None and chosen.name in ("exhaustive", "greedy"):
        result.settings["cut"] = cut
    multi_object_gt = False
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for seq in files:
            if not seq.frames:
                result.notes.append(f"{seq.name}: no frame to score")
                continue
            assert seq.prediction is not None
            # davis17 with every label a candidate has no use for the background
            relabel = not (protocol.multi_object and candidates == "all")
            reader = PredictionReader(seq.prediction, relabel)
            if protocol.multi_object:
                records = score_object_sequence(pool, seq, reader, candidates, tolerance)
                if not records:
                    result.notes.append(f"{seq.name}: no ground-truth object")
            else:
                assert chosen is not None
                records, several = score_binary_sequence(
                    pool, seq, reader, protocol, chosen, cut, tolerance
                )
                multi_object_gt |= several
            note = reader.finish(len(seq.frames))
            if note is not None:
                result.notes.append(note)
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
