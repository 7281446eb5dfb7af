"""Flow volumes for training: ``T`` consecutive flows of one source, as ST-MS (T = 3) reads them.

`FlowVolumeDataset` views a `FlowFolderDataset` (videos, frame folders or flow files, cached) as
volumes of ``T`` consecutive flows that never cross from one source to the next; a volume that
would reach past either end of a source is left out (the authors' "Ignore" boundary mode).
`split_by_source` holds whole sources out for validation, so that the validation loss, which
selects the checkpoint, is measured on videos the network never trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.data.folders import FlowFolderDataset
from motionlayers.errors import InputError


class FlowVolumeDataset(Dataset):
    """Volumes of ``frames`` consecutive flows from ``flows`` (a `FlowFolderDataset`).

    Args:
        flows: the per-flow dataset.
        frames: T, flows per volume (3 for ST-MS's triplets).
        sources: keep only volumes of these sources (paths as in ``flows.items``); None: all.

    Items:
        ``{"flow": (2, T, H, W) float32, "source": str, "index": int}`` (``index``: the
        position of the volume's first flow in its source).
    """

    def __init__(
        self, flows: FlowFolderDataset, frames: int = 3, sources: Sequence[str] | None = None
    ):
        if frames < 1:
            raise InputError("frames", f"need at least one flow per volume, got {frames}")
        self.flows, self.frames = flows, frames
        wanted = None if sources is None else set(sources)
        self.starts: list[int] = []
        for index, (_path, source, position) in enumerate(flows.items):
            if wanted is not None and source not in wanted:
                continue
            end = index + frames - 1
            if end < len(flows.items):
                _, last_source, last_position = flows.items[end]
                if last_source == source and last_position == position + frames - 1:
                    self.starts.append(index)

    @property
    def sources(self) -> list[str]:
        """The sources (in order of appearance) that give at least one volume."""
        return list(dict.fromkeys(self.flows.items[i][1] for i in self.starts))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict:
        start = self.starts[index]
        volume = np.stack([np.load(self.flows.items[start + s][0]) for s in range(self.frames)])
        _, source, position = self.flows.items[start]
        return {
            "flow": torch.from_numpy(np.ascontiguousarray(volume.transpose(1, 0, 2, 3))),
            "source": source,
            "index": position,
        }


def split_by_source(
    flows: FlowFolderDataset, frames: int, val_fraction: float, seed: int
) -> tuple[FlowVolumeDataset, FlowVolumeDataset]:
    """``(train, val)`` volumes with ``val_fraction`` of the sources held out (at least one, at
    most all but one; seeded). A single source is split in time instead: its last
    ``val_fraction`` of volumes (and none that overlaps them) are the validation set."""
    every = FlowVolumeDataset(flows, frames)
    names = every.sources
    if len(every) < 2:
        raise InputError(
            "data.source", f"needs at least two volumes of {frames} flows (train, validation)"
        )
    if len(names) >= 2:
        count = min(len(names) - 1, max(1, round(len(names) * val_fraction)))
        order = np.random.default_rng(seed).permutation(len(names))
        held = {names[i] for i in order[:count]}
        train = FlowVolumeDataset(flows, frames, [n for n in names if n not in held])
        val = FlowVolumeDataset(flows, frames, sorted(held))
        return train, val
    count = min(len(every) - 1, max(1, round(len(every) * val_fraction)))
    train, val = FlowVolumeDataset(flows, frames), FlowVolumeDataset(flows, frames)
    val.starts = every.starts[-count:]
    # training volumes end before the first validation volume starts (no shared flow)
    train.starts = [s for s in every.starts if s + frames - 1 < val.starts[0]] or every.starts[:1]
    return train, val
