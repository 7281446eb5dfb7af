"""ST-MS (thesis ch. 3): temporally consistent segmentation of flow triplets, self-supervised.

Training step (thesis 3.3-3.4, spec A4-A6)::

    f      <- f + u g,  g a random space-time quadratic field          (augmentation 1, 3.4.3)
    f_in   <- f with one of its three flows replaced by noise (p 0.2)   (augmentation 2, input only)
    m      =  softmax(g_phi(f_in))                                      (B, K, 3, H, W)
    theta  =  fit(f, m).detach()     one quadratic12+linear model per segment (eq. 3.1-3.3)
    L      =  L_r(f, m, theta) + beta L_c(m, f)                         (eq. 3.4-3.7, no entropy)
    phi    <- Adam step on L                                            (lr 1e-4)

Inference needs no motion model: ``predict_masks(volume)`` returns ``softmax(g_phi(f))``; see
`motionlayers.methods.st_network` for the network and how a video is segmented. Training data
(`build_st_datasets`): triplets of unlabelled video (DAVIS-2016 train frames, flow by the
project's backend, cached) mixed with the project's synthetic layered sequences; the validation
loss on held-out videos selects the checkpoint, so no label is used anywhere.

Ablations of Table 3.1 are recipe switches: ``beta: 0`` (no L_c), ``motion_model: quadratic12``
(one spatial model per frame, no alpha_k), ``augment: null`` with ``corrupt_p: 0`` (no
augmentation).

Where this departs from the thesis and the authors' code (spec A2-A7), and why:

- The ``st`` recipe is the thesis's network (3 levels, 32/64/128). The shipped models
  (``st-davis-k4``, ``st-davis-k2``) use the EM network's layout in 3D instead (5 space-only
  down-samplings from width 16) and start from the shipped EM models, each 2D kernel becoming
  the central time slice of its 3D kernel (`motionlayers.methods.weights.inflate_in_time`): on
  two CPU cores a network trained from scratch would not reach EM in the hours available, while
  this one starts *as* EM applied to each frame and learns the temporal context.
- theta is fitted by IRLS on the L1 objective of eq. 3.4 (per-frame normalisation folded into
  the weights), not least squares then L-BFGS: both minimise the same convex objective.
- The corrupted flow's noise has the flow's standard deviation (the code multiplies by its
  variance, a far larger noise for flows in pixels).
- InstanceNorm has learned scale and shift (the code's has none): a superset, and the EM
  network's layers, which the shipped models start from.
- The global field's coefficients are Gaussian and its mean L1 norm is uniform in
  ``[0, 2]`` times the volume's (the code: uniform coefficients, L2 norms, ``2 u``, ``u`` uniform
  in [0, 1]: the same range of relative magnitudes).
- The network reads the volume divided by its mean L1 norm (as the EM network does), so that
  its masks do not depend on the flow's scale.
- Training data: DAVIS-2016 train with 20 % synthetic sequences mixed in; the validation loss is
  measured on three held-out train videos (and synthetic ones), as no other unlabelled video is
  at hand (the thesis used DAVIS-2016 val).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from motionlayers.data.augment import add_global_motion, corrupt_one_flow
from motionlayers.errors import InputError
from motionlayers.losses.temporal import OCCLUSION_SHARE, ST_MODEL, st_loss
from motionlayers.methods.st_network import TRIPLET, st_logits, st_net
from motionlayers.methods.weights import load_trained, write_weights


class STMSMethod(L.LightningModule):
    """ST-MS as a LightningModule; every argument is a saved hyperparameter.

    Args:
        layers: K, the number of masks (thesis: 4).
        net: keyword arguments of `motionlayers.nets.UNet` (always 3D). The thesis's network
            (spec A2): ``{depth: 2, width: 32, down: strided, up: transpose}``.
        motion_model: ``"quadratic12+linear"`` (eq. 3.1-3.3); ``"quadratic12"`` fits one
            spatial model per frame (the ablation of Table 3.1).
        beta: weight of L_c (thesis: 1; 0 is the "without L_c" ablation).
        occlusion_share: eta of eq. 3.6 (thesis: 1 %).
        fit_iterations: IRLS iterations of the per-batch model fit.
        lr: Adam learning rate (thesis: 1e-4).
        augment: ``{"p", "min_ratio", "max_ratio"}`` of the space-time global-field
            augmentation (the field's mean L1 norm is ``ratio`` times the volume's, ``ratio``
            uniform in ``[min_ratio, max_ratio]``), or None.
        corrupt_p: probability per batch that one input flow is replaced by noise (thesis 0.2).
        input_norm: ``"mean_l1"`` or ``"none"``.
        seed: seed of the augmentations' random generator.
    """

    def __init__(
        self,
        layers: int = 4,
        net: dict[str, Any] | None = None,
        motion_model: str = ST_MODEL,
        beta: float = 1.0,
        occlusion_share: float = OCCLUSION_SHARE,
        fit_iterations: int = 10,
        lr: float = 1e-4,
        augment: dict[str, float] | None = None,
        corrupt_p: float = 0.2,
        input_norm: str = "mean_l1",
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if layers < 1:
            raise InputError("layers", f"need K >= 1, got {layers}")
        if not 0.0 <= corrupt_p <= 1.0:
            raise InputError("corrupt_p", f"must be in [0, 1], got {corrupt_p}")
        self.net = self.make_net()
        self.weights_meta: dict[str, Any] = {}
        self._generator = torch.Generator().manual_seed(seed)

    AUGMENT_MODEL = ST_MODEL
    """The model of the global space-time field added to the training volumes."""

    def make_net(self) -> torch.nn.Module:
        """The network of the hyperparameters (`st_net`)."""
        return st_net(self.hparams["layers"], self.hparams["net"])

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, T, H, W)`` of flow volumes ``(B, 2, T, H, W)`` in pixels."""
        return st_logits(self.net, flow, self.hparams["input_norm"])

    @torch.no_grad()
    def predict_masks(self, flow: torch.Tensor) -> torch.Tensor:
        """Soft masks ``(B, K, T, H, W)`` of flow volumes ``(B, 2, T, H, W)`` in pixels."""
        was_training = self.training
        self.eval()
        try:
            return torch.softmax(self(flow.to(self.device, torch.float32)), dim=1)
        finally:
            self.train(was_training)

    def _loss(self, network_input: torch.Tensor, target: torch.Tensor, stage: str) -> torch.Tensor:
        masks = torch.softmax(self(network_input), dim=1)
        hp = self.hparams
        loss, terms = st_loss(
            target,
            masks,
            model=hp["motion_model"],
            beta=hp["beta"],
            share=hp["occlusion_share"],
            iterations=hp["fit_iterations"],
        )
        if self._trainer is not None:  # also called outside a Trainer (tests, notebooks)
            batch, sync = target.shape[0], stage == "val"
            for name in ("reconstruction", "consistency"):
                self.log(f"{stage}_{name}", terms[name].mean(), batch_size=batch, sync_dist=sync)
        return loss.mean()

    def on_fit_start(self) -> None:
        # One augmentation stream per DDP rank (the same seed would repeat them on every rank).
        self._generator.manual_seed(int(self.hparams["seed"]) + self.global_rank)

    def _draw(self) -> float:
        return float(torch.rand((), generator=self._generator))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        flow = batch["flow"].float()
        augment = self.hparams["augment"]
        if augment and self._draw() < augment.get("p", 1.0):
            flow = add_global_motion(
                flow,
                model=self.AUGMENT_MODEL,
                min_ratio=augment.get("min_ratio", 0.0),
                max_ratio=augment.get("max_ratio", 2.0),
                generator=self._generator,
            )
        loss = self._loss(self.corrupt(flow), flow, "train")
        self.log("train_loss", loss, prog_bar=True, batch_size=flow.shape[0])
        return loss

    def corrupt(self, flow: torch.Tensor) -> torch.Tensor:
        """The network's input: ``flow`` with one flow replaced by noise (p ``corrupt_p``)."""
        if self._draw() < self.hparams["corrupt_p"]:
            return corrupt_one_flow(flow, generator=self._generator)[0]
        return flow

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        flow = batch["flow"].float()
        loss = self._loss(flow, flow, "val")
        self.log(
            "val_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=flow.shape[0]
        )
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])


