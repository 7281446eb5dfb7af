"""Dense rendering of parametric motion models into flow fields, and evaluation at points."""

from __future__ import annotations

import torch

from motionlayers.errors import ShapeError
from motionlayers.motion.bases import (
    basis,
    normalized_coordinates,
    normalized_times,
    spatial_basis,
    temporal_basis,
)
from motionlayers.motion.models import MotionModel, parse_model


def render(
    theta: torch.Tensor,
    model: str | MotionModel,
    height: int,
    width: int,
    frames: int | None = None,
) -> torch.Tensor:
    """Flow of each model on the pixel grid.

    Args:
        theta: ``(B, K, 2, J)`` model matrices (see `motionlayers.motion.models`).
        model: the model (``"quadratic12"``, ``"affine+linear"``, ``"quadratic12+spline3"`` ...).
        height, width: grid size ``H, W``.
        frames: ``T`` for a temporal model (required then); the output becomes a volume.

    Returns:
        ``(B, K, 2, H, W)`` flow in pixels, or ``(B, K, 2, T, H, W)`` for a temporal model.

    Convention:
        u is channel 0 (along x, columns), v channel 1; pixel centres normalised to [-1, 1].
    """
    spec = parse_model(model)
    if spec.is_temporal and frames is None:
        raise ShapeError(f"render: model {spec} is temporal, pass frames=T")
    size = spec.basis_size(frames)
    if theta.ndim != 4 or theta.shape[2] != 2 or theta.shape[3] != size:
        raise ShapeError(
            f"render: theta must be (B, K, 2, {size}) for {spec}, got {tuple(theta.shape)}"
        )
    x, y = normalized_coordinates(height, width, theta.dtype, theta.device)
    spatial = spatial_basis(spec, x, y).reshape(height * width, -1)  # (N, J_s)
    if not spec.is_temporal:
        flow = theta @ spatial.T  # (B, K, 2, N)
        return flow.reshape(*theta.shape[:3], height, width)
    assert frames is not None
    times = normalized_times(frames, theta.dtype, theta.device)
    temporal = temporal_basis(spec, times, frames)  # (T, L)
    per_frame = theta_per_frame(theta, spec, temporal)  # (B, K, 2, T, J_s)
    flow = per_frame @ spatial.T  # (B, K, 2, T, N)
    return flow.reshape(*theta.shape[:3], frames, height, width)


def theta_per_frame(
    theta: torch.Tensor, model: MotionModel, temporal: torch.Tensor
) -> torch.Tensor:
    """Spatial model at each frame: theta ``(..., 2, L * J_s)`` -> ``(..., 2, T, J_s)``.

    ``temporal`` is the temporal basis ``(T, L)`` at the frames' times.
    """
    blocks = theta.unflatten(-1, (temporal.shape[1], model.spatial_size))  # (..., 2, L, J_s)
    return torch.einsum("tl,...lj->...tj", temporal, blocks)


def evaluate(
    theta: torch.Tensor,
    model: str | MotionModel,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor | None = None,
    frames: int | None = None,
) -> torch.Tensor:
    """Flow of each model at arbitrary points (events, sparse tracks).

    Args:
        theta: ``(..., K, 2, J)``.
        x, y: normalised coordinates ``(N,)`` (see `pixels_to_normalized`).
        t: normalised times ``(N,)`` in [-1, 1], for temporal models.
        frames: ``T`` for spline models (fixes the number of control points).

    Returns:
        ``(..., K, 2, N)`` flow in pixels.
    """
    spec = parse_model(model)
    c = basis(spec, x, y, t, frames)  # (N, J)
    if c.shape[-1] != theta.shape[-1]:
        raise ShapeError(
            f"evaluate: theta has J={theta.shape[-1]}, model {spec} needs {c.shape[-1]}"
        )
    return theta @ c.T
