"""Correlation volumes of two feature maps (thesis appendix D, eq. 7.43-7.53; RAFT's all-pairs).

Two forms, both ``1/sqrt(C)``-scaled dot products of feature vectors:

- **Local** (SoFlow): for every pixel ``p`` of ``F0`` and every shift ``d`` in ``[-R, R]^2``,
  ``CV_d(p) = <F0(p), F1(p + d)> / sqrt(C)`` (zero where ``p + d`` falls outside ``F1``).
  ``O(N (2R+1)^2)`` memory instead of ``O(N^2)``. `local_correlation` computes it shift by shift
  with a hand-written backward (eq. 7.47-7.53; autograd through the shift loop keeps ``D^2``
  products alive); `unfold_correlation` is the per-pixel form (Listing 1, with the einsum fixed:
  ``'bcm,bcdm->bdm'``), kept as a reference for tests.
- **All pairs** (RAFT): ``<F0(p), F1(q)> / sqrt(C)`` for every ``p, q``; `all_pairs_correlation`.

**Convention.** Shifts are indexed row-major over ``(dy, dx)``: ``d = (dy + R) * D + (dx + R)``
with ``D = 2R + 1``, ``dy`` along rows and ``dx`` along columns, so a volume ``(B, D*D, H, W)``
reshapes to ``(B, D, D, H, W)`` indexed ``[b, dy + R, dx + R, y, x]``; ``d = (D*D - 1) / 2`` is
the zero shift.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from motionlayers.errors import ShapeError
from motionlayers.flow.warp import pixel_grid


def _check_pair(features0: torch.Tensor, features1: torch.Tensor, radius: int) -> None:
    if features0.ndim != 4 or features0.shape != features1.shape:
        raise ShapeError(
            f"correlation: expected two (B, C, H, W) feature maps of one shape, got "
            f"{tuple(features0.shape)} and {tuple(features1.shape)}"
        )
    if radius < 0:
        raise ShapeError(f"correlation: radius must be >= 0, got {radius}")


def _shifts(radius: int) -> list[tuple[int, int]]:
    """``(dy, dx)`` of every shift, in the volume's order (row-major, see the module doc)."""
    span = range(-radius, radius + 1)
    return [(dy, dx) for dy in span for dx in span]


class _LocalCorrelation(torch.autograd.Function):
    """Per-shift local correlation with the manual backward of eq. 7.47-7.53 (with 1/sqrt(C),
    which the thesis's eq. 7.49 leaves out)."""

    @staticmethod
    def forward(ctx: Any, features0: torch.Tensor, features1: torch.Tensor, radius: int) -> Any:
        ctx.save_for_backward(features0, features1)
        ctx.radius = radius
        _, channels, height, width = features0.shape
        padded = F.pad(features1, (radius,) * 4)
        scale = 1.0 / math.sqrt(channels)
        volume = features0.new_empty(features0.shape[0], (2 * radius + 1) ** 2, height, width)
        for d, (dy, dx) in enumerate(_shifts(radius)):
            window = padded[
                :, :, radius + dy : radius + dy + height, radius + dx : radius + dx + width
            ]
            volume[:, d] = (features0 * window).sum(1) * scale
        return volume

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        features0, features1 = ctx.saved_tensors
        radius = ctx.radius
        _, channels, height, width = features0.shape
        scale = 1.0 / math.sqrt(channels)
        padded = F.pad(features1, (radius,) * 4)
        grad0 = torch.zeros_like(features0) if ctx.needs_input_grad[0] else None
        grad_padded = torch.zeros_like(padded) if ctx.needs_input_grad[1] else None
        for d, (dy, dx) in enumerate(_shifts(radius)):
            rows = slice(radius + dy, radius + dy + height)
            cols = slice(radius + dx, radius + dx + width)
            g = grad[:, d : d + 1] * scale
            if grad0 is not None:  # dF0(p) = sum_d G_d(p) F1(p + d)
                grad0 += g * padded[:, :, rows, cols]
            if grad_padded is not None:  # dF1(p + d) += G_d(p) F0(p): scatter into the padding
                grad_padded[:, :, rows, cols] += g * features0
        grad1 = None
        if grad_padded is not None:
            grad1 = grad_padded[:, :, radius : radius + height, radius : radius + width]
        return grad0, grad1, None


