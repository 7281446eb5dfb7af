"""The ST-MS network for inference, without Lightning: what ``segment --method st`` runs.

ST-MS (thesis ch. 3) segments a triplet of consecutive flows ``(f_{t-1}, f_t, f_{t+1})`` with a
3D U-Net whose down- and up-sampling act on space only, so that it returns one mask per flow of
the triplet: ``(B, 2, 3, H, W) -> (B, K, 3, H, W)``, softmax over K. `STMSMethod`
(`motionlayers.methods.st`) trains it; `STNetwork` holds the same ``net`` (same tensor names), so
a weights file or a training checkpoint loads into either. The pipeline keeps each triplet's
central masks and links consecutive triplets on the two frames they share (eq. 3.9,
`motionlayers.postprocess.VolumeLinker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from motionlayers.defaults import SHIPPED_MODELS
from motionlayers.errors import ShapeError, check_choice
from motionlayers.methods.em_network import INPUT_NORMS, normalise_input
from motionlayers.methods.weights import build_trained, trained_layers
from motionlayers.nets import UNet

TRIPLET = 3
"""Flows per ST-MS sample (tau = 1: the flows at t - 1, t and t + 1)."""
_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = {k: _WEIGHTS / name for k, name in SHIPPED_MODELS["st"].items()}
"""The shipped ST-MS models by K (model cards beside them, ``.md``)."""


def st_net(layers: int, net: dict[str, Any] | None) -> UNet:
    """The 3D U-Net of ST-MS: ``UNet(dims=3, **net)`` with 2 input channels and K outputs."""
    return UNet(in_channels=2, out_channels=layers, **{**(net or {}), "dims": 3})


def st_logits(net: nn.Module, flow: torch.Tensor, input_norm: str) -> torch.Tensor:
    """Logits ``(B, K, T, H, W)`` of flow volumes ``(B, 2, T, H, W)`` in pixels (the volume
    divided by its mean L1 norm first, `normalise_input`)."""
    if flow.ndim != 5 or flow.shape[1] != 2:
        raise ShapeError(f"flow: expected volumes (B, 2, T, H, W), got {tuple(flow.shape)}")
    return net(normalise_input(flow, input_norm))


class STNetwork(nn.Module):
    """``softmax(g_phi(f / |f|))`` over K for flow volumes: the ST-MS network for inference.

    Args:
        layers: K, the number of masks.
        net: keyword arguments of `motionlayers.nets.UNet` (``dims`` is always 3).
        input_norm: ``"mean_l1"`` or ``"none"``.
        training: `STMSMethod`'s training-only hyperparameters, kept in ``hparams``.
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
        self.net = self.make_net(self.hparams)

    METHOD, LABEL, SHIPPED = "st", "ST-MS", SHIPPED_WEIGHTS
    """The registered method a weights file must carry, its name in errors, its shipped files."""

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Any:
        """The network (eval mode) of a weights file or training checkpoint of ``METHOD``,
        read safely (`motionlayers.methods.weights.build_trained`)."""
        model, _ = build_trained(path, cls, cls.METHOD, cls.LABEL)
        return model.to(map_location).eval()

    @classmethod
    def predictor(cls, layers: int, device: str = "cpu", weights: str | Path | None = None) -> Any:
        """The network for ``motionlayers segment``: the model in ``weights`` (a checkpoint,
        or the shipped model for K), on ``device``, in eval mode, its K checked."""
        path = Path(weights) if weights is not None else next(iter(cls.SHIPPED.values()))
        model = cls.load(path, map_location=device)
        trained_layers(model, layers, path.name)
        return model

    @staticmethod
    def make_net(hparams: dict[str, Any]) -> nn.Module:
        """The network of a method's hyperparameters (`st_net`; LT-MS builds its own)."""
        return st_net(hparams["layers"], hparams["net"])

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        return st_logits(self.net, flow, self.hparams["input_norm"])

    @torch.no_grad()
    def predict_masks(self, flow: torch.Tensor) -> torch.Tensor:
        """Soft masks ``(B, K, T, H, W)`` of flow volumes ``(B, 2, T, H, W)`` in pixels."""
        weight = next(self.parameters())
        return torch.softmax(self(flow.to(weight.device, torch.float32)), dim=1)


def load_st_network(path: str | Path, map_location: str | torch.device = "cpu") -> STNetwork:
    """An `STNetwork` (eval mode) from an ST-MS weights file or training checkpoint, read
    safely (`motionlayers.methods.weights.safe_load`)."""
    return STNetwork.load(path, map_location)


def build_predictor(
    layers: int, device: str = "cpu", weights: str | Path | None = None
) -> STNetwork:
    """The ST-MS network for ``motionlayers segment`` (`motionlayers.methods.registry`
    builder; `STNetwork.predictor`)."""
    return STNetwork.predictor(layers, device, weights)


__all__ = [
    "SHIPPED_WEIGHTS",
    "TRIPLET",
    "STNetwork",
    "build_predictor",
    "load_st_network",
    "st_logits",
    "st_net",
]
