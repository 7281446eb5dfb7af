"""Flow layout conversion and resizing with vector rescaling.

Convention: a NumPy flow is ``(H, W, 2)``, a torch flow ``(B, 2, H, W)``; channel 0 = u (along x,
columns), channel 1 = v (along y, rows), in pixels of the flow's own grid. Resizing a flow from
``(H, W)`` to ``(H', W')`` interpolates it bilinearly (pixel centres aligned, i.e. PyTorch's
``align_corners=False``) and multiplies u by ``W' / W`` and v by ``H' / H``.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch
import torch.nn.functional as F

from motionlayers.errors import ShapeError, check_shape


def to_tensor(flow: np.ndarray) -> torch.Tensor:
    """``(H, W, 2)`` NumPy flow -> ``(1, 2, H, W)`` float32 tensor (a copy)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ShapeError(f"flow: expected shape (H, W, 2), got {flow.shape}")
    return torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32))[None]


def from_tensor(flow: torch.Tensor) -> np.ndarray:
    """``(1, 2, H, W)`` or ``(2, H, W)`` tensor -> ``(H, W, 2)`` float32 NumPy flow (a copy)."""
    if flow.ndim == 4:
        check_shape(flow, (1, 2, "H", "W"), "flow")
        flow = flow[0]
    check_shape(flow, (2, "H", "W"), "flow")
    array = flow.detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()
    return np.array(array, dtype=np.float32, order="C", copy=True)


@overload
def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray: ...
@overload
def resize_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor: ...
def resize_flow(flow: np.ndarray | torch.Tensor, height: int, width: int):
    """Resize a flow to ``(height, width)`` and rescale its vectors (see module doc).

    Args:
        flow: NumPy ``(H, W, 2)`` or torch ``(B, 2, H, W)``; the input is not modified.

    Returns:
        the same kind as ``flow``: ``(height, width, 2)`` float32 or ``(B, 2, height, width)``
        (torch keeps the input's floating dtype and device).
    """
    if height <= 0 or width <= 0:
        raise ShapeError(f"resize_flow: target size must be positive, got {height}x{width}")
    if isinstance(flow, torch.Tensor):
        return _resize_tensor(flow, height, width)
    return from_tensor(_resize_tensor(to_tensor(flow), height, width))


def _resize_tensor(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    check_shape(flow, ("B", 2, "H", "W"), "flow")
    if not flow.is_floating_point():
        flow = flow.float()
    old_height, old_width = flow.shape[-2:]
    if (old_height, old_width) == (height, width):
        return flow.clone()
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    scale = torch.tensor([width / old_width, height / old_height], dtype=flow.dtype)
    return resized * scale.to(flow.device).view(1, 2, 1, 1)
