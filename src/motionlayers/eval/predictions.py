"""The prediction layouts `evaluate` reads, and the background of each predicted frame.

A prediction folder ``PRED`` holds, for each ground-truth sequence ``<seq>`` (each detected on
its own, so layouts may mix):

- **label PNGs** ``PRED/<seq>/<frame>.png`` (the DAVIS convention): label 0 is the background;
- **a segment output** ``PRED/<seq>/masks/<frame>.png`` + ``PRED/<seq>/motion.json``, as
  ``motionlayers segment`` writes for each sequence of a folder of sequences: the background of a
  frame is its ``"background"`` in motion.json, and its foreground is every other label.

``PRED`` may also be one sequence's prediction in either layout (``PRED/<frame>.png``, or
``PRED/masks`` + ``PRED/motion.json``, the output of ``segment`` on one video): then the ground
truth is that sequence's folder of masks, or a folder of sequences and ``--sequences`` names the
one. Ground truth of one sequence ``GT/<seq>`` against a folder of sequences reads
``PRED/<seq>``. ``PRED`` naming the ``masks`` folder of a segment output reads the motion.json
beside it, so that an output whose background is not label 0 is never scored as if it were.

``foreground/`` folders are not read: they hold no layers (the selections that use the ground
truth and ``davis17`` need them) and ``masks/`` with motion.json give the same foreground. A
segment output's ``foreground/<frame>.png`` folder can still be scored as label PNGs of one
sequence.

A motion.json that disagrees with its masks is an error, not a score: its frame stems must be
those of ``masks/``, each frame's background must be one of its layers, every label of a mask
one of its frame's layers, and the background must appear in the sequence's scored masks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionlayers.errors import InputError
from motionlayers.io.masks import list_masks, read_mask_compact

MOTION_JSON = "motion.json"
MASKS = "masks"
MAX_MOTION_JSON_BYTES = 256 * 2**20
"""A motion.json larger than this (256 MiB, some million frames) is refused unread."""


@dataclass(frozen=True)
class FrameLayers:
    """What motion.json says of one frame: its background label and its layers' labels (None
    when motion.json lists no layers)."""

    background: int
    labels: frozenset[int] | None


@dataclass(frozen=True)
class Prediction:
    """One sequence's predicted masks by stem, and their layers when it is a segment output."""

    folder: Path
    masks: dict[str, Path]
    layers: dict[str, FrameLayers] | None = None
    motion_json: Path | None = None


def resolve_prediction_root(path: Path) -> Path:
    """``path``, or the segment output around it when ``path`` is that output's ``masks``."""
    if path.name == MASKS and (path.parent / MOTION_JSON).is_file():
        return path.parent
    return path


def is_segment_output(folder: Path) -> bool:
    """Whether ``folder`` holds a ``masks`` folder or a motion.json (then it must hold both)."""
    return (folder / MASKS).is_dir() or (folder / MOTION_JSON).is_file()


def open_prediction(folder: Path) -> Prediction:
    """The masks of one predicted sequence, in either layout (see the module docstring).

    Raises:
        InputError: no mask, a segment output missing its masks or motion.json, or a
            motion.json that does not describe the masks.
    """
    if not is_segment_output(folder):
        return Prediction(folder, dict(list_masks(folder)))
    masks_dir, motion_json = folder / MASKS, folder / MOTION_JSON
    if not masks_dir.is_dir():
        raise InputError(folder, f"has {MOTION_JSON} but no {MASKS}/ folder")
    if not motion_json.is_file():
        raise InputError(
            folder, f"has {MASKS}/ but no {MOTION_JSON}: the background of its frames is unknown"
        )
    masks = dict(list_masks(masks_dir))
    layers = read_frame_layers(motion_json)
    _check_stems(motion_json, masks_dir, set(masks), set(layers))
    return Prediction(folder, masks, layers, motion_json)


