"""Records of an evaluation: the frames to score, per-frame scores, and the whole result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from motionlayers.eval.predictions import Prediction
from motionlayers.eval.protocols import Protocol
from motionlayers.eval.selection import SegmentSelection


@dataclass(frozen=True)
class SequenceFiles:
    """The frames of one sequence to score: ``(stem, gt_path, pred_path)``, those skipped, and
    the prediction they come from (its layout and, for a segment output, each frame's layers)."""

    name: str
    frames: list[tuple[str, Path, Path]]
    skipped: list[str]
    prediction: Prediction | None = None


@dataclass
class FrameRecord:
    """Scores of one frame (of one object for ``davis17``; object 1 = the foreground else).

    ``segment`` is the predicted label matched to the object (``davis17``; -1: none), else None.
    """

    sequence: str
    frame: str
    object: int
    scores: dict[str, float]
    segment: int | None = None


@dataclass
class EvaluationResult:
    """Everything an evaluation produced; `summary` fills ``sequences`` and ``overall``."""

    protocol: Protocol
    selection: SegmentSelection | None
    frames: list[FrameRecord]
    frames_skipped: int
    settings: dict[str, object] = field(default_factory=dict)
    sequences: list[dict[str, object]] = field(default_factory=list)
    overall: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def frames_scored(self) -> int:
        """Number of (sequence, frame) pairs scored."""
        return len({(r.sequence, r.frame) for r in self.frames})

    @property
    def sequence_count(self) -> int:
        """Number of sequences with at least one scored frame."""
        return len({r.sequence for r in self.frames})
