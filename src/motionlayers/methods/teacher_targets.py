"""Self-training targets for event windows: a teacher network's answer, refined on the window.

The test-time refinement of EV-LayerSegNet (`motionlayers.events.compensation.refine_window`:
translation search plus motion-compensation EM, seconds per window) is far more accurate than
the network's single pass on simulated data (IoU 0.59 vs 0.43 for the deblurring-only model;
after self-training 0.62 and 0.57, `docs/benchmarks.md`). Training a network towards
those refined answers, next to its deblurring loss, moves that accuracy into the fast single
pass and gives the refinement a better start. No ground truth is used: the targets are computed
from the events alone.

Targets cost seconds per window, so they are cached on disk, one file per window, named by a
hash of the window's events and of the teacher (its weights and hyperparameters) and the
refinement's settings: any source of windows (simulated or recorded) can be wrapped, several
data-loader workers can share the cache, and an interrupted run loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import Dataset

from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path
from motionlayers.methods.weights import safe_load

if TYPE_CHECKING:  # evlayerseg imports this module
    from motionlayers.methods.evlayerseg import EVLayerSegMethod

__all__ = ["RefinedTargets", "model_fingerprint"]

TARGETS_VERSION = 1
"""Bump when the refinement changes: cached targets of older versions are then ignored."""


def model_fingerprint(model: torch.nn.Module) -> str:
    """A hex digest of a model's hyperparameters and tensors (as float32): equal for the same
    network whether read from a checkpoint or a float32 weights file."""
    digest = hashlib.sha1()
    hparams = dict(getattr(model, "hparams", {}))
    digest.update(json.dumps(hparams, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class RefinedTargets(Dataset):
    """A dataset of event windows plus the teacher's refined answer for each window.

    Items are those of ``source`` (``"input"`` ``(C, H, W)`` and ``"events"`` ``(N, 4)`` rows
    ``x, y, t, p`` with ``t`` in ``[0, 1]``) with, added, ``"target_masks"`` ``(K, H, W)`` and
    ``"target_theta"`` ``(K, 2, 3)`` (pixels per window): the teacher's masks and motions on the
    window as ``segment --refine refine_iterations`` answers
    (`EVLayerSegMethod.refined_answer`; 0: the teacher's single pass).

    Args:
        source: the windows.
        teacher: an `EVLayerSegMethod` whose input representation is that of ``source``.
        cache_dir: folder of the cached targets (created); a sub-folder per teacher and settings.
        refine_iterations: EM iterations per refinement round.
    """

    def __init__(
        self,
        source: Dataset,
        teacher: EVLayerSegMethod,
        cache_dir: str | Path,
        refine_iterations: int = 10,
    ) -> None:
        if refine_iterations < 0:
            raise InputError("refine_iterations", f"must be >= 0, got {refine_iterations}")
        self.source, self.teacher = source, teacher
        self.refine_iterations = int(refine_iterations)
        key = f"v{TARGETS_VERSION}-{model_fingerprint(teacher)}-r{self.refine_iterations}"
        self.cache = Path(cache_dir) / ("targets-" + hashlib.sha1(key.encode()).hexdigest()[:16])
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(self.cache, f"cannot create the targets cache: {error}") from error

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.source[index])
        events = item["events"]
        name = hashlib.sha1(events.numpy().tobytes()).hexdigest()[:24] + ".pt"
        path = self.cache / name
        stored = _read_cached(path)
        if stored is None:
            masks, theta = self.teacher.refined_answer(
                item["input"], events, self.refine_iterations
            )
            stored = {"masks": masks.half().cpu(), "theta": theta.float().cpu()}
            with atomic_path(path) as partial:  # a reader never sees half a file
                torch.save(stored, partial)
        item["target_masks"] = stored["masks"].float()
        item["target_theta"] = stored["theta"].float()
        return item


def _read_cached(path: Path) -> dict[str, torch.Tensor] | None:
    """The targets cached in ``path``, read safely (`weights.safe_load`); None when there are
    none, or when the file is not a complete cache entry (a foreign or damaged file is then
    recomputed and replaced)."""
    if not path.is_file():
        return None
    try:
        stored = safe_load(path)
    except InputError:
        return None
    tensors = all(isinstance(stored.get(k), torch.Tensor) for k in ("masks", "theta"))
    return stored if tensors else None