def read_frame_layers(path: Path) -> dict[str, FrameLayers]:
    """Each frame's background and layer labels from a segment output's motion.json, by stem.

    Raises:
        InputError: unreadable or not JSON, no ``"frames"`` list, a frame without a string
            ``"stem"`` or a non-negative integer ``"background"``, a background that is not one
            of the frame's layers, or a stem listed twice.
    """
    size = path.stat().st_size
    if size > MAX_MOTION_JSON_BYTES:
        raise InputError(
            path, f"{size / 2**20:.0f} MiB: larger than the {MAX_MOTION_JSON_BYTES >> 20} MiB read"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(path, f"cannot read JSON ({error})") from error
    frames = record.get("frames") if isinstance(record, dict) else None
    if not isinstance(frames, list):
        hint = " (a per-window event segmentation?)" if isinstance(record, dict) else ""
        raise InputError(path, f'no "frames" list of per-frame layers{hint}')
    out: dict[str, FrameLayers] = {}
    for i, frame in enumerate(frames):
        stem, layers = _frame_layers(path, i, frame)
        if stem in out:
            raise InputError(path, f"frame {stem!r} is listed twice")
        out[stem] = layers
    return out


def _frame_layers(path: Path, i: int, frame: object) -> tuple[str, FrameLayers]:
    where = f"frames[{i}]"
    if not isinstance(frame, dict):
        raise InputError(path, f"{where} is not an object")
    stem, background = frame.get("stem"), frame.get("background")
    if not isinstance(stem, str) or not stem:
        raise InputError(path, f'{where} has no "stem" string')
    if not _is_label(background):
        raise InputError(
            path, f'frame {stem!r}: "background" must be a label >= 0, got {background!r}'
        )
    assert isinstance(background, int)
    labels = None
    if "layers" in frame:
        layers = frame["layers"]
        if not isinstance(layers, list):
            raise InputError(path, f'frame {stem!r}: "layers" is not a list')
        labels = frozenset(
            layer.get("label", k) if isinstance(layer, dict) else -1
            for k, layer in enumerate(layers)
        )
        if not all(_is_label(label) for label in labels):
            raise InputError(path, f'frame {stem!r}: a layer has no "label" >= 0')
        if background not in labels:
            raise InputError(
                path,
                f"frame {stem!r}: background label {background} is not one of its layers "
                f"{sorted(labels)}",
            )
    return stem, FrameLayers(background, labels)


def _is_label(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_stems(motion_json: Path, masks_dir: Path, masks: set[str], frames: set[str]) -> None:
    """motion.json must list exactly the frames of masks/."""
    if masks == frames:
        return
    parts = []
    for stems, what in (
        (masks - frames, f"mask(s) of {masks_dir} not listed"),
        (frames - masks, f"frame(s) listed without a mask in {masks_dir.name}/"),
    ):
        if stems:
            shown = ", ".join(sorted(stems)[:5]) + (", ..." if len(stems) > 5 else "")
            parts.append(f"{len(stems)} {what} ({shown})")
    raise InputError(motion_json, "does not match its masks: " + "; ".join(parts))


class PredictionReader:
    """Reads one sequence's predicted masks as the scoring wants them; thread-safe.

    With motion.json (``relabel``, and a background other than 0 in some frame): each frame's
    background becomes label 0 and every other label ``k`` becomes ``k + 1``, so that label 0 is
    the background for every selection and for ``davis17``, and the other layers keep their
    identity over the sequence even when the background layer changes from frame to frame.
    `segment_label` maps a label back. The labels are checked against motion.json either way.
    """

    def __init__(self, prediction: Prediction, relabel: bool = True):
        self.prediction = prediction
        layers = prediction.layers or {}  # a background of 0 throughout needs no renaming
        self.relabel = relabel and any(f.background != 0 for f in layers.values())
        self._absent: list[tuple[str, int]] = []

    def read(self, stem: str) -> np.ndarray:
        """``(H, W)`` labels of frame ``stem`` (relabelled as the class docstring says)."""
        path = self.prediction.masks[stem]
        labels = read_mask_compact(path)
        layers = self.prediction.layers
        if layers is None:
            return labels
        frame = layers[stem]
        present = _labels_present(labels)
        if frame.labels is not None:
            extra = sorted(present - frame.labels)
            if extra:
                raise InputError(
                    path,
                    f"labels {extra} are not layers of frame {stem!r} in "
                    f"{self.prediction.motion_json} ({sorted(frame.labels)})",
                )
        if frame.background not in present:  # list.append is atomic: workers read at once
            self._absent.append((stem, frame.background))
        return background_first(labels, frame.background) if self.relabel else labels

    def segment_label(self, label: int) -> int:
        """The mask's own label of a (relabelled) segment label; -1 (no segment) stays -1."""
        return label - 1 if self.relabel and label > 0 else label

    def finish(self, scored: int) -> str | None:
        """After the ``scored`` frames were read: raise if the background never appeared in
        them, else a note naming the frames without background (None if there are none)."""
        if not self._absent:
            return None
        stems = sorted(stem for stem, _ in self._absent)
        masks = self.prediction.folder / MASKS
        if len(stems) >= scored:
            backgrounds = ", ".join(str(b) for b in sorted({b for _, b in self._absent}))
            raise InputError(
                self.prediction.motion_json or self.prediction.folder,
                f"its background label ({backgrounds}) appears in none of the {scored} scored "
                f"masks of {masks}: it does not describe these masks",
            )
        shown = ", ".join(stems[:5]) + (", ..." if len(stems) > 5 else "")
        return (
            f"{self.prediction.folder.name}: {len(stems)} frame(s) without a background pixel "
            f"(scored as all foreground): {shown}"
        )


def _labels_present(labels: np.ndarray) -> set[int]:
    if labels.dtype in (np.uint8, np.uint16):  # a bincount is much faster than np.unique
        return set(np.flatnonzero(np.bincount(labels.reshape(-1))).tolist())
    return set(np.unique(labels).tolist())


def background_first(labels: np.ndarray, background: int) -> np.ndarray:
    """``(H, W)`` labels with ``background`` as 0 and every other label ``k`` as ``k + 1``."""
    top = int(labels.max()) if labels.size else 0
    dtype = labels.dtype if top < np.iinfo(labels.dtype).max else np.int64
    out = labels.astype(dtype) + 1
    out[labels == background] = 0
    return out