class _FlowOnly(Dataset):
    """``{"flow": (2, T, H, W) float32}`` items of any dataset of dicts (collates across mixed
    sources: folder volumes carry strings, synthetic ones labels)."""

    def __init__(self, source: Dataset):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"flow": torch.as_tensor(self.source[index]["flow"], dtype=torch.float32)}


def build_st_datasets(config: dict[str, Any]) -> tuple[Dataset, Dataset]:
    """``(train, val)`` triplets of a recipe (`MethodEntry.datasets` of ``st``; see
    `build_volume_datasets`)."""
    return build_volume_datasets(config, TRIPLET)


def build_volume_datasets(config: dict[str, Any], frames: int) -> tuple[Dataset, Dataset]:
    """``(train, val)`` volumes of ``frames`` flows of a recipe (``data.frames`` overrides).

    ``data.source``: ``"synthetic"`` (the project's layered sequences, exact flow) or a video,
    frame folder, flow folder or a folder of them (flow cached, `FlowFolderDataset`), whose
    triplets are split by source (`split_by_source`, ``val_fraction``). With a folder,
    ``data.synthetic_share`` of the training triplets (and of the validation ones) are synthetic
    sequences mixed in (0: none), and ``data.val_volumes`` caps the held-out volumes (evenly
    spaced over them; a validation pass on a CPU costs a forward pass per volume).
    """
    from motionlayers.data import SyntheticFlowDataset
    from motionlayers.data.folders import FlowFolderDataset
    from motionlayers.data.volumes import split_by_source
    from motionlayers.defaults import DEFAULT_FLOW_BACKEND

    data, seed = config["data"], int(config.get("seed", 0))
    frames = int(data.get("frames", frames))
    height, width = int(data["height"]), int(data["width"])
    layers = int(data.get("synthetic_layers", 4))

    def synthetic(length: int, offset: int) -> Dataset:
        return SyntheticFlowDataset(
            length, height, width, layers=layers, seed=seed + offset, frames=frames
        )

    if str(data.get("source", "synthetic")) == "synthetic":
        train = synthetic(int(data["train_length"]), 0)
        val = synthetic(int(data["val_length"]), 1_000_003)
        return _FlowOnly(train), _FlowOnly(val)
    flows = FlowFolderDataset(
        data["source"],
        size=(height, width),
        backend=data.get("backend", DEFAULT_FLOW_BACKEND),
        cache_dir=data.get("cache_dir"),
    )
    real_train, real_val = split_by_source(
        flows, frames, float(data.get("val_fraction", 0.1)), seed
    )
    cap = data.get("val_volumes")
    if cap is not None and len(real_val) > int(cap):
        spaced = torch.linspace(0, len(real_val) - 1, int(cap)).round().long().tolist()
        real_val = Subset(real_val, spaced)  # type: ignore[assignment]
    share = float(data.get("synthetic_share", 0.0))
    if share <= 0:
        return _FlowOnly(real_train), _FlowOnly(real_val)
    extra = round(len(real_train) * share / (1 - share))
    extra_val = round(len(real_val) * share / (1 - share))
    train = ConcatDataset([_FlowOnly(real_train), _FlowOnly(synthetic(max(extra, 1), 0))])
    val = ConcatDataset([_FlowOnly(real_val), _FlowOnly(synthetic(max(extra_val, 1), 1_000_003))])
    return train, val


def export_weights(
    checkpoint: str | Path | STMSMethod,
    out: str | Path,
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write a checkpoint's network as a small weights file (float16 when ``half``), atomically;
    read back by `load_st_model` and `motionlayers.methods.st_network.load_st_network`."""
    model = checkpoint if isinstance(checkpoint, STMSMethod) else load_st_model(checkpoint)
    return write_weights(model, "st", out, meta, half)


def load_st_model(path: str | Path, map_location: str | torch.device = "cpu") -> STMSMethod:
    """An `STMSMethod` (eval mode) from a checkpoint of ``train`` or a weights file, read
    safely."""
    return load_trained(path, STMSMethod, "st", "ST-MS", map_location)


__all__ = [
    "STMSMethod",
    "build_st_datasets",
    "build_volume_datasets",
    "export_weights",
    "load_st_model",
]
