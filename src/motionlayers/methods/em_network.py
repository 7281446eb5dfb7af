"""The EM method's network for inference, without Lightning: what ``motionlayers segment`` runs.

`EMMethod` (in `motionlayers.methods.em`) trains the network as a ``LightningModule``; importing
Lightning costs seconds (about 4 s on two cores, more than ``import torch``), which a user who
only segments should not pay. `EMNetwork` holds the same ``net`` (same tensor names), so a
weights file or a training checkpoint of `EMMethod` loads into either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from motionlayers.defaults import SHIPPED_MODELS
from motionlayers.errors import ShapeError, check_choice
from motionlayers.methods.weights import build_trained, trained_layers
from motionlayers.nets import UNet

INPUT_NORMS = ("mean_l1", "none")
_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = {k: _WEIGHTS / name for k, name in SHIPPED_MODELS["em"].items()}
DEFAULT_WEIGHTS = next(iter(SHIPPED_WEIGHTS.values()))
"""The shipped default model (model card: ``weights/em-default.md``)."""
"""The shipped models by K: ``segment --layers 4`` picks the K = 4 one (see their model cards)."""


def normalise_input(flow: torch.Tensor, input_norm: str = "mean_l1") -> torch.Tensor:
    """Network input: ``(B, 2, H, W) -> (B, 2, H, W)`` flow divided by its mean L1 norm; a
    volume ``(B, 2, T, H, W)`` by the mean over all its frames (one scale per volume, so that
    the flows keep their relative sizes)."""
    if check_choice(input_norm, INPUT_NORMS, "input_norm") == "none":
        return flow
    sites = tuple(range(2, flow.ndim))
    scale = flow.abs().sum(1, keepdim=True).mean(sites, keepdim=True).clamp_min(1e-6)
    return flow / scale


def em_logits(net: nn.Module, flow: torch.Tensor, input_norm: str) -> torch.Tensor:
    """``g_phi(f / |f|)``: logits ``(B, K, H, W)`` of a flow ``(B, 2, H, W)`` in pixels."""
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise ShapeError(f"flow: expected (B, 2, H, W), got {tuple(flow.shape)}")
    return net(normalise_input(flow, input_norm))


class EMNetwork(nn.Module):
    """``softmax(g_phi(f / |f|))``: the EM segmentation network (thesis 2.3.1) for inference.

    Args:
        layers: K, the number of masks.
        net: keyword arguments of `motionlayers.nets.UNet`.
        input_norm: ``"mean_l1"`` or ``"none"`` (see `normalise_input`).
        training: the training-only hyperparameters of `EMMethod` (loss, optimiser,
            augmentation), accepted so that any EM checkpoint loads, and kept in ``hparams``.
    """

    def __init__(
        self,
        layers: int = 4,
        net: dict[str, Any] | None = None,
        input_norm: str = "mean_l1",
        **training: Any,
    ):
        super().__init__()
        check_choice(input_norm, INPUT_NORMS, "input_norm")
        self.hparams = {"layers": layers, "net": net, "input_norm": input_norm, **training}
        self.net = UNet(in_channels=2, out_channels=layers, **(net or {}))

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K, H, W)`` of a flow ``(B, 2, H, W)`` in pixels (`em_logits`)."""
        return em_logits(self.net, flow, self.hparams["input_norm"])

    @torch.no_grad()
    def predict_masks(self, flow: torch.Tensor) -> torch.Tensor:
        """Soft masks ``(B, K, H, W)`` (softmax over K) of flows ``(B, 2, H, W)`` in pixels."""
        weight = next(self.parameters())
        return torch.softmax(self(flow.to(weight.device, torch.float32)), dim=1)


def load_em_network(path: str | Path, map_location: str | torch.device = "cpu") -> EMNetwork:
    """An `EMNetwork` (eval mode, on ``map_location``) from an EM weights file or training
    checkpoint, read safely (`motionlayers.methods.weights.safe_load`)."""
    model, _ = build_trained(path, EMNetwork, "em", "EM")
    return model.to(map_location).eval()


def build_predictor(
    layers: int, device: str = "cpu", weights: str | Path | None = None
) -> EMNetwork:
    """The EM network for ``motionlayers segment`` (`motionlayers.methods.registry` builder):
    the model in ``weights`` (a checkpoint, or the shipped model that
    `motionlayers.methods.registry.resolve_layers` chose for K), on ``device``, in eval mode."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    model = load_em_network(path, map_location=device)
    trained_layers(model, layers, path.name)
    return model


__all__ = [
    "DEFAULT_WEIGHTS",
    "SHIPPED_WEIGHTS",
    "EMNetwork",
    "build_predictor",
    "em_logits",
    "load_em_network",
    "normalise_input",
]