def local_correlation(
    features0: torch.Tensor, features1: torch.Tensor, radius: int
) -> torch.Tensor:
    """Local correlation volume, one shift at a time (eq. 7.43-7.44).

    Args:
        features0, features1: ``(B, C, H, W)`` feature maps of the two frames.
        radius: ``R``; shifts span ``[-R, R]^2`` feature pixels.

    Returns:
        ``(B, (2R+1)^2, H, W)``: ``<F0(p), F1(p + d)> / sqrt(C)``, shifts ordered as the module
        doc says, zero where ``p + d`` is outside the map.
    """
    _check_pair(features0, features1, radius)
    return _LocalCorrelation.apply(features0, features1, radius)


def unfold_correlation(
    features0: torch.Tensor, features1: torch.Tensor, radius: int
) -> torch.Tensor:
    """The same volume as `local_correlation` by unfolding ``F1`` (Listing 1, einsum fixed):
    memory ``C (2R+1)^2 H W``; a reference for tests. ``(B, C, H, W) -> (B, (2R+1)^2, H, W)``."""
    _check_pair(features0, features1, radius)
    batch, channels, height, width = features0.shape
    size = 2 * radius + 1
    windows = F.unfold(features1, size, padding=radius)  # (B, C * D^2, H W), C slowest
    windows = windows.view(batch, channels, size * size, height * width)
    flat0 = features0.reshape(batch, channels, height * width)
    volume = torch.einsum("bcm,bcdm->bdm", flat0, windows) / math.sqrt(channels)
    return volume.view(batch, size * size, height, width)


def all_pairs_correlation(features0: torch.Tensor, features1: torch.Tensor) -> torch.Tensor:
    """RAFT's all-pairs volume: ``(B, C, H, W)`` twice -> ``(B, H, W, H, W)`` indexed
    ``[b, y0, x0, y1, x1]``, ``<F0(y0, x0), F1(y1, x1)> / sqrt(C)``."""
    _check_pair(features0, features1, 0)
    batch, channels, height, width = features0.shape
    flat0 = features0.reshape(batch, channels, height * width)
    flat1 = features1.reshape(batch, channels, height * width)
    volume = torch.einsum("bcm,bcn->bmn", flat0, flat1) / math.sqrt(channels)
    return volume.view(batch, height, width, height, width)


def _window_offsets(radius: int, device: torch.device) -> torch.Tensor:
    """``((2r+1)^2, 2)`` offsets ``(dx, dy)`` of a lookup window, in `_shifts`' order."""
    return torch.tensor(
        [(dx, dy) for dy, dx in _shifts(radius)], dtype=torch.float32, device=device
    )


