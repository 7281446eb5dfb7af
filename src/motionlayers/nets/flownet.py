"""A recurrent flow network in RAFT's mould (Teed & Deng 2020), with SoFlow's options (thesis D).

One code, two variants (`FLOW_VARIANTS`):

- ``soflow``: encoders at total stride 1/2 and a *local* correlation window of radius ``R``
  pooled over its displacement dims (appendix D): small objects keep their own feature pixels,
  but no displacement beyond ``2R`` input pixels is seen.
- ``raft-small``: stride 1/8 and RAFT's all-pairs correlation pyramid (any displacement).

Per iteration (eq. 7.33-7.34): look the correlation up around the current flow, encode it with
the flow, update the hidden state with a ConvGRU fed by the motion features and the context
features, add the predicted residual to the flow, and upsample the flow to the input grid
(convex combination of 3x3 neighbours with predicted weights, or bilinear).

**Convention.** Frames ``(B, 3, H, W)`` RGB in ``[0, 1]``; flows ``(B, 2, H, W)`` in input
pixels, u (along x) first, forward from ``frame0`` to ``frame1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from motionlayers.errors import InputError, ShapeError
from motionlayers.nets.blocks import make_norm
from motionlayers.nets.correlation import (
    CORRELATIONS,
    AllPairsCorrelationPyramid,
    LocalCorrelationPyramid,
)

UPSAMPLINGS = ("convex", "bilinear")
FLOW_VARIANTS = {
    "soflow": dict(stride=2, correlation="local", radius=4, levels=2, lookup_radius=2),
    "raft-small": dict(stride=8, correlation="all-pairs", levels=4, lookup_radius=3),
}
"""Named variants: arguments of `RecurrentFlowNet` they set."""


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip (strided 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.norm1 = make_norm(norm, out_channels, 2)
        self.norm2 = make_norm(norm, out_channels, 2)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride), make_norm(norm, out_channels, 2)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        return F.relu(self.skip(x) + y)


class Encoder(nn.Module):
    """``(B, 3, H, W) -> (B, out, H / stride, W / stride)``: a 7x7 stride-2 stem and three
    stages of residual blocks, the second and third strided as ``stride`` asks (2, 4 or 8;
    SoFlow: stem only)."""

    def __init__(self, out_channels: int, widths: Sequence[int], norm: str, stride: int):
        super().__init__()
        if stride not in (2, 4, 8):
            raise InputError("stride", f"must be 2, 4 or 8, got {stride}")
        strides = {2: (1, 1, 1), 4: (1, 2, 1), 8: (1, 2, 2)}[stride]
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 7, 2, 3), make_norm(norm, widths[0], 2), nn.ReLU(inplace=True)
        )
        stages, channels = [], widths[0]
        for width, step in zip(widths, strides, strict=True):
            stages.append(ResidualBlock(channels, width, norm, step))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class MotionEncoder(nn.Module):
    """Correlation features and the current flow -> motion features (flow appended)."""

    def __init__(self, correlation_channels: int, out_channels: int = 80):
        super().__init__()
        self.corr = nn.Conv2d(correlation_channels, 96, 1)
        self.flow1 = nn.Conv2d(2, 64, 7, padding=3)
        self.flow2 = nn.Conv2d(64, 32, 3, padding=1)
        self.mix = nn.Conv2d(96 + 32, out_channels - 2, 3, padding=1)
        self.channels = out_channels

    def forward(self, correlation: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.corr(correlation))
        f = F.relu(self.flow2(F.relu(self.flow1(flow))))
        return torch.cat((F.relu(self.mix(torch.cat((c, f), 1))), flow), 1)


class ConvGRU(nn.Module):
    """Convolutional GRU: ``h' = (1 - z) h + z tanh(W_q [r h, x])``."""

    def __init__(self, hidden: int, inputs: int):
        super().__init__()
        self.gates = nn.Conv2d(hidden + inputs, 2 * hidden, 3, padding=1)
        self.candidate = nn.Conv2d(hidden + inputs, hidden, 3, padding=1)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        z, r = torch.sigmoid(self.gates(torch.cat((h, x), 1))).chunk(2, 1)
        q = torch.tanh(self.candidate(torch.cat((r * h, x), 1)))
        return (1 - z) * h + z * q


def convex_upsample(flow: torch.Tensor, weights: torch.Tensor, factor: int) -> torch.Tensor:
    """RAFT's learned upsampling: each fine pixel is a convex combination of the 3x3 coarse
    neighbours of its cell. ``flow (B, 2, h, w)`` coarse pixels, ``weights (B, 9 f^2, h, w)``
    logits -> ``(B, 2, f h, f w)`` fine pixels (vectors scaled by ``f``)."""
    batch, _, height, width = flow.shape
    weights = torch.softmax(weights.view(batch, 1, 9, factor, factor, height, width), dim=2)
    neighbours = F.unfold(factor * flow, 3, padding=1).view(batch, 2, 9, 1, 1, height, width)
    fine = (weights * neighbours).sum(2)  # (B, 2, f, f, h, w)
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(batch, 2, factor * height, factor * width)


def bilinear_upsample(flow: torch.Tensor, factor: int) -> torch.Tensor:
    """``(B, 2, h, w) -> (B, 2, f h, f w)``, vectors scaled by ``f``."""
    return factor * F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=False)


