"""Configurable U-Net (thesis 3.4.1, "GeneralUnet"): one skeleton, swappable blocks, 2D or 3D.

Each level of the encoder is ``conv`` (double conv) then ``down``; each level of the decoder is
``up``, concatenation with the ``transit`` of the matching encoder features, then ``conv``. The
same code builds a 2D net on ``(B, C, H, W)`` or a 3D net on ``(B, C, T, H, W)`` (sampling on the
spatial axes only). Inputs of any size are padded (replicate) to a multiple of ``2**depth`` and
the output is cropped back. The net returns K-channel logits; the method applies the softmax.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from motionlayers.errors import InputError, ShapeError
from motionlayers.nets.blocks import (
    CONV_BLOCKS,
    DOWN_BLOCKS,
    TRANSIT_BLOCKS,
    UP_BLOCKS,
    conv_class,
    lookup,
)


class UNet(nn.Module):
    """U-Net with ``depth`` down-samplings.

    Args:
        in_channels: input channels (2 for flow).
        out_channels: output channels (K logits).
        depth: number of down-sampling steps (thesis ch. 2: 7 at 128x224 with width 64).
        width: channels of the first level; doubled at each level, capped at ``max_width``.
        dims: 2 (``Conv2d``) or 3 (``Conv3d``).
        norm: ``"instance"`` (thesis), ``"group"``, ``"batch"`` or ``"none"``.
        down, up, transit, conv: block names in `motionlayers.nets.blocks` registries.
        max_width: channel cap.

    Shapes:
        ``(B, in_channels, H, W) -> (B, out_channels, H, W)`` (2D) or
        ``(B, in_channels, T, H, W) -> (B, out_channels, T, H, W)`` (3D), any H, W.
    """

    def __init__(
        self,
        in_channels: int = 2,
        out_channels: int = 4,
        depth: int = 4,
        width: int = 32,
        dims: int = 2,
        norm: str = "instance",
        down: str = "maxpool",
        up: str = "interpolate",
        transit: str = "skip",
        conv: str = "double",
        max_width: int = 512,
    ):
        super().__init__()
        if depth < 0 or width < 1 or in_channels < 1 or out_channels < 1:
            raise InputError(
                "UNet",
                f"need depth >= 0 and positive channels, got depth={depth}, "
                f"width={width}, in={in_channels}, out={out_channels}",
            )
        self.dims, self.depth = dims, depth
        conv_block = lookup(CONV_BLOCKS, conv, "conv")
        down_block = lookup(DOWN_BLOCKS, down, "down")
        up_block = lookup(UP_BLOCKS, up, "up")
        transit_block = lookup(TRANSIT_BLOCKS, transit, "transit")
        widths = [min(width * 2**level, max_width) for level in range(depth + 1)]
        self.inc = conv_block(in_channels, widths[0], dims=dims, norm=norm)
        self.downs = nn.ModuleList()
        self.down_convs = nn.ModuleList()
        self.transits = nn.ModuleList()
        for level in range(depth):
            self.transits.append(transit_block(widths[level], dims=dims))
            self.downs.append(down_block(widths[level], dims=dims))
            self.down_convs.append(
                conv_block(widths[level], widths[level + 1], dims=dims, norm=norm)
            )
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for level in reversed(range(depth)):
            self.ups.append(up_block(widths[level + 1], widths[level], dims=dims))
            self.up_convs.append(conv_block(2 * widths[level], widths[level], dims=dims, norm=norm))
        self.head = conv_class(dims)(widths[0], out_channels, 1)
        self.feature_channels, self.bottleneck_channels = widths[0], widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        bottleneck, skips = self.encode(x)
        return self.head(self.decode(bottleneck, skips))[..., :height, :width]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The encoder: ``(bottleneck, skips)`` of an input (padded first; `decode` then crop
        ``[..., :H, :W]`` to get back to the input's size). The bottleneck has
        ``bottleneck_channels`` at ``H / 2**depth``, ``W / 2**depth`` (after padding)."""
        if x.ndim != self.dims + 2:
            raise ShapeError(
                f"UNet: expected a {self.dims + 2}-D input (B, C, "
                f"{'T, ' if self.dims == 3 else ''}H, W), got {tuple(x.shape)}"
            )
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        # at least two multiples: a 1x1 bottleneck has no spatial statistics to normalise
        pad_h = max(-height % multiple, 2 * multiple - height) if self.depth else 0
        pad_w = max(-width % multiple, 2 * multiple - width) if self.depth else 0
        if pad_h or pad_w:
            pad = (0, pad_w, 0, pad_h) + ((0, 0) if self.dims == 3 else ())
            x = F.pad(x, pad, mode="replicate")
        x = self.inc(x)
        skips = []
        for transit, down, conv in zip(self.transits, self.downs, self.down_convs):
            skips.append(transit(x))
            x = conv(down(x))
        return x, skips

    def decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """The decoder: per-pixel features (``feature_channels``, padded size) of a
        bottleneck and its skips (`encode`); the head maps them to the K logits."""
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips)):
            x = conv(torch.cat([skip, up(x)], dim=1))
        return x


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
