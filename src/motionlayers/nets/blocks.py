"""Small U-Net building blocks, 2D or 3D from the same code, kept in registries by name.

Every block takes ``dims`` (2 or 3) and works on ``(B, C, H, W)`` or ``(B, C, T, H, W)``. In 3D
the sampling blocks act on the spatial axes only (thesis 3.4.1: down/up-sampling on H, W; the
convolutions see time too). Registries map a name to a block class so that a recipe can swap them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from motionlayers.errors import InputError


def conv_class(dims: int) -> type[nn.Module]:
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    return {2: nn.Conv2d, 3: nn.Conv3d}[_check_dims(dims)]


def _check_dims(dims: int) -> int:
    if dims not in (2, 3):
        raise InputError("dims", f"expected 2 or 3, got {dims}")
    return dims


def _sampling_factor(dims: int) -> Any:
    return (2, 2) if dims == 2 else (1, 2, 2)


def make_norm(norm: str, channels: int, dims: int) -> nn.Module:
    """Normalisation layer by name: ``"instance"`` (thesis), ``"group"`` (8 groups), ``"batch"``,
    ``"none"``."""
    if norm == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if norm == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if norm == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if norm == "none":
        return nn.Identity()
    raise InputError("norm", f"unknown normalisation {norm!r}; choose from {NORMS}")


NORMS = ("instance", "group", "batch", "none")


class DoubleConv(nn.Sequential):
    """(conv 3 -> norm -> ReLU) x 2: ``(B, C_in, *S) -> (B, C_out, *S)``."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2, norm: str = "instance"):
        conv = conv_class(dims)
        super().__init__(
            conv(in_channels, out_channels, 3, padding=1, bias=norm == "none"),
            make_norm(norm, out_channels, dims),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=1, bias=norm == "none"),
            make_norm(norm, out_channels, dims),
            nn.ReLU(inplace=True),
        )


class MaxPoolDown(nn.Module):
    """Max pooling by 2 on the spatial axes; channels unchanged."""

    def __init__(self, channels: int, dims: int = 2):
        super().__init__()
        factor = _sampling_factor(dims)
        self.pool = (nn.MaxPool2d if dims == 2 else nn.MaxPool3d)(factor, factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class StridedConvDown(nn.Module):
    """Learned downsampling: a stride-2 convolution on the spatial axes; channels unchanged."""

    def __init__(self, channels: int, dims: int = 2):
        super().__init__()
        factor = _sampling_factor(dims)
        self.conv = conv_class(dims)(channels, channels, factor, stride=factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class InterpolateUp(nn.Module):
    """(Bi/tri)linear upsampling by 2 on the spatial axes, then a 1x1 conv ``C_in -> C_out``."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2):
        super().__init__()
        self.mode = "bilinear" if dims == 2 else "trilinear"
        self.factor = tuple(float(f) for f in _sampling_factor(dims))
        self.proj = conv_class(dims)(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=self.factor, mode=self.mode, align_corners=False)
        return self.proj(x)


class TransposeUp(nn.Module):
    """Transposed convolution, stride 2 on the spatial axes: ``C_in -> C_out``."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2):
        super().__init__()
        factor = _sampling_factor(dims)
        convt = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        self.conv = convt(in_channels, out_channels, factor, stride=factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SkipTransit(nn.Module):
    """Classical U-Net skip connection: the encoder features go across unchanged."""

    def __init__(self, channels: int, dims: int = 2):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ConvTransit(nn.Module):
    """A 1x1 convolution on the skip path (a learned transit)."""

    def __init__(self, channels: int, dims: int = 2):
        super().__init__()
        self.conv = conv_class(dims)(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


DOWN_BLOCKS: dict[str, Callable[..., nn.Module]] = {
    "maxpool": MaxPoolDown,
    "strided": StridedConvDown,
}
UP_BLOCKS: dict[str, Callable[..., nn.Module]] = {
    "interpolate": InterpolateUp,
    "transpose": TransposeUp,
}
TRANSIT_BLOCKS: dict[str, Callable[..., nn.Module]] = {"skip": SkipTransit, "conv": ConvTransit}
CONV_BLOCKS: dict[str, Callable[..., nn.Module]] = {"double": DoubleConv}


def lookup(
    registry: dict[str, Callable[..., nn.Module]], name: str, what: str
) -> Callable[..., nn.Module]:
    """``registry[name]``, or an `InputError` listing the valid names."""
    if name not in registry:
        raise InputError(what, f"unknown block {name!r}; choose from {sorted(registry)}")
    return registry[name]
