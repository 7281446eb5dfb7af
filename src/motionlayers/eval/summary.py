"""Per-sequence and overall scores from per-frame scores, as each protocol averages them.

Per sequence (per object for ``davis17``), every score gets the DAVIS statistics: mean, recall
(fraction above 0.5) and decay (see `statistics`). Overall:

- ``average == "sequences"`` (DAVIS-2016) or ``"objects"`` (DAVIS-2017): the mean of the
  per-sequence (per-object) statistics;
- ``average == "frames"`` (FBMS59, SegTrackV2, MoCA): ``<score>_mean`` and ``<score>_recall``
  over all scored frames, and ``<score>_mean_of_sequences`` beside them;
- ``JF_mean = (J_mean + F_mean) / 2`` when both are scored; MoCA adds ``J_box_success@t``, the
  fraction of frames whose box IoU exceeds ``t`` for ``t`` in 0.5, 0.6, ..., 0.9, and their mean.
"""

from __future__ import annotations

import numpy as np

from motionlayers.eval.records import EvaluationResult
from motionlayers.eval.statistics import davis_statistics

SUCCESS_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""Box IoU thresholds of the MoCA success rates."""


def score_names(result: EvaluationResult) -> list[str]:
    """Names of the per-frame scores present, the protocol's own first."""
    names = list(result.protocol.metrics)
    for record in result.frames:
        names += [k for k in record.scores if k not in names]
    return names


def summarise(result: EvaluationResult) -> None:
    """Fill ``result.sequences`` and ``result.overall`` from ``result.frames``."""
    names = score_names(result)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, record in enumerate(result.frames):
        groups.setdefault((record.sequence, record.object), []).append(i)
    rows: list[dict[str, object]] = []
    for (sequence, obj), indices in groups.items():
        row: dict[str, object] = {"sequence": sequence}
        if result.protocol.multi_object:
            row["object"] = obj
            row["segment"] = result.frames[indices[0]].segment
        row["frames"] = len(indices)
        for name in names:
            values = np.array([result.frames[i].scores.get(name, np.nan) for i in indices])
            stats = davis_statistics(values)
            row.update(
                {
                    f"{name}_mean": stats.mean,
                    f"{name}_recall": stats.recall,
                    f"{name}_decay": stats.decay,
                }
            )
        rows.append(row)
    result.sequences = rows
    result.overall = _overall(result, rows, names)


def _overall(
    result: EvaluationResult, rows: list[dict[str, object]], names: list[str]
) -> dict[str, float]:
    overall: dict[str, float] = {}

    def row_mean(key: str) -> float:
        values = np.array([float(r[key]) for r in rows])  # type: ignore[arg-type]
        values = values[~np.isnan(values)]
        return float(values.mean()) if values.size else float("nan")

    for name in names:
        if result.protocol.average == "frames":
            values = np.array([r.scores.get(name, np.nan) for r in result.frames])
            values = values[~np.isnan(values)]
            overall[f"{name}_mean"] = float(values.mean()) if values.size else float("nan")
            overall[f"{name}_recall"] = (
                float((values > 0.5).mean()) if values.size else float("nan")
            )
            overall[f"{name}_mean_of_sequences"] = row_mean(f"{name}_mean")
        else:
            for stat in ("mean", "recall", "decay"):
                overall[f"{name}_{stat}"] = row_mean(f"{name}_{stat}")
    if "J" in names and "F" in names:
        overall["JF_mean"] = (overall["J_mean"] + overall["F_mean"]) / 2
    if "J_box" in names:
        boxes = np.array([r.scores["J_box"] for r in result.frames])
        rates = [
            float((boxes > t).mean()) if boxes.size else float("nan") for t in SUCCESS_THRESHOLDS
        ]
        overall.update({f"J_box_success@{t}": r for t, r in zip(SUCCESS_THRESHOLDS, rates)})
        overall["J_box_success_mean"] = float(np.mean(rates))
    return overall
