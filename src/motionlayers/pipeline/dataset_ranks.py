"""A dataset's sequences under Lightning's ``Trainer.predict`` (`motionlayers.pipeline.datasets`):
one rank per device and node, each segmenting its share of the sequences, one per step.

- The split is ours (`motionlayers.pipeline.datasets.rank_share`, ``use_distributed_sampler=
  False``): Lightning's DistributedSampler pads the last ranks with repeated items when the
  count does not divide, and a repeated sequence would be written twice, concurrently. Our
  shares are padded with None steps that do nothing instead.
- A failing sequence is recorded, not raised, so the other ranks and sequences go on. At the end
  of the epoch every rank gathers the failures of all (``all_gather_object``: also a barrier, so
  that no rank reads the outputs back before every rank has written its own) and rank 0 hands
  them to the process that called ``predict``: through ``trainer.callback_metrics`` (as JSON in a
  uint8 tensor), which is what Lightning sends back from ``ddp_spawn``'s workers.

The classes live at module level so that ``ddp_spawn`` can pickle them; this module imports
Lightning, which only these runs need.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from motionlayers.errors import InputError
from motionlayers.pipeline.datasets import Item, SequenceFailure, rank_share, segment_item

FAILURES_KEY = "motionlayers_dataset_failures"
"""The ``callback_metrics`` entry that carries the gathered failures back to the caller."""


class _Share(Dataset):
    """A rank's share of the sequences: ``(name, path)`` items, or None (a padding step)."""

    def __init__(self, share: list[Item | None]):
        self.share = share

    def __len__(self) -> int:
        return len(self.share)

    def __getitem__(self, index: int) -> Item | None:
        return self.share[index]


def _single(batch: list[Item | None]) -> Item | None:
    """Collate a batch of one: the item itself (a path is not a tensor)."""
    return batch[0]


class SequenceSegmenter(L.LightningModule):
    """``predict_step`` segments one sequence into ``out/<name>/`` (`segment_item`). It has no
    weights: the segmentation method loads in each rank, on the rank's device."""

    def __init__(self, items: list[Item], out: Path, options: dict[str, Any]):
        super().__init__()
        self.items = items
        self.out = out
        self.options = options
        self.failures: list[SequenceFailure] = []

    def predict_dataloader(self) -> DataLoader:
        share = rank_share(self.items, self.trainer.global_rank, self.trainer.world_size)
        return DataLoader(_Share(share), batch_size=1, shuffle=False, collate_fn=_single)

    def predict_step(self, batch: Item | None, batch_idx: int) -> str:
        """The sequence's name ("" for a padding step; a value, so Lightning does not warn)."""
        if batch is None:
            return ""
        options = dict(self.options)
        if options.get("device", "cpu") != "cpu":
            options["device"] = str(self.device)  # the rank's own GPU, not every rank's cuda:0
        with torch.enable_grad():  # as a plain segment_source call runs (methods may refine)
            failure = segment_item(batch, self.out, options)
        if failure is not None:
            self.failures.append(failure)
        return batch[0]

    def on_predict_epoch_end(self) -> None:
        if dist.is_available() and dist.is_initialized():
            gathered: list[list[SequenceFailure] | None] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, self.failures)
            self.failures = [f for rank in gathered for f in rank or []]
        text = json.dumps([asdict(f) for f in self.failures]).encode()
        self.trainer.callback_metrics[FAILURES_KEY] = torch.tensor(list(text), dtype=torch.uint8)


def predict_sequences(
    items: list[Item],
    out: Path,
    options: dict[str, Any],
    devices: int | str | list[int] | None,
    strategy: str | None,
    num_nodes: int,
    progress: bool,
) -> tuple[list[SequenceFailure], int]:
    """Segment ``items`` with ``Trainer.predict`` (module doc); returns the failures of every
    rank, in the items' order, and this process's global rank.

    Raises:
        InputError: Lightning refuses ``devices``, ``strategy`` or ``num_nodes``.
    """
    try:
        trainer = L.Trainer(
            accelerator="cpu" if options.get("device", "cpu") == "cpu" else "auto",
            devices="auto" if devices is None else devices,
            strategy="auto" if strategy is None else strategy,
            num_nodes=num_nodes,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
            use_distributed_sampler=False,
            inference_mode=False,
        )
    except Exception as error:  # Lightning's MisconfigurationException, ValueError, ...
        raise InputError("--devices/--strategy/--num-nodes", str(error)) from None
    module = SequenceSegmenter(items, out, options)
    trainer.predict(module, return_predictions=False)
    carried = trainer.callback_metrics.get(FAILURES_KEY)
    if carried is None:
        found = module.failures
    else:
        found = [SequenceFailure(**f) for f in json.loads(bytes(carried.tolist()).decode())]
    order = {name: index for index, (name, _) in enumerate(items)}
    return sorted(found, key=lambda f: order[f.name]), trainer.global_rank


__all__ = ["FAILURES_KEY", "SequenceSegmenter", "predict_sequences"]