def _sample(grids: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``grids (N, 1, h, w)`` at ``points (N, M, 2)`` (x, y in grid pixels,
    integers at centres; zero outside): ``(N, M)``."""
    height, width = grids.shape[-2:]
    scale = points.new_tensor([2.0 / max(width, 1), 2.0 / max(height, 1)])
    normalised = (points + 0.5) * scale - 1.0  # align_corners=False: pixel centres at i + 0.5
    sampled = F.grid_sample(
        grids, normalised[:, None], mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return sampled[:, 0, 0]


class LocalCorrelationPyramid(nn.Module):
    """SoFlow's lookup: the local volume pooled over its displacement dims, sampled around the
    current flow (appendix D).

    Level 0 is the ``D x D`` volume of `local_correlation`; level ``l`` pools it ``l`` times
    (3x3 means at stride 2, centred on the zero shift). For a flow ``w`` (feature pixels) the
    window ``w + delta``, ``delta`` in ``[-r, r]^2`` level-``l`` cells, is read bilinearly from
    every level (zero outside) and the levels are concatenated. The window is centred on
    ``p``, not ``p + w``: a displacement beyond ``R`` feature pixels is not seen (pooling
    widens the view, not the range).
    """

    def __init__(self, radius: int = 4, levels: int = 2, lookup_radius: int = 2):
        super().__init__()
        self.radius, self.levels, self.lookup_radius = radius, levels, lookup_radius

    @property
    def channels(self) -> int:
        """Channels of a lookup: ``levels * (2r + 1)^2``."""
        return self.levels * (2 * self.lookup_radius + 1) ** 2

    def build(self, features0: torch.Tensor, features1: torch.Tensor) -> list[torch.Tensor]:
        """The pyramid: level ``l`` is ``(B H W, 1, D_l, D_l)``."""
        batch, _, height, width = features0.shape
        size = 2 * self.radius + 1
        volume = local_correlation(features0, features1, self.radius)
        grid = volume.permute(0, 2, 3, 1).reshape(batch * height * width, 1, size, size)
        pyramid = [grid]
        for _ in range(1, self.levels):
            # 3x3 windows at stride 2 keep the zero shift at a cell centre (cell i of level l
            # is centred on level-0 index 2^l i): 2x2 cells cannot split an odd grid evenly.
            grid = F.avg_pool2d(grid, 3, 2, padding=1, count_include_pad=False)
            pyramid.append(grid)
        return pyramid

    def lookup(self, pyramid: list[torch.Tensor], flow: torch.Tensor) -> torch.Tensor:
        """Correlation features around ``flow (B, 2, H, W)`` (feature pixels):
        ``(B, channels, H, W)``."""
        batch, _, height, width = flow.shape
        centre = flow.permute(0, 2, 3, 1).reshape(-1, 1, 2) + self.radius  # level-0 index
        offsets = _window_offsets(self.lookup_radius, flow.device)
        features = []
        for level, grid in enumerate(pyramid):
            features.append(_sample(grid, centre / 2**level + offsets))  # w / 2^l + R / 2^l
        out = torch.cat(features, 1)
        return out.view(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()


class AllPairsCorrelationPyramid(nn.Module):
    """RAFT's lookup: the all-pairs volume pooled over the second frame's dims, sampled around
    ``p + w`` (any displacement is in range)."""

    def __init__(self, levels: int = 4, lookup_radius: int = 4):
        super().__init__()
        self.levels, self.lookup_radius = levels, lookup_radius

    @property
    def channels(self) -> int:
        return self.levels * (2 * self.lookup_radius + 1) ** 2

    def build(self, features0: torch.Tensor, features1: torch.Tensor) -> list[torch.Tensor]:
        """Level ``l``: ``(B H W, 1, H / 2^l, W / 2^l)``."""
        batch, _, height, width = features0.shape
        grid = all_pairs_correlation(features0, features1).reshape(-1, 1, height, width)
        pyramid = [grid]
        for _ in range(1, self.levels):
            grid = F.avg_pool2d(grid, 2, ceil_mode=True)
            pyramid.append(grid)
        return pyramid

    def lookup(self, pyramid: list[torch.Tensor], flow: torch.Tensor) -> torch.Tensor:
        """``(B, channels, H, W)`` around ``p + flow`` (``flow (B, 2, H, W)``, feature px)."""
        batch, _, height, width = flow.shape
        target = pixel_grid(height, width, flow) + flow  # (B, 2, H, W): p + w
        centre = target.permute(0, 2, 3, 1).reshape(-1, 1, 2)
        offsets = _window_offsets(self.lookup_radius, flow.device)
        features = []
        for level, grid in enumerate(pyramid):
            # Cell i of level l averages level-0 cells 2^l i .. 2^l (i + 1) - 1, centred at
            # 2^l i + (2^l - 1) / 2 (RAFT's 2x2 pooling; a last odd cell averages fewer).
            cells = 2**level
            points = (centre - (cells - 1) / 2) / cells + offsets
            features.append(_sample(grid, points))
        out = torch.cat(features, 1)
        return out.view(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()


CORRELATIONS = ("local", "all-pairs")
"""Correlation lookups of the flow network: SoFlow's local window, RAFT's all pairs."""