class RecurrentFlowNet(nn.Module):
    """RAFT-style recurrent flow estimation; see the module doc and `FLOW_VARIANTS`.

    Args:
        stride: total downsampling of the encoders (2: SoFlow, 8: RAFT).
        correlation: ``"local"`` (window of ``radius`` around ``p``) or ``"all-pairs"``.
        radius: ``R`` of the local window (feature pixels).
        levels: pyramid levels; lookup_radius: ``r`` of the lookup window at each level.
        feature_channels, hidden_channels, context_channels: widths of the matching features,
            the GRU state and the context features.
        widths: channels of the encoders' three stages.
        iterations: updates when ``forward`` is not told.
        upsample: ``"convex"`` (learned) or ``"bilinear"``.
    """

    def __init__(
        self,
        stride: int = 2,
        correlation: str = "local",
        radius: int = 4,
        levels: int = 2,
        lookup_radius: int = 2,
        feature_channels: int = 64,
        hidden_channels: int = 64,
        context_channels: int = 32,
        widths: list[int] = [32, 48, 64],  # noqa: B006 (a recipe's list; never mutated)
        iterations: int = 8,
        upsample: str = "convex",
    ):
        super().__init__()
        if correlation not in CORRELATIONS:
            raise InputError("correlation", f"unknown {correlation!r}; choose from {CORRELATIONS}")
        if upsample not in UPSAMPLINGS:
            raise InputError("upsample", f"unknown {upsample!r}; choose from {UPSAMPLINGS}")
        if len(widths) != 3:
            raise InputError("widths", f"expected three stage widths, got {list(widths)}")
        self.stride, self.iterations, self.upsample = stride, iterations, upsample
        self.hidden_channels = hidden_channels
        self.features = Encoder(feature_channels, widths, "instance", stride)
        self.context = Encoder(hidden_channels + context_channels, widths, "none", stride)
        self.pyramid: LocalCorrelationPyramid | AllPairsCorrelationPyramid
        if correlation == "local":
            self.pyramid = LocalCorrelationPyramid(radius, levels, lookup_radius)
        else:
            self.pyramid = AllPairsCorrelationPyramid(levels, lookup_radius)
        self.motion = MotionEncoder(self.pyramid.channels)
        self.gru = ConvGRU(hidden_channels, self.motion.channels + context_channels)
        self.flow_head = nn.Sequential(
            nn.Conv2d(hidden_channels, 128, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 2, 3, padding=1),
        )
        self.mask_head: nn.Module | None = None
        if upsample == "convex":
            self.mask_head = nn.Sequential(
                nn.Conv2d(hidden_channels, 128, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(128, 9 * stride * stride, 1),
            )

    def forward(
        self,
        frame0: torch.Tensor,
        frame1: torch.Tensor,
        iterations: int | None = None,
        initial_flow: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Flow from ``frame0`` to ``frame1`` after each update.

        Args:
            frame0, frame1: ``(B, 3, H, W)`` RGB in ``[0, 1]``, any ``H, W`` (padded inside).
            iterations: number of updates (default ``self.iterations``).
            initial_flow: ``(B, 2, H / stride, W / stride)`` in feature pixels (warm start).

        Returns:
            ``iterations`` flows ``(B, 2, H, W)`` in input pixels, the last one the estimate.
        """
        if frame0.ndim != 4 or frame0.shape[1] != 3 or frame0.shape != frame1.shape:
            raise ShapeError(
                f"flow network: expected two (B, 3, H, W) frames of one shape, got "
                f"{tuple(frame0.shape)} and {tuple(frame1.shape)}"
            )
        height, width = frame0.shape[-2:]
        pad_h, pad_w = (-height) % self.stride, (-width) % self.stride
        pair = torch.cat((frame0, frame1)) * 2.0 - 1.0
        if pad_h or pad_w:
            pair = F.pad(pair, (0, pad_w, 0, pad_h), mode="replicate")
        features0, features1 = self.features(pair).chunk(2)
        context = self.context(pair[: frame0.shape[0]])
        hidden, context = context.split(
            [self.hidden_channels, context.shape[1] - self.hidden_channels], 1
        )
        hidden, context = torch.tanh(hidden), F.relu(context)
        pyramid = self.pyramid.build(features0, features1)
        flow = torch.zeros_like(features0[:, :2]) if initial_flow is None else initial_flow
        flows = []
        for _ in range(self.iterations if iterations is None else iterations):
            flow = flow.detach()  # RAFT: no gradient through the lookup positions
            motion = self.motion(self.pyramid.lookup(pyramid, flow), flow)
            hidden = self.gru(hidden, torch.cat((motion, context), 1))
            flow = flow + self.flow_head(hidden)
            flows.append(self._upsample(flow, hidden)[..., :height, :width])
        return flows

    def _upsample(self, flow: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        if self.mask_head is None:
            return bilinear_upsample(flow, self.stride)
        return convex_upsample(flow, 0.25 * self.mask_head(hidden), self.stride)


def flow_network(variant: str = "soflow", **overrides: object) -> RecurrentFlowNet:
    """The network of a named variant (`FLOW_VARIANTS`), with ``overrides``."""
    if variant not in FLOW_VARIANTS:
        raise InputError("variant", f"unknown {variant!r}; choose from {', '.join(FLOW_VARIANTS)}")
    return RecurrentFlowNet(**{**FLOW_VARIANTS[variant], **overrides})  # type: ignore[arg-type]


def parameter_count(network: nn.Module) -> int:
    """Trainable parameters of ``network``."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


__all__ = [
    "FLOW_VARIANTS",
    "UPSAMPLINGS",
    "ConvGRU",
    "Encoder",
    "MotionEncoder",
    "RecurrentFlowNet",
    "bilinear_upsample",
    "convex_upsample",
    "flow_network",
    "parameter_count",
]
