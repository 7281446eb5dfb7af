"""EM-driven motion segmentation (thesis ch. 2): a U-Net trained with the EM loss.

Training step (thesis appendix 7.1.4)::

    f     <- f + random global quadratic field            (augmentation, 2.3.4)
    m     =  softmax(g_phi(f))                            (masks, 2.3.1)
    theta =  fit(f, m).detach()                           (E-step stand-in, eq. 2.16-2.17)
    L     =  1/alpha sum m delta(f, theta c) + sum m log m  (eq. 2.15, see losses.em)
    phi   <- Adam step on L                               (lr 1e-4, 2.4.1)

Inference needs no motion model: ``predict_masks(flow)`` returns ``softmax(g_phi(f))``. The
network input is the flow divided by its mean per-pixel L1 norm (``input_norm="mean_l1"``), so
predictions do not depend on the flow's scale; the loss sees the flow in pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from motionlayers.data.augment import add_global_motion
from motionlayers.errors import InputError
from motionlayers.losses.em import em_loss_fitted
from motionlayers.methods.em_network import (
    DEFAULT_WEIGHTS,
    SHIPPED_WEIGHTS,
    build_predictor,
    em_logits,
    normalise_input,
)
from motionlayers.methods.weights import (
    load_trained,
    write_weights,
)
from motionlayers.nets import UNet


class EMMethod(L.LightningModule):
    """The EM method as a LightningModule; every argument is a saved hyperparameter.

    Args:
        layers: K, the number of masks.
        net: keyword arguments of `motionlayers.nets.UNet` (depth, width, norm, down, up ...).
        motion_model: parametric model of a layer (thesis: ``"quadratic12"``, eq. 2.18).
        distance: ``"l1"`` (thesis), ``"l2"`` or ``"squared"``.
        alpha: likelihood scale (thesis: 1e-2).
        normalise: loss normalisation, see `motionlayers.losses.em` (``"pixels"``, ``"flow"``).
        fit_iterations: IRLS iterations of the model fit.
        lr: Adam learning rate (thesis: 1e-4).
        augment: ``{"p", "min_ratio", "max_ratio"}`` of the global-motion augmentation, or
            None to disable it.
        input_norm: ``"mean_l1"`` or ``"none"``.
        seed: seed of the augmentation's random generator.
    """

    def __init__(
        self,
        layers: int = 4,
        net: dict[str, Any] | None = None,
        motion_model: str = "quadratic12",
        distance: str = "l1",
        alpha: float = 1e-2,
        normalise: str = "pixels",
        fit_iterations: int = 10,
        lr: float = 1e-4,
        augment: dict[str, float] | None = None,
        input_norm: str = "mean_l1",
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if layers < 1:
            raise InputError("layers", f"need K >= 1, got {layers}")
        self.net = UNet(in_channels=2, out_channels=layers, **(net or {}))
        self.weights_meta: dict[str, Any] = {}  # the model card's figures, for exported weights
        self._generator = torch.Generator().manual_seed(seed)

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` of a flow ``(B, 2, H, W)`` in pixels (`em_logits`)."""
        return em_logits(self.net, flow, self.hparams["input_norm"])

    @torch.no_grad()
    def predict_masks(self, flow: torch.Tensor) -> torch.Tensor:
        """Soft masks ``(B, K, H, W)`` (softmax over K) of flows ``(B, 2, H, W)`` in pixels."""
        was_training = self.training
        self.eval()
        try:
            flow = flow.to(device=self.device, dtype=torch.float32)
            return torch.softmax(self(flow), dim=1)
        finally:
            self.train(was_training)

    def _loss(self, flow: torch.Tensor) -> torch.Tensor:
        masks = torch.softmax(self(flow), dim=1)
        hp = self.hparams
        loss, _theta = em_loss_fitted(
            flow,
            masks,
            model=hp["motion_model"],
            distance=hp["distance"],
            alpha=hp["alpha"],
            normalise=hp["normalise"],
            iterations=hp["fit_iterations"],
        )
        return loss.mean()

    def on_fit_start(self) -> None:
        # One augmentation stream per DDP rank (same seed would repeat the fields on every rank).
        self._generator.manual_seed(int(self.hparams["seed"]) + self.global_rank)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        flow = batch["flow"].float()
        augment = self.hparams["augment"]
        if augment and float(torch.rand((), generator=self._generator)) < augment.get("p", 1.0):
            flow = add_global_motion(
                flow,
                model="quadratic12",
                min_ratio=augment.get("min_ratio", 0.0),
                max_ratio=augment.get("max_ratio", 1.0),
                generator=self._generator,
            )
        loss = self._loss(flow)
        self.log("train_loss", loss, prog_bar=True, batch_size=flow.shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        flow = batch["flow"].float()
        loss = self._loss(flow)
        self.log(
            "val_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=flow.shape[0]
        )
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])


def export_weights(
    checkpoint: str | Path | EMMethod,
    out: str | Path,
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write a checkpoint's network as a small weights file for shipping or sharing.

    A Lightning checkpoint also holds the optimiser state (3x the weights); the exported file
    keeps only ``{"format", "method", "hparams", "state_dict", "meta"}``, floats stored as
    float16 when ``half`` (masks are argmax'ed, so the difference is invisible; measured on the
    default model in its model card). Written atomically; read back by `load_em_model`.
    """
    model = checkpoint if isinstance(checkpoint, EMMethod) else load_em_model(checkpoint)
    return write_weights(model, "em", out, meta, half)


def load_em_model(path: str | Path, map_location: str | torch.device = "cpu") -> EMMethod:
    """An `EMMethod` (in eval mode, on ``map_location``) from a Lightning checkpoint written by
    `train` or a weights file written by `export_weights`, read safely (a file that would run
    code is refused: `motionlayers.methods.weights.safe_load`)."""
    return load_trained(path, EMMethod, "em", "EM", map_location)


__all__ = [
    "DEFAULT_WEIGHTS",
    "SHIPPED_WEIGHTS",
    "EMMethod",
    "build_predictor",
    "export_weights",
    "load_em_model",
    "normalise_input",
]
