"""The pieces of a dataset run under Lightning (`motionlayers.pipeline.datasets`): a
LightningModule whose ``predict_step`` segments one sequence, and the split of the sequences
between ranks. Module-level classes, so that ``ddp_spawn`` can pickle them; this module imports
Lightning, which only a multi-process run needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L


class SequenceSegmenter(L.LightningModule):
    """``predict_step((name, path))`` writes ``out/<name>/`` (`segment_source`) and returns the
    name; it has no weights of its own (the segmentation method loads in each process)."""

    def __init__(self, out: Path, options: dict[str, Any]):
        super().__init__()
        self.out = out
        self.options = options

    def predict_step(self, batch: tuple[str, Path], batch_idx: int) -> str:
        from motionlayers.pipeline.datasets import _segment_one

        return _segment_one(batch, self.out, self.options)


class RankSplit:
    """Items ``r, r + n, r + 2n, ...`` for rank ``r`` of ``n``, read from torch.distributed when
    the loader is iterated (after Lightning has launched the ranks).

    Lightning's own distributed sampler pads the last ranks with repeated items when the count
    does not divide: a repeated sequence would be written twice, concurrently. This split gives
    each sequence to exactly one rank."""

    def __init__(self, items: list[tuple[str, Path]]):
        self.items = items

    def _mine(self) -> list[tuple[str, Path]]:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return self.items[dist.get_rank() :: dist.get_world_size()]
        return self.items

    def __len__(self) -> int:
        return len(self._mine())

    def __getitem__(self, index: int) -> tuple[str, Path]:
        return self._mine()[index]


__all__ = ["RankSplit", "SequenceSegmenter"]
