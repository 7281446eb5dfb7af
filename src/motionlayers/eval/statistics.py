"""Per-sequence statistics of per-frame scores, as the DAVIS benchmark reports them.

- **Mean** (M): the average score over the scored frames.
- **Recall** (O): the fraction of scored frames whose score exceeds 0.5.
- **Decay** (D): the mean score over the first quarter of the scored frames minus the mean over
  the last quarter. The n scored frames are cut into 4 bins at the 5 positions
  ``round(linspace(1, n, 5)) - 1`` (0-based, halves rounded up), each bin running from one
  position to the next, both included, so neighbouring bins share a frame.

NaN scores (frames not scored) are ignored by all three, as the DAVIS scorer does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SequenceStatistics(NamedTuple):
    """DAVIS statistics of one sequence's per-frame scores (NaN when no frame was scored)."""

    mean: float
    recall: float
    decay: float


def davis_statistics(values: np.ndarray) -> SequenceStatistics:
    """Mean, recall and decay of a sequence's per-frame scores (``(T,)``, NaN = not scored).

    Example:
        >>> davis_statistics(np.array([1.0, 1.0, 0.0, 0.0]))
        SequenceStatistics(mean=0.5, recall=0.5, decay=1.0)
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    scored = values[~np.isnan(values)]
    if scored.size == 0:
        return SequenceStatistics(float("nan"), float("nan"), float("nan"))
    mean = float(scored.mean())
    recall = float(np.mean(scored > 0.5))
    # +1e-9 rounds halves up (np.round rounds them to even), as the DAVIS scorer does.
    edges = (np.round(np.linspace(1, scored.size, 5) + 1e-9) - 1).astype(np.int64)
    first = scored[edges[0] : edges[1] + 1]
    last = scored[edges[3] : edges[4] + 1]
    return SequenceStatistics(mean, recall, float(first.mean() - last.mean()))
