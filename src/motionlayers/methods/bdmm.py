"""BDMM adversarial saliency masking (thesis ch. 6): a U-Net that outputs the salient mask
directly, trained against a frozen NIMS classifier (`motionlayers.losses.saliency`).

Training: the generator's K = 4 softmax masks (background, salient, two other motions) enter the
Lagrangian of eq. 6.3 with the coherence term of eq. 6.11; one Adam step descends on the network
and ascends on lambda (gradient reversal), lambda in its own parameter group with its own
learning rate (``lam_lr``: with the thesis' lr of 1e-6 lambda would hardly move, spec B.6).
The frozen classifier is read from ``classifier`` (a NIMS checkpoint, weights file or shipped
model name) when training starts; it is not part of the trained weights, so inference needs
neither the classifier nor any motion model (6.3.5).

Inference (``--method bdmm``): argmax over the K masks, the salient channel is the foreground:
K = 2 layers out (0 the rest, 1 salient).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from motionlayers.errors import InputError
from motionlayers.losses.saliency import SALIENT, bdmm_loss
from motionlayers.methods.em_network import normalise_input
from motionlayers.methods.weights import load_trained, write_weights
from motionlayers.nets import UNet


class BDMMMethod(L.LightningModule):
    """The BDMM mask generator as a LightningModule; every argument is a hyperparameter.

    Args:
        layers: K of the output segmentation (2: the rest and the salient mask); fixed.
        masks: K of the generator (thesis: 4; background, salient, two others).
        net: keyword arguments of `motionlayers.nets.UNet`.
        classifier: the frozen NIMS classifier (path or shipped name), needed to train only.
        motion_model: the inpainting and coherence model (thesis: quadratic12, eq. 2.18).
        lam_init: lambda's initial value.
        lam_lr: lambda's learning rate (its own parameter group).
        lr: the generator's Adam learning rate.
        coherence_weight: weight of L_r.
        fit_iterations: IRLS iterations of the L1 fits.
        input_norm: ``"mean_l1"`` or ``"none"``.
        seed: unused by the loss (kept for the recipe's reproducibility record).
    """

    def __init__(
        self,
        layers: int = 2,
        masks: int = 4,
        net: dict[str, Any] | None = None,
        classifier: str | None = "nims-crowd.pt",
        motion_model: str = "quadratic12",
        lam_init: float = 10.0,
        lam_lr: float = 1e-2,
        lr: float = 1e-4,
        coherence_weight: float = 1.0,
        fit_iterations: int = 5,
        input_norm: str = "mean_l1",
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if layers != 2:
            raise InputError("layers", f"BDMM segments into K=2 (rest, salient), got {layers}")
        if masks < 2:
            raise InputError("masks", f"the generator needs background and salient, got {masks}")
        self.net = UNet(in_channels=2, out_channels=masks, **(net or {}))
        self.lam = torch.nn.Parameter(torch.tensor(float(lam_init)))
        self.weights_meta: dict[str, Any] = {}
        self._frozen: list[Any] = []  # the classifier, outside the state dict

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        """Soft masks ``(B, K, H, W)`` of flows ``(B, 2, H, W)`` in pixels."""
        return torch.softmax(self.net(normalise_input(flow, self.hparams["input_norm"])), dim=1)

    @torch.no_grad()
    def predict_masks(self, flow: torch.Tensor) -> torch.Tensor:
        """Labels ``(B, H, W)``: 1 where the salient mask wins the argmax, else 0."""
        was_training = self.training
        self.eval()
        try:
            masks = self(flow.to(device=self.device, dtype=torch.float32))
            return (masks.argmax(1) == SALIENT).long()
        finally:
            self.train(was_training)

    def classifier(self) -> Any:
        """The frozen NIMS classifier (loaded on first use)."""
        if not self._frozen:
            from motionlayers.methods.nims import load_nims_model
            from motionlayers.methods.train import trained_file

            name = self.hparams["classifier"]
            if name is None:
                raise InputError("model.classifier", "BDMM trains against a NIMS classifier")
            model = load_nims_model(trained_file(name), self.device)
            for parameter in model.parameters():
                parameter.requires_grad_(False)
            self._frozen.append(model)
        return self._frozen[0]

    def on_fit_start(self) -> None:
        self.classifier()  # a missing classifier fails before the first step

    def _losses(self, flow: torch.Tensor) -> dict[str, torch.Tensor]:
        frozen = self.classifier().to(flow.device).eval()
        hp = self.hparams
        return bdmm_loss(
            flow,
            self(flow),
            lambda f: torch.sigmoid(frozen(f)),
            self.lam,
            coherence_weight=hp["coherence_weight"],
            model=hp["motion_model"],
            iterations=hp["fit_iterations"],
        )

    def _log(self, parts: dict[str, torch.Tensor], stage: str, size: int) -> None:
        on_epoch = stage == "val"
        for name, part in (
            ("lagrangian", "loss"),
            ("size", "size"),
            ("constraint", "constraint"),
            ("coherence", "coherence"),
        ):
            self.log(f"{stage}_{name}", parts[part].mean(), on_epoch=on_epoch, batch_size=size)
        satisfied = (parts["probability"] < 0.5).float().mean()
        self.log(f"{stage}_satisfied", satisfied, prog_bar=True, on_epoch=on_epoch, batch_size=size)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        flow = batch["flow"].float()
        parts = self._losses(flow)
        self._log(parts, "train", flow.shape[0])
        self.log("lambda", self.lam.detach(), prog_bar=True)
        loss = parts["loss"].mean()
        self.log("train_loss", loss, batch_size=flow.shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        flow = batch["flow"].float()
        parts = self._losses(flow)
        self._log(parts, "val", flow.shape[0])
        # no labels select the checkpoint: the Lagrangian at a fixed lambda (the initial one)
        fixed = parts["size"] + self.hparams["lam_init"] * parts["constraint"]
        val_loss = (fixed + self.hparams["coherence_weight"] * parts["coherence"]).mean()
        self.log("val_loss", val_loss, prog_bar=True, on_epoch=True, batch_size=flow.shape[0])
        return val_loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        with torch.no_grad():
            self.lam.clamp_(min=0.0)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.Adam(
            [
                {"params": self.net.parameters(), "lr": hp["lr"]},
                {"params": [self.lam], "lr": hp["lam_lr"]},
            ]
        )


def export_weights(
    checkpoint: str | Path | BDMMMethod, out: str | Path, meta: dict[str, Any] | None = None
) -> Path:
    """Write a trained generator as a small weights file (float16, as the segmentation nets)."""
    model = checkpoint if isinstance(checkpoint, BDMMMethod) else load_bdmm_model(checkpoint)
    return write_weights(model, "bdmm", out, meta, half=True)


def load_bdmm_model(path: str | Path, map_location: str | torch.device = "cpu") -> BDMMMethod:
    """A `BDMMMethod` in eval mode from a checkpoint of `train` or an exported weights file."""
    return load_trained(path, BDMMMethod, "bdmm", "BDMM", map_location)


def build_predictor(layers: int, device: str, weights: Path | None) -> BDMMMethod:
    """The registry's builder of ``bdmm`` (K = 2)."""
    if weights is None:
        raise InputError("bdmm", "needs a trained generator (--checkpoint)")
    model = load_bdmm_model(weights, device)
    if layers != 2:
        raise InputError("--layers", f"bdmm segments into K=2 (rest, salient), not {layers}")
    return model


__all__ = ["BDMMMethod", "build_predictor", "export_weights", "load_bdmm_model"]
