"""Benchmark protocols: what is scored, on which frames, and how scores are averaged.

Every protocol reads ground truth as ``<root>/<sequence>/<frame>.png`` label maps, predictions
as label maps too (label PNGs, or ``segment`` outputs whose background comes from motion.json,
see `predictions`), and pairs frames by file stem. Binary protocols (``davis16``, ``fbms``,
``segtrack``, ``moca``) group all non-zero ground-truth labels into one foreground (thesis 2.4.2,
as MoSeg does) and turn predictions into a foreground with a segment selection (default
``nonzero``: every predicted label but the background is foreground). ``davis17`` matches
segments to objects instead.

Frames scored and averages, with their sources:

- ``davis16``: J and F on every annotated frame **except the first and the last** of each
  sequence. The official DAVIS-2016 Python scorer (fperazzi/davis,
  ``python/lib/davis/dataset/loader.py``, ``DAVISAnnotationLoader._eval``) scores
  ``annotations[1:-1]`` and pads the first and last frames with NaN; the thesis author's fork
  (Etienne-Meunier/davis) keeps that, and the recalls J(O) of thesis Table 7.1 fit it and
  not a count over all frames: libby 0.553 = 26/47 (49 frames), motocross-jump 0.737 = 28/38
  (40 frames), bmx-trees 0.756 = 59/78 (80 frames); ST-MS blackswan 0.833 = 40/48 (50 frames).
  Overall: the mean over sequences of the sequence means (thesis Table 2.2).
- ``davis17`` (unsupervised, DAVIS-2017-motion in the thesis): J and F on **all** annotated
  frames (davis2017-evaluation strips the first and last frames only for the semi-supervised
  task); per sequence, Hungarian matching of predicted segments to objects on the sequence mean
  of ``(J + F) / 2``; ground-truth label 255 is void. Overall: the mean over all
  (sequence, object) pairs, as davis2017-evaluation averages.
- ``fbms`` and ``segtrack``: J and F on all annotated frames; overall: the mean over all scored
  frames (thesis Table 2.2: "the average of scores over all samples"; Tables 7.2 and 7.3 list
  both averages and the thesis reports the frame average). The mean of sequence means is given
  too. When FBMS ground truth holds several objects, bootstrap IoU and linear-assignment J
  (thesis Table 4.5) are added, both averaged over frames.
- ``moca``: box IoU of the prediction's largest connected region against the ground-truth box
  (thesis 2.4.2, after MoSeg), on all annotated frames, averaged over frames; success rates at
  IoU thresholds 0.5 to 0.9 are added.
"""

from __future__ import annotations

from dataclasses import dataclass

from motionlayers.errors import InputError


@dataclass(frozen=True)
class Protocol:
    """One benchmark protocol.

    Attributes:
        name: command-line name.
        title: human name.
        multi_object: match segments to objects (True) or score one foreground (False).
        metrics: per-frame score names, ``("J", "F")`` or ``("J_box",)``.
        skip_first_last: leave out the first and last annotated frame of each sequence.
        average: ``"sequences"``, ``"frames"`` or ``"objects"``: what the overall score averages.
        frames_note: which frames are scored, in words (printed and saved).
        average_note: how the overall score is formed, in words.
    """

    name: str
    title: str
    multi_object: bool
    metrics: tuple[str, ...]
    skip_first_last: bool
    average: str
    frames_note: str
    average_note: str


_FRAME_AVERAGE = "mean over all scored frames (the mean of sequence means is given too)"

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "davis16",
            "DAVIS-2016",
            False,
            ("J", "F"),
            True,
            "sequences",
            "every annotated frame except the first and the last of each sequence "
            "(official DAVIS-2016 scorer, fperazzi/davis)",
            "mean over sequences of the sequence means",
        ),
        Protocol(
            "davis17",
            "DAVIS-2017 unsupervised",
            True,
            ("J", "F"),
            False,
            "objects",
            "every annotated frame (davis2017-evaluation, unsupervised task)",
            "mean over (sequence, object) pairs after per-sequence Hungarian matching on (J+F)/2",
        ),
        Protocol(
            "fbms",
            "FBMS-59",
            False,
            ("J", "F"),
            False,
            "frames",
            "every annotated frame",
            _FRAME_AVERAGE,
        ),
        Protocol(
            "segtrack",
            "SegTrackV2",
            False,
            ("J", "F"),
            False,
            "frames",
            "every annotated frame",
            _FRAME_AVERAGE,
        ),
        Protocol(
            "moca",
            "MoCA",
            False,
            ("J_box",),
            False,
            "frames",
            "every annotated frame; box of the largest predicted region vs ground-truth box",
            _FRAME_AVERAGE,
        ),
    )
}
"""Protocols by name."""


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; an unknown name fails with the list of valid names."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise InputError(
            "protocol", f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}"
        ) from None


def scored_frames(stems: list[str], protocol: Protocol) -> tuple[list[str], list[str]]:
    """Split a sequence's annotated frame stems (in order) into ``(scored, skipped)``."""
    if protocol.skip_first_last:
        if len(stems) <= 2:
            return [], list(stems)
        return stems[1:-1], [stems[0], stems[-1]]
    return list(stems), []
