"""The LT-MS network (thesis ch. 4) and its inference wrapper, without Lightning: what
``segment --method lt`` runs.

LT-MS segments a volume of any number of consecutive flows in one pass: a 3D U-Net whose
sampling acts on space only gives per-pixel embeddings ``phi (B, E, T, H, W)`` and a space-time
bottleneck; K learned queries, refined by a transformer decoder over the bottleneck's tokens
(with a learned space-time position added to them), become K mask embeddings; the logits are
their dot products with ``phi``, softmax over K (`motionlayers.nets.QueryMaskDecoder`)::

    (B, 2, T, H, W) -> (B, K, T, H, W)

`LTMSMethod` (`motionlayers.methods.lt`) trains it; `LTNetwork` holds the same ``net`` (same
tensor names), so a weights file or a training checkpoint loads into either. ``transformer:
false`` is the "Unet3D only" ablation of Table 4.1: the U-Net's own 1x1x1 head, no queries.

``residual_head`` (a departure, for the shipped models): the U-Net keeps its 1x1x1 head and the
decoder's logits are added to it, the position embedding starting at zero and, with
``zero_start``, the decoder's mask embedding too. A network initialised from a shipped ST-MS
model then starts as that model (the decoder's share is learned from there: the mask embedding's
gradient is not zero, and the transformer's follows once it has moved). At the shipped recipes'
learning rate (1e-4, warmed up) this trains; on tiny synthetic data at 3e-3 the zero start
collapsed to a single layer in every seed tried, the Xavier start did not; with the head removed
(the thesis's layout, recipe ``lt``) training starts from random masks, which two CPU cores
cannot afford.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from motionlayers.defaults import SHIPPED_MODELS
from motionlayers.methods.st_network import STNetwork
from motionlayers.nets import UNet
from motionlayers.nets.mask_decoder import QueryMaskDecoder, SpaceTimePosition

TRAIN_LENGTH = 9
"""Flows per LT-MS training volume (thesis 4.3.1: tau = 9)."""
_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = {k: _WEIGHTS / name for k, name in SHIPPED_MODELS["lt"].items()}
"""The shipped LT-MS models by K (model cards beside them, ``.md``)."""


class LTNet(UNet):
    """3D U-Net plus query mask decoder (see the module doc); a `UNet` so that the tensors of a
    3D U-Net (an ST-MS model) load by name.

    Args:
        layers: K, the number of masks (queries).
        net: keyword arguments of `UNet` (``dims`` is always 3).
        transformer: False: the U-Net's head only (Table 4.1's "Unet3D only").
        decoder: keyword arguments of `QueryMaskDecoder` (width, depth, heads, ...).
        residual_head: keep the U-Net's head and add the decoder's logits to it.
        zero_start: with ``residual_head``, the decoder's mask embedding starts at zero too (else
            Xavier, as the rest): the network then starts as its U-Net exactly.

    Shapes:
        ``(B, 2, T, H, W) -> (B, K, T, H, W)`` logits, any T, H, W.
    """

    def __init__(
        self,
        layers: int = 4,
        net: dict[str, Any] | None = None,
        transformer: bool = True,
        decoder: dict[str, Any] | None = None,
        residual_head: bool = False,
        zero_start: bool = False,
    ):
        super().__init__(in_channels=2, out_channels=layers, **{**(net or {}), "dims": 3})
        self.position: SpaceTimePosition | None = None
        self.decoder: QueryMaskDecoder | None = None
        if transformer:
            channels = self.bottleneck_channels
            self.position = SpaceTimePosition(channels, zero_init=residual_head)
            self.decoder = QueryMaskDecoder(
                layers, channels, self.feature_channels, **(decoder or {})
            )
            if residual_head and zero_start:  # the decoder's share starts at zero
                nn.init.zeros_(self.decoder.mask_embedding.weight)
                nn.init.zeros_(self.decoder.mask_embedding.bias)
            elif not residual_head:
                del self.head  # the thesis's network: the decoder alone gives the logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        bottleneck, skips = self.encode(x)
        if self.decoder is None or self.position is None:
            return self.head(self.decode(bottleneck, skips))[..., :height, :width]
        bottleneck = self.position(bottleneck)
        pixels = self.decode(bottleneck, skips)
        logits = self.decoder(bottleneck, pixels)
        if hasattr(self, "head"):
            logits = logits + self.head(pixels)
        return logits[..., :height, :width]


def lt_net(hparams: dict[str, Any]) -> LTNet:
    """The `LTNet` of a method's hyperparameters (``layers``, ``net``, ``transformer``,
    ``decoder``, ``residual_head``)."""
    return LTNet(
        hparams["layers"],
        hparams.get("net"),
        bool(hparams.get("transformer", True)),
        hparams.get("decoder"),
        bool(hparams.get("residual_head", False)),
        bool(hparams.get("zero_start", False)),
    )


class LTNetwork(STNetwork):
    """``softmax(net(f / |f|))`` over K for flow volumes of any length: the LT-MS network for
    inference (`STNetwork`'s wrapper around `LTNet`)."""

    METHOD, LABEL, SHIPPED = "lt", "LT-MS", SHIPPED_WEIGHTS

    @staticmethod
    def make_net(hparams: dict[str, Any]) -> LTNet:
        return lt_net(hparams)


def load_lt_network(path: str | Path, map_location: str | torch.device = "cpu") -> LTNetwork:
    """An `LTNetwork` (eval mode) from an LT-MS weights file or training checkpoint, read
    safely (`motionlayers.methods.weights.safe_load`)."""
    return LTNetwork.load(path, map_location)


def build_predictor(
    layers: int, device: str = "cpu", weights: str | Path | None = None
) -> LTNetwork:
    """The LT-MS network for ``motionlayers segment`` (`motionlayers.methods.registry`
    builder; `STNetwork.predictor`)."""
    return LTNetwork.predictor(layers, device, weights)


__all__ = [
    "SHIPPED_WEIGHTS",
    "TRAIN_LENGTH",
    "LTNet",
    "LTNetwork",
    "build_predictor",
    "load_lt_network",
    "lt_net",
]
