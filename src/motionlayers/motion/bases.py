"""Evaluation of the spatial and temporal bases on grids and at arbitrary points.

Convention: see `motionlayers.motion.models` (normalised pixel centres, time in [-1, 1]).
"""

from __future__ import annotations

import torch

from motionlayers.motion.models import SPATIAL_EXPONENTS, MotionModel


def normalized_coordinates(
    height: int,
    width: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel-centre coordinates ``(x, y)``, each ``(H, W)``, in (-1, 1)."""
    xs = (2 * torch.arange(width, dtype=dtype, device=device) + 1) / width - 1
    ys = (2 * torch.arange(height, dtype=dtype, device=device) + 1) / height - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return x, y


def pixels_to_normalized(
    x: torch.Tensor, y: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (column ``x``, row ``y``; integer = pixel centre) -> normalised."""
    return (2 * x + 1) / width - 1, (2 * y + 1) / height - 1


def normalized_times(
    frames: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Normalised times ``(T,)`` of the frames of a volume: -1 at the first, +1 at the last."""
    if frames == 1:
        return torch.zeros(1, dtype=dtype, device=device)
    return torch.linspace(-1.0, 1.0, frames, dtype=dtype, device=device)


def spatial_basis(model: MotionModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spatial basis ``(..., J_s)`` at normalised coordinates ``x``, ``y`` of shape ``(...)``."""
    return torch.stack([x**a * y**b for a, b in SPATIAL_EXPONENTS[model.spatial]], dim=-1)


def bspline_basis(t: torch.Tensor, count: int) -> torch.Tensor:
    """Clamped uniform B-spline basis ``(..., L)`` on [-1, 1] with ``L = count`` control points.

    The degree is ``min(3, L - 1)``; the knots repeat at both ends so that the curve starts at the
    first control point and ends at the last (thesis ch. 4: control points at both ends of the
    volume, the others equidistant). Rows sum to one (partition of unity).
    """
    degree = min(3, count - 1)
    inner = torch.linspace(-1.0, 1.0, count - degree + 1, dtype=t.dtype, device=t.device)
    knots = torch.cat([inner[:1].repeat(degree), inner, inner[-1:].repeat(degree)])
    t = t.clamp(-1.0, 1.0)
    # Degree-0 functions: indicator of [k_i, k_{i+1}); the last non-empty span is closed at 1.
    left, right = knots[:-1], knots[1:]
    tt = t.unsqueeze(-1)
    basis = ((tt >= left) & (tt < right)).to(t.dtype)
    last_span = int(torch.nonzero(right > left).max())
    basis[..., last_span] = torch.where(t >= 1.0, torch.ones_like(t), basis[..., last_span])
    for d in range(1, degree + 1):
        k0, kd, k1, kd1 = knots[: -d - 1], knots[d:-1], knots[1:-d], knots[d + 1 :]
        a = _safe_ratio(tt - k0, kd - k0)
        b = _safe_ratio(kd1 - tt, kd1 - k1)
        basis = a * basis[..., :-1] + b * basis[..., 1:]
    return basis


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den with 0 where den == 0 (the Cox-de Boor convention)."""
    safe = torch.where(den == 0, torch.ones_like(den), den)
    return torch.where(den == 0, torch.zeros_like(num), num / safe)


def temporal_basis(model: MotionModel, t: torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """Temporal basis ``(..., L)`` at normalised times ``t`` of shape ``(...)``."""
    if model.temporal == "constant":
        return torch.ones_like(t).unsqueeze(-1)
    if model.temporal == "linear":
        return torch.stack([torch.ones_like(t), t], dim=-1)
    return bspline_basis(t, model.temporal_size(frames))


def basis(
    model: MotionModel,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor | None = None,
    frames: int | None = None,
) -> torch.Tensor:
    """Full basis ``(..., J)`` (temporal-major) at points ``x, y[, t]`` of shape ``(...)``."""
    spatial = spatial_basis(model, x, y)
    if not model.is_temporal:
        return spatial
    if t is None:
        raise ValueError(f"model {model} needs times t")
    temporal = temporal_basis(model, t, frames)
    return (temporal.unsqueeze(-1) * spatial.unsqueeze(-2)).flatten(-2)
