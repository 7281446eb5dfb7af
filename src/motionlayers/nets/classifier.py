"""The frame classifier of motion saliency (thesis 5.2.1): 3 conv blocks and 1 linear layer.

Each block is Conv3x3 -> MaxPool2 -> Norm -> ReLU, the training order of eq. 5.1 ([124]'s
layout). LRP reads the network in the interpretation order Conv -> Norm -> ReLU -> MaxPool with
the norm folded into the conv (eq. 5.2, `motionlayers.nets.lrp`); the two orders are the same
function when every norm scale gamma is non-negative, which `clamp_norm_scales` keeps true after
each optimiser step (the thesis observed gamma >= 0 "in all our experiments"; here it is enforced).

The widths, kernel and head are not in the thesis (spec A.2 [U]). The head is one linear layer on
the last block pooled to a ``pool`` grid (a fixed-size input to the linear layer at any flow
size), by its average (LRP through an average is the z+ rule) or its maximum (winner takes all,
like the blocks' max-pools), and gives one logit: ``sigmoid(logit)`` is the probability that the
frame is dynamically salient.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from motionlayers.errors import InputError, check_shape

CLASSIFIER_HEADS = ("avg", "max")
"""How the last block is pooled to the head's grid: the average (a frame-wide motion pattern,
case 1) or the maximum (a few small outliers anywhere in the frame, case 2: an average over a
cell of many agents would dilute them)."""
CLASSIFIER_NORMS = ("batch", "instance")
"""``"batch"`` (case 1, independent motion) or ``"instance"`` (case 2, crowds: copes with the
changes of flow magnitude, thesis 5.3.3)."""


class FlowClassifier(nn.Module):
    """Flow ``(B, 2, H, W)`` -> logit ``(B,)`` of "dynamically salient".

    Args:
        widths: output channels of the three (or more) conv blocks.
        norm: ``"batch"`` or ``"instance"`` (affine; its statistics are those of each input).
        pool: ``(h, w)`` grid the last block is pooled to before the linear layer.
        kernel: conv kernel size (odd).
        head: ``"avg"`` or ``"max"`` pooling to that grid (`CLASSIFIER_HEADS`).
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128),
        norm: str = "batch",
        pool: Sequence[int] = (4, 7),
        kernel: int = 3,
        head: str = "avg",
    ):
        super().__init__()
        if head not in CLASSIFIER_HEADS:
            raise InputError("head", f"unknown {head!r}; valid: {', '.join(CLASSIFIER_HEADS)}")
        self.head_pool = head
        if norm not in CLASSIFIER_NORMS:
            raise InputError("norm", f"unknown {norm!r}; valid: {', '.join(CLASSIFIER_NORMS)}")
        if kernel < 1 or kernel % 2 == 0:
            raise InputError("kernel", f"must be odd and positive, got {kernel}")
        self.norm_kind = norm
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        channels = 2
        for width in widths:
            self.convs.append(nn.Conv2d(channels, width, kernel, padding=kernel // 2))
            if norm == "batch":
                self.norms.append(nn.BatchNorm2d(width))
            else:
                self.norms.append(nn.InstanceNorm2d(width, affine=True))
            channels = width
        self.pool_size = (int(pool[0]), int(pool[1]))
        self.head = nn.Linear(channels * self.pool_size[0] * self.pool_size[1], 1)

    @property
    def min_size(self) -> int:
        """The smallest flow side the blocks' poolings accept."""
        return 2 ** len(self.convs)

    def features(self, flow: torch.Tensor) -> torch.Tensor:
        """The last block's maps ``(B, C, H / 2^n, W / 2^n)`` in training order (eq. 5.1)."""
        check_shape(flow, ("B", 2, "H", "W"), "classifier: flow")
        if min(flow.shape[-2:]) < self.min_size:
            raise InputError("flow", f"at least {self.min_size} px a side, got {flow.shape[-2:]}")
        x = flow
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = torch.relu(norm(nn.functional.max_pool2d(conv(x), 2)))
        return x

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)`` of flows ``(B, 2, H, W)`` (already normalised by the caller)."""
        return self.head(self.pooled(self.features(flow)).flatten(1))[:, 0]

    def pooled(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` the head's pooling of the last block's maps to ``pool``."""
        if self.head_pool == "max":
            return nn.functional.adaptive_max_pool2d(features, self.pool_size)
        return nn.functional.adaptive_avg_pool2d(features, self.pool_size)


def clamp_norm_scales(model: FlowClassifier) -> None:
    """Keep every norm's scale gamma >= 0 (in place), so that max-pool and norm commute."""
    with torch.no_grad():
        for norm in model.norms:
            weight = getattr(norm, "weight", None)
            if isinstance(weight, torch.Tensor):
                weight.clamp_(min=0.0)


__all__ = ["CLASSIFIER_HEADS", "CLASSIFIER_NORMS", "FlowClassifier", "clamp_norm_scales"]
