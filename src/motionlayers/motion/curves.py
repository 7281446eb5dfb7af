"""Motion parameters over time as B-spline curves (thesis ch. 4's temporal model, eq. 4.5).

A segmentation gives each layer one spatial model per frame, ``theta_t (2, J_s)``. Its B-spline
summary is the curve ``theta(t) = sum_l B_l(t) P_l`` whose control points ``P_l (2, J_s)`` (one
every ``nu`` frames, `MotionModel.temporal_size`) minimise ``sum_t w_t |theta_t - theta(t)|^2``.
Because a flow model is linear in theta, ``theta(t)`` is also a space-time spline model of the
layer's flow (``quadratic12+spline3`` for quadratic frames): the one eq. 4.5 would fit when the
per-frame models are exact. Frames where a layer is empty weigh 0.
"""

from __future__ import annotations

import torch

from motionlayers.errors import ShapeError
from motionlayers.motion.bases import bspline_basis, normalized_times
from motionlayers.motion.models import MotionModel


def spline_design(frames: int, nu: int = 3, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(T, L)`` clamped cubic B-spline basis at the ``T`` frames of a volume, ``L = 2 +
    (T - 2) // nu`` control points (`MotionModel.temporal_size`); rows sum to one."""
    count = MotionModel("quadratic12", "spline", nu).temporal_size(frames)
    return bspline_basis(normalized_times(frames, dtype=dtype), count)


def fit_spline_curve(
    values: torch.Tensor, weights: torch.Tensor | None = None, nu: int = 3, ridge: float = 1e-6
) -> torch.Tensor:
    """Control points ``(L, ...)`` of the weighted least-squares B-spline curve through
    ``values (T, ...)`` (weights ``(T,)`` >= 0, default 1; ``ridge`` keeps a control point that
    no weighted frame reaches at zero instead of undefined)."""
    if values.ndim < 1 or values.shape[0] < 1:
        raise ShapeError(f"values: expected (T, ...) with T >= 1, got {tuple(values.shape)}")
    frames = values.shape[0]
    design = spline_design(frames, nu, torch.float64)  # (T, L)
    w = torch.ones(frames, dtype=torch.float64) if weights is None else weights.double()
    if w.shape != (frames,):
        raise ShapeError(f"weights: expected ({frames},), got {tuple(w.shape)}")
    gram = design.T @ (w[:, None] * design)
    gram = gram + ridge * torch.eye(design.shape[1], dtype=torch.float64)
    rhs = design.T @ (w[:, None] * values.double().reshape(frames, -1))
    control = torch.linalg.solve(gram, rhs)
    return control.reshape(design.shape[1], *values.shape[1:]).to(values.dtype)


def evaluate_spline_curve(control: torch.Tensor, frames: int, nu: int = 3) -> torch.Tensor:
    """``(T, ...)`` values of the curve with control points ``(L, ...)`` at ``T`` frames."""
    design = spline_design(frames, nu, torch.float64)
    if design.shape[1] != control.shape[0]:
        raise ShapeError(
            f"control: {frames} frames with nu={nu} have {design.shape[1]} control points, "
            f"got {control.shape[0]}"
        )
    flat = design @ control.double().reshape(control.shape[0], -1)
    return flat.reshape(frames, *control.shape[1:]).to(control.dtype)


__all__ = ["evaluate_spline_curve", "fit_spline_curve", "spline_design"]
