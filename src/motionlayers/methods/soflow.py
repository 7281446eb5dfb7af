"""SoFlow (thesis appendix D) and a RAFT-small variant: a recurrent flow network trained here.

`SoFlowMethod` trains `motionlayers.nets.flownet.RecurrentFlowNet` on image pairs
(`motionlayers.data.flow_pairs`) with, per item:

- **supervised** items (generated pairs with exact flow): the L1 distance to the true flow on
  the valid pixels, weighted over iterations (RAFT, eq. 7.35-7.36);
- **unsupervised** items (real video, or any item when ``supervision="unsupervised"``): the
  photometric penalty (SSIM as the thesis, census, or both) on the visible pixels plus the
  edge-aware first-order smoothness (eq. 7.37-7.40, alpha = 20), over iterations as well. With
  ``occlusion`` the pair is run both ways and the forward-backward check masks the occluded
  pixels (UnFlow; the thesis's results use none, spec C.4).

The validation loss selects the checkpoint: the end-point error on held-out generated pairs
(exact flow, not labels of any real data), or the unsupervised loss when the validation items
have no flow. ``export_weights`` writes a shipped model; `load_soflow_model` reads it back, and
`motionlayers.methods.flow_backend` runs it as a flow backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import ConcatDataset, Dataset

from motionlayers.errors import InputError
from motionlayers.losses.flow import (
    PHOTOMETRIC,
    SEQUENCE_GAMMA,
    SMOOTHNESS_ALPHA,
    edge_aware_smoothness,
    endpoint_error,
    forward_backward_occlusion,
    masked_mean,
    photometric_loss,
    sequence_loss,
)
from motionlayers.methods.weights import load_trained, write_weights
from motionlayers.nets.flownet import FLOW_VARIANTS, flow_network

SUPERVISIONS = ("mixed", "supervised", "unsupervised")
"""``mixed``: each item by what it has (flow: supervised, none: unsupervised)."""


class SoFlowMethod(L.LightningModule):
    """The flow network as a LightningModule; every argument is a hyperparameter.

    Args:
        variant: ``"soflow"`` (stride 1/2, local correlation) or ``"raft-small"`` (1/8, all
            pairs); see `motionlayers.nets.flownet.FLOW_VARIANTS`.
        net: overrides of the variant's `RecurrentFlowNet` arguments.
        train_iterations, test_iterations: network updates in training and at inference.
        supervision: `SUPERVISIONS`.
        photometric: the photometric penalty (`motionlayers.losses.flow.PHOTOMETRIC`).
        smoothness_weight, alpha: weight and edge sensitivity of the smoothness term.
        occlusion: forward-backward occlusion masks in the unsupervised term.
        gamma: weight decay over iterations.
        lr, weight_decay: AdamW; the rate follows a one-cycle schedule over ``max_steps`` when
            the trainer knows it (warmup 5 %, RAFT's schedule).
        seed: kept for the recipe (the data are seeded by it).
    """

    def __init__(
        self,
        variant: str = "soflow",
        net: dict[str, Any] | None = None,
        train_iterations: int = 6,
        test_iterations: int = 12,
        supervision: str = "mixed",
        photometric: str = "ssim+census",
        smoothness_weight: float = 1.0,
        alpha: float = SMOOTHNESS_ALPHA,
        occlusion: bool = True,
        gamma: float = SEQUENCE_GAMMA,
        lr: float = 4e-4,
        weight_decay: float = 1e-5,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if variant not in FLOW_VARIANTS:
            raise InputError("variant", f"unknown {variant!r}; valid: {', '.join(FLOW_VARIANTS)}")
        if supervision not in SUPERVISIONS:
            raise InputError("supervision", f"unknown {supervision!r}; valid: {SUPERVISIONS}")
        if photometric not in PHOTOMETRIC:
            raise InputError("photometric", f"unknown {photometric!r}; valid: {PHOTOMETRIC}")
        self.net = flow_network(variant, **(net or {}))
        self.weights_meta: dict[str, Any] = {}

    def forward(
        self, frame0: torch.Tensor, frame1: torch.Tensor, iterations: int | None = None
    ) -> torch.Tensor:
        """The final flow ``(B, 2, H, W)`` (pixels) between frames ``(B, 3, H, W)`` RGB [0, 1]."""
        count = iterations or int(self.hparams["test_iterations"])
        return self.net(frame0, frame1, iterations=count)[-1]

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The training loss and its parts for a batch (see the module doc)."""
        hp = self.hparams
        frame0, frame1 = batch["frame0"].float(), batch["frame1"].float()
        supervised = self._supervised(batch)
        occlusion = bool(hp["occlusion"]) and not bool(supervised.all())
        if occlusion:  # both directions in one pass
            flows = self.net(
                torch.cat((frame0, frame1)),
                torch.cat((frame1, frame0)),
                int(hp["train_iterations"]),
            )
        else:
            flows = self.net(frame0, frame1, int(hp["train_iterations"]))
        gamma = float(hp["gamma"])
        batch_size = frame0.shape[0]
        total = frame0.new_zeros(())
        parts: dict[str, torch.Tensor] = {}
        if supervised.any():
            valid = batch["valid"].float() * supervised.view(-1, 1, 1)
            truth = batch["flow"].float()

            def l1(flow: torch.Tensor) -> torch.Tensor:
                return masked_mean((flow[:batch_size] - truth).abs().sum(1), valid)

            parts["supervised"] = sequence_loss(flows, l1, gamma)
            parts["epe"] = endpoint_error(flows[-1][:batch_size].detach(), truth, valid)
            total = total + parts["supervised"]
        if not supervised.all():
            parts["unsupervised"] = sequence_loss(
                flows,
                lambda f: self._unsupervised(f, frame0, frame1, ~supervised, occlusion),
                gamma,
            )
            total = total + parts["unsupervised"]
        parts["loss"] = total
        return parts

    def _supervised(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)`` bool: the items trained against their true flow."""
        size = batch["frame0"].shape[0]
        mode = self.hparams["supervision"]
        if mode == "unsupervised" or "flow" not in batch:
            return torch.zeros(size, dtype=torch.bool, device=batch["frame0"].device)
        has_flow = batch.get("supervised")
        if has_flow is None:
            has_flow = torch.ones(size, device=batch["frame0"].device)
        if mode == "supervised" and not bool(has_flow.bool().all()):
            raise InputError("supervision", "supervised training got items without true flow")
        return has_flow.bool()

    def _unsupervised(
        self,
        flows: torch.Tensor,
        frame0: torch.Tensor,
        frame1: torch.Tensor,
        items: torch.Tensor,
        occlusion: bool,
    ) -> torch.Tensor:
        """Photometric + smoothness of one iteration's flows on the ``items (B,)`` (bool)
        chosen; ``flows`` holds the backward flows after the forward ones with ``occlusion``."""
        hp = self.hparams
        kind, alpha, weight = hp["photometric"], hp["alpha"], hp["smoothness_weight"]
        frame0, frame1 = frame0[items], frame1[items]
        forward = flows[: items.shape[0]][items]
        if not occlusion:
            smooth = edge_aware_smoothness(forward, frame0, alpha)
            return photometric_loss(frame0, frame1, forward, kind) + weight * smooth
        backward = flows[items.shape[0] :][items]
        loss = photometric_loss(
            frame0, frame1, forward, kind, forward_backward_occlusion(forward, backward)
        ) + photometric_loss(
            frame1, frame0, backward, kind, forward_backward_occlusion(backward, forward)
        )
        smooth = edge_aware_smoothness(forward, frame0, alpha)
        smooth = smooth + edge_aware_smoothness(backward, frame1, alpha)
        return (loss + weight * smooth) / 2

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        parts = self.losses(batch)
        size = batch["frame0"].shape[0]
        for name, value in parts.items():
            self.log(f"train_{name}", value, prog_bar=name in ("loss", "epe"), batch_size=size)
        return parts["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        frame0, frame1 = batch["frame0"].float(), batch["frame1"].float()
        size = frame0.shape[0]
        if self._supervised(batch).all():
            flow = self(frame0, frame1)
            loss = endpoint_error(flow, batch["flow"].float(), batch["valid"].float())
        else:
            loss = self.losses(batch)["loss"]
        self.log("val_loss", loss, prog_bar=True, on_epoch=True, batch_size=size)
        return loss

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimiser = torch.optim.AdamW(
            self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"], eps=1e-8
        )
        steps = getattr(getattr(self, "_trainer", None), "max_steps", -1)
        if not steps or steps < 10:
            return optimiser
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser,
            hp["lr"],
            total_steps=steps + 100,
            pct_start=0.05,
            cycle_momentum=False,
            anneal_strategy="linear",
        )
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class _PairItems(Dataset):
    """Items with the keys training reads and ``supervised`` 1 (a generated pair with its exact
    flow) or 0 (a real pair: zero flow and no valid pixel, so that it batches with the others)."""

    def __init__(self, source: Dataset, supervised: bool):
        self.source, self.supervised = source, supervised

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.source[index]
        frame0, frame1 = item["frame0"], item["frame1"]
        if self.supervised:
            flow, valid = item["flow"], item["valid"]
        else:
            flow, valid = torch.zeros(2, *frame0.shape[-2:]), torch.zeros(frame0.shape[-2:])
        flag = torch.tensor(float(self.supervised))
        return {
            "frame0": frame0,
            "frame1": frame1,
            "flow": flow,
            "valid": valid,
            "supervised": flag,
        }


GENERATED = ("synthetic", "small-objects")
"""Generated sources of ``data.source`` (exact flow); any other value is a path of video."""


def _generated(
    kind: str, length: int, seed: int, height: int, width: int, textures: Any = None
) -> Dataset:
    from motionlayers.data import SmallObjectPairs, SyntheticFramePairs

    if kind == "synthetic":
        pairs = SyntheticFramePairs(length, height, width, seed=seed, textures=textures)
        return _PairItems(pairs, supervised=True)
    return _PairItems(SmallObjectPairs(length, height, width, seed=seed), supervised=True)


def _real(path: str, data: dict[str, Any], seed: int) -> tuple[Dataset, Dataset]:
    """Real pairs split by source (whole sequences), ``val_fraction`` of them held out."""
    from motionlayers.data import VideoFramePairs
    from motionlayers.data.video_pairs import frame_sources

    size = (int(data["height"]), int(data["width"]))
    names = [source.name for source in frame_sources(Path(path))]  # no frame is read yet
    if len(names) < 2:
        raise InputError(path, "needs at least two videos or sequences (train and validation)")
    generator = torch.Generator().manual_seed(seed)
    order = [names[i] for i in torch.randperm(len(names), generator=generator).tolist()]
    count = min(len(names) - 1, max(1, round(len(names) * float(data.get("val_fraction", 0.1)))))
    cache = data.get("cache_dir")
    train = VideoFramePairs(path, size, cache_dir=cache, seed=seed, names=order[count:])
    val = VideoFramePairs(path, size, cache_dir=cache, seed=seed + 1, names=order[:count])
    return _PairItems(train, supervised=False), _PairItems(val, supervised=False)


def build_flow_datasets(config: dict[str, Any]) -> tuple[Dataset, Dataset]:
    """``(train, val)`` image pairs for a recipe's ``data``: ``source`` (``synthetic``,
    ``small-objects`` or a path of real video), optionally ``real_source`` (real video mixed
    into generated pairs, unsupervised; ``real_share`` of the training items), ``height``,
    ``width``, ``train_length``, ``val_length``, optionally ``textures`` (a path of real
    images the generated layers are cut from). Validation: held-out generated pairs when
    the source is generated (EPE), else held-out real sequences (unsupervised loss)."""
    data, seed = config["data"], int(config.get("seed", 0))
    source = str(data.get("source", "synthetic"))
    height, width = int(data["height"]), int(data["width"])
    if source not in GENERATED:
        return _real(source, data, seed)
    textures = None
    if data.get("textures"):  # real images as layer textures; validation keeps generated ones
        from motionlayers.data import ImageTextures

        textures = ImageTextures(str(data["textures"]), cache_dir=data.get("cache_dir"))
    train = _generated(source, int(data["train_length"]), seed, height, width, textures)
    val = _generated(source, int(data["val_length"]), seed + 1_000_003, height, width)
    real = data.get("real_source")
    if real:
        share = float(data.get("real_share", 0.5))
        real_train, _ = _real(str(real), data, seed)
        wanted = round(len(train) * share / max(1e-6, 1 - share))  # type: ignore[arg-type]
        repeats = max(1, -(-wanted // max(1, len(real_train))))  # type: ignore[arg-type]
        train = ConcatDataset([train, *([real_train] * repeats)])
    return train, val


def export_weights(
    checkpoint: str | Path | SoFlowMethod, out: str | Path, meta: dict[str, Any] | None = None
) -> Path:
    """Write a trained flow network as a small weights file (float16)."""
    model = checkpoint if isinstance(checkpoint, SoFlowMethod) else load_soflow_model(checkpoint)
    return write_weights(model, "soflow", out, meta)


def load_soflow_model(path: str | Path, map_location: str | torch.device = "cpu") -> SoFlowMethod:
    """A `SoFlowMethod` in eval mode from a checkpoint of `train` or a file of
    `export_weights`."""
    return load_trained(path, SoFlowMethod, "soflow", "SoFlow", map_location)
