"""Sampling images at pixel positions, and warping them backward by a flow (torch).

**Convention.** Positions ``(N, 2, H, W)`` are ``(x, y)`` in pixels of the sampled image,
integers at pixel centres; flows ``(N, 2, H, W)`` are forward, u (x) first: frame 1 sampled at
``p + w(p)`` should match frame 0. Sampling is bilinear and clamps to the border.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """``(1, 2, H, W)`` pixel coordinates ``(x, y)`` with ``like``'s dtype and device."""
    ys = torch.arange(height, dtype=like.dtype, device=like.device)
    xs = torch.arange(width, dtype=like.dtype, device=like.device)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((x, y))[None]


def sample_at(values: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Bilinear samples ``(N, C, H', W')`` of ``values (N, C, H, W)`` at pixel positions
    ``(N, 2, H', W')`` (x, y), clamped to the image."""
    height, width = values.shape[-2:]
    scale = position.new_tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)]).view(1, 2, 1, 1)
    normalised = (position * scale - 1).permute(0, 2, 3, 1)
    return F.grid_sample(
        values, normalised, mode="bilinear", padding_mode="border", align_corners=True
    )


def inside(
    position: torch.Tensor, height: int | None = None, width: int | None = None
) -> torch.Tensor:
    """``(N, 1, H', W')`` bool: positions ``(N, 2, H', W')`` within an image of ``height x
    width`` (default: the positions' own grid)."""
    height = position.shape[-2] if height is None else height
    width = position.shape[-1] if width is None else width
    x, y = position[:, 0:1], position[:, 1:2]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` sampled at ``p + flow(p)``: ``(B, C, H, W)`` and ``(B, 2, H, W)`` ->
    ``(warped (B, C, H, W), inside (B, 1, H, W))`` where ``inside`` is 1.0 where ``p + w``
    falls inside the image (border values outside)."""
    height, width = image.shape[-2:]
    position = pixel_grid(height, width, flow) + flow
    return sample_at(image, position), inside(position).to(image.dtype)


__all__ = ["backward_warp", "inside", "pixel_grid", "sample_at"]
