"""EV-LayerSegNet (Farah et al. 2025): an event encoder, a mask decoder and an affine head.

The network has the shape of EV-FlowNet / LayerSegNet::

    input (B, C, H, W) -> encoder: `depth` stride-2 convolutions (widths w, 2w, 4w, ...)
                       -> `residual_blocks` residual blocks at 1/2**depth resolution
         +-> segmentation module: per level, concat(features, encoder skip) -> x2 upsampling ->
         |   convolution, back to full resolution; 1x1 convolution -> K logits (softmax: masks)
         +-> optical flow module (`AffineHead`): `flow_convs` convolutions (group norm, leaky
             ReLU) -> average pooling to `pool` x `pool` -> LayerNorm of the flattened
             features -> fully connected layers `hidden` (leaky ReLU) -> K x 6 affine parameters

Any ``H, W`` works: the input is zero-padded (no events) to a multiple of ``2**depth`` and the
masks are cropped back. The affine head is pooled to a fixed grid, so it does not depend on the
input size either.

The paper specifies the flow module only as convolutions followed by "a lightweight fully
connected network"; the normalisations and the leaky ReLU here are ours. An earlier version had
plain convolutions and tanh hidden layers: after training (64 x 64 windows, width 16, 2000
steps) the pooled features reached mean |a| = 29 (0.009 at initialisation), the first tanh's
inputs mean |a| ~ 444, 100 % saturated, so the head had no gradient and predicted the same two
motions for every window (relative spread across windows 1e-8). Already at initialisation the
spread was 4e-3: the convolutions' biases swamped the per-window part of the features (0.27 of
their RMS before the flow convolutions, 0.035 after). Group norm in the convolutions keeps it
(0.29; the motions' spread becomes 0.5), the LayerNorm makes the fully connected layers blind
to the trunk's scale, and leaky ReLU (Kaiming initialisation) cannot saturate.

Convention: the affine parameters are returned as ``theta`` ``(B, K, 2, 3)`` for the basis
``[1, x, y]`` at normalised pixel centres of the *unpadded* input (`motionlayers.motion`),
scaled by ``flow_scale``; their unit is the caller's (EV-LayerSegNet: pixels per window).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from motionlayers.errors import InputError, ShapeError
from motionlayers.nets.blocks import make_norm

__all__ = ["AffineHead", "EVLayerSegNet", "ResidualBlock"]


def _conv(c_in: int, c_out: int, norm: str, stride: int = 1) -> nn.Sequential:
    """3x3 convolution -> norm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=norm == "none"),
        make_norm(norm, c_out, 2),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` followed by ReLU: ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, norm: str = "none") -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, norm),
            nn.Conv2d(channels, channels, 3, padding=1, bias=norm == "none"),
            make_norm(norm, channels, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class AffineHead(nn.Module):
    """Optical flow module: features ``(B, C, h, w)`` -> affine parameters ``(B, K, 2, 3)``.

    Convolutions (group norm, leaky ReLU) -> average pooling to ``pool x pool`` -> LayerNorm
    over the flattened ``C * pool**2`` features -> linear + leaky ReLU per ``hidden`` width ->
    linear to ``K * 6``, times ``flow_scale``.
    """

    def __init__(
        self,
        channels: int,
        layers: int,
        flow_convs: int = 3,
        hidden: Sequence[int] = (512, 256, 64),
        pool: int = 4,
        flow_scale: float = 10.0,
    ) -> None:
        super().__init__()
        self.layers, self.flow_scale = layers, float(flow_scale)
        # group norm: without it the convolutions' biases swamp the per-window differences
        self.convs = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                    make_norm("group", channels, 2),
                    nn.LeakyReLU(0.1),
                )
                for _ in range(flow_convs)
            )
        )
        self.pool = nn.AdaptiveAvgPool2d(pool)
        sizes = [channels * pool * pool, *hidden]
        # the trunk's feature scale drifts by orders of magnitude in training: normalise it away
        self.norm = nn.LayerNorm(sizes[0])
        fc: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            linear = nn.Linear(a, b)
            nn.init.kaiming_normal_(linear.weight, a=0.1, nonlinearity="leaky_relu")
            nn.init.zeros_(linear.bias)  # unit-scale activations through every hidden layer
            fc += [linear, nn.LeakyReLU(0.1)]
        self.fc = nn.Sequential(*fc)
        self.affine = nn.Linear(sizes[-1], layers * 6)
        nn.init.normal_(self.affine.weight, std=1e-2)  # small motions that differ per window
        nn.init.zeros_(self.affine.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Affine parameters ``(B, K, 2, 3)`` of features ``(B, C, h, w)``."""
        pooled = self.pool(self.convs(features)).flatten(1)
        params = self.affine(self.fc(self.norm(pooled)))
        return self.flow_scale * params.view(-1, self.layers, 2, 3)


class EVLayerSegNet(nn.Module):
    """EV-LayerSegNet: ``(B, C, H, W)`` events -> ``(logits (B, K, H, W), theta (B, K, 2, 3))``.

    Args:
        in_channels: C (voxel bins, or 2 for ON/OFF counts).
        layers: K, the number of motion layers.
        width: channels of the first encoder level (doubled at each level).
        depth: number of down-samplings (the paper: 4).
        residual_blocks: residual blocks after the encoder (the paper: 2).
        flow_convs: convolutions of the optical flow module.
        hidden: widths of the fully connected layers (the paper: 512, 256, 64).
        pool: side of the pooled grid fed to the fully connected layers.
        norm: normalisation of the convolutions (``"none"`` as in EV-FlowNet, ``"instance"``,
            ``"group"``, ``"batch"``).
        flow_scale: the affine head's outputs are multiplied by it.
    """

    def __init__(
        self,
        in_channels: int = 5,
        layers: int = 2,
        width: int = 32,
        depth: int = 4,
        residual_blocks: int = 2,
        flow_convs: int = 3,
        hidden: Sequence[int] = (512, 256, 64),
        pool: int = 4,
        norm: str = "none",
        flow_scale: float = 10.0,
    ) -> None:
        super().__init__()
        if min(in_channels, layers, width, depth, pool) < 1 or flow_convs < 0:
            raise InputError(
                "EVLayerSegNet",
                f"need positive sizes, got in_channels={in_channels}, layers={layers}, "
                f"width={width}, depth={depth}, pool={pool}, flow_convs={flow_convs}",
            )
        self.layers, self.depth = layers, depth
        widths = [width * 2**level for level in range(depth)]
        self.encoder = nn.ModuleList(
            _conv(c_in, c_out, norm, stride=2)
            for c_in, c_out in zip([in_channels, *widths[:-1]], widths)
        )
        bottom = widths[-1]
        blocks = (ResidualBlock(bottom, norm) for _ in range(residual_blocks))
        self.residual = nn.Sequential(*blocks)
        outputs = [width, *widths[:-1]]  # decoder level i: concat(x, skip_i) -> up -> outputs[i]
        inputs = [widths[i] + (bottom if i == depth - 1 else outputs[i + 1]) for i in range(depth)]
        self.decoder = nn.ModuleList(_conv(inputs[i], outputs[i], norm) for i in range(depth))
        self.predict = nn.Conv2d(width, layers, 1)
        self.head = AffineHead(bottom, layers, flow_convs, hidden, pool, flow_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, K, H, W)`` and theta ``(B, K, 2, 3)`` of an input ``(B, C, H, W)``."""
        if x.ndim != 4:
            raise ShapeError(f"EVLayerSegNet: expected (B, C, H, W), got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        x = F.pad(x, (0, -width % multiple, 0, -height % multiple))
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        features = self.residual(x)
        x = features
        for i in reversed(range(self.depth)):
            x = torch.cat([x, skips[i]], dim=1)
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.decoder[i](x)
        logits = self.predict(x)[..., :height, :width]
        return logits, self.head(features)
