"""Evaluation reports: a terminal table, and CSV/JSON files written atomically.

Files written in the output folder (each complete or absent, never half-written):

- ``per_frame.csv``: ``sequence, frame[, object, segment], <scores>``, one row per scored frame
  (per object for ``davis17``);
- ``per_sequence.csv``: ``sequence[, object, segment], frames, <score>_mean, <score>_recall,
  <score>_decay``;
- ``summary.json``: protocol, which frames were scored and how the overall score is averaged,
  the segment selection (and whether it reads the ground truth), settings, counts, overall
  scores and notes. NaN is written as ``null``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from motionlayers import __version__
from motionlayers.eval.records import EvaluationResult
from motionlayers.eval.summary import score_names
from motionlayers.io.atomic import atomic_directory, atomic_path

_SHORT = {"mean": "M", "recall": "O", "decay": "D"}


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def describe(result: EvaluationResult) -> list[str]:
    """The header lines: protocol, counts, frames scored, selection, averaging."""
    p = result.protocol
    lines = [
        f"{p.title} ({p.name}): {result.sequence_count} sequences, {result.frames_scored} "
        f"frames scored, {result.frames_skipped} annotated frames skipped",
        f"frames scored: {p.frames_note}",
        f"overall score: {p.average_note}",
    ]
    if result.selection is not None:
        s = result.selection
        uses = "yes" if s.uses_ground_truth else "no"
        lines.append(f"segment selection: {s.name} ({s.description}; uses ground truth: {uses})")
    if "candidates" in result.settings:
        candidates = str(result.settings["candidates"])
        lines.append(f"candidate segments: {candidates} ({_CANDIDATES.get(candidates)})")
    background = result.settings.get("background")
    if background is not None:
        lines.append(
            f"predicted background: {_BACKGROUND_SOURCES.get(str(background), background)}"
        )
    return lines + [f"note: {n}" for n in result.notes]


_CANDIDATES = {
    "nonzero": "every predicted label but the background",
    "all": "every predicted label, the background included",
}
_BACKGROUND_SOURCES = {
    "motion.json": "each frame's background layer, from motion.json (segment outputs)",
    "label 0": "label 0 (label PNGs)",
    "mixed": "from motion.json for segment outputs, label 0 for label PNGs",
}


def format_table(result: EvaluationResult) -> str:
    """Header lines, the per-sequence table and the overall scores, as printed by the CLI."""
    names = score_names(result)
    stats = ("mean",) if result.protocol.average == "frames" else ("mean", "recall", "decay")
    columns = [f"{n}_{s}" for n in names for s in stats]
    titles = [n if len(stats) == 1 else f"{n}({_SHORT[s]})" for n in names for s in stats]
    keys = ["sequence"] + (["object", "segment"] if result.protocol.multi_object else [])
    head = [k.capitalize() for k in keys] + ["Frames"] + titles
    body = [
        [_fmt(row[k]) for k in keys] + [str(row["frames"])] + [_fmt(row[c]) for c in columns]
        for row in result.sequences
    ]
    overall_row = ["Overall"] + [""] * (len(keys) - 1) + [str(result.frames_scored)]
    overall_row += [_fmt(result.overall.get(c, float("nan"))) for c in columns]
    widths = [max(len(r[i]) for r in [head, overall_row, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < len(keys) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        )

    rule = "-" * len(line(head))
    table = [line(head), rule, *(line(r) for r in body), rule, line(overall_row)]
    extras = [
        f"{k} = {_fmt(v)}"
        for k, v in result.overall.items()
        if k == "JF_mean" or "success" in k or "of_sequences" in k
    ]
    return "\n".join(describe(result) + [""] + table + ([""] + extras if extras else []))


def write_report(result: EvaluationResult, out_dir: str | Path) -> list[Path]:
    """Write ``per_frame.csv``, ``per_sequence.csv`` and ``summary.json`` in ``out_dir``, each
    complete or not at all; other files there are never touched, and a file of these names that
    motionlayers did not write is never replaced (`motionlayers.io.atomic.atomic_directory`)."""
    out_dir = Path(out_dir)
    names = score_names(result)
    multi = result.protocol.multi_object
    frame_head = ["sequence", "frame"] + (["object", "segment"] if multi else []) + names
    frame_rows = [
        [r.sequence, r.frame]
        + ([r.object, r.segment] if multi else [])
        + [_csv(r.scores.get(n, float("nan"))) for n in names]
        for r in result.frames
    ]
    seq_head = list(result.sequences[0]) if result.sequences else ["sequence", "frames"]
    seq_rows = [[_csv(row[k]) for k in seq_head] for row in result.sequences]
    entries = ("per_frame.csv", "per_sequence.csv", "summary.json")
    with atomic_directory(out_dir, kind="evaluate", entries=entries) as stage:
        _write_csv(stage / entries[0], frame_head, frame_rows)
        _write_csv(stage / entries[1], seq_head, seq_rows)
        with atomic_path(stage / entries[2]) as tmp:
            tmp.write_text(json.dumps(summary_dict(result), indent=2) + "\n", encoding="utf-8")
    return [out_dir / name for name in entries]


def summary_dict(result: EvaluationResult) -> dict[str, object]:
    """The JSON summary as a dictionary (NaN replaced by None)."""
    p = result.protocol
    selection = None
    if result.selection is not None:
        s = result.selection
        selection = {
            "name": s.name,
            "uses_ground_truth": s.uses_ground_truth,
            "description": s.description,
        }
    return {
        "protocol": p.name,
        "title": p.title,
        "frames_scored_rule": p.frames_note,
        "skips_first_and_last_frame": p.skip_first_last,
        "average": p.average,
        "average_rule": p.average_note,
        "selection": selection,
        "settings": result.settings,
        "sequences": result.sequence_count,
        "frames_scored": result.frames_scored,
        "frames_skipped": result.frames_skipped,
        "overall": {k: _json(v) for k, v in result.overall.items()},
        "notes": result.notes,
        "motionlayers_version": __version__,
    }


def _json(value: float) -> float | None:
    return None if math.isnan(value) else value


def _csv(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}"
    return "" if value is None else value


def _write_csv(path: Path, head: list[str], rows: list[list[object]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(head)
        writer.writerows(rows)
