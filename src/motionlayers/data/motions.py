"""Random parametric motions for synthetic layers, expressed in the quadratic12 basis.

Every layer's model is returned as a quadratic12 matrix ``theta`` ``(2, 6)`` (basis
``[1, x, y, x^2, x y, y^2]`` of normalised coordinates, flow in pixels), whatever its kind:
affine models have zero quadratic columns and quadratic8 models satisfy the planar-rigid tie of
`motionlayers.motion.models`. Thetas of different kinds therefore stack into one ``(K, 2, 6)``
array that `motionlayers.motion.render` draws with the model ``"quadratic12"``.
"""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.errors import InputError
from motionlayers.motion import evaluate, params_to_theta, pixels_to_normalized, render

MOTION_KINDS = ("affine", "quadratic8", "quadratic12")
# Relative spread of the translation, linear and quadratic coefficients before scaling.
_SPREAD = {"translation": 1.0, "linear": 0.4, "quadratic": 0.15}


def _random_params(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Free parameters of a random model of ``kind`` (see `motionlayers.motion.param_map`)."""
    t, lin, quad = _SPREAD["translation"], _SPREAD["linear"], _SPREAD["quadratic"]
    if kind == "affine":
        spread = [t, lin, lin, t, lin, lin]  # u: 1, x, y ; v: 1, x, y
    elif kind == "quadratic8":
        spread = [t, lin, lin, t, lin, lin, quad, quad]
    elif kind == "quadratic12":
        spread = [t, lin, lin, quad, quad, quad] * 2
    else:
        raise InputError("model", f"unknown motion kind {kind!r}; valid: {', '.join(MOTION_KINDS)}")
    return rng.normal(0.0, 1.0, len(spread)) * np.asarray(spread)


def motion_theta(params: np.ndarray, kind: str, height: int, width: int) -> np.ndarray:
    """Free parameters of a ``kind`` model -> quadratic12 theta ``(2, 6)`` float64."""
    if kind == "affine":
        theta = np.zeros((2, 6))
        theta[:, :3] = np.asarray(params, dtype=np.float64).reshape(2, 3)
        return theta
    tensor = torch.as_tensor(np.asarray(params, dtype=np.float64))
    return params_to_theta(tensor, kind, height, width).numpy()


def render_thetas(theta: np.ndarray, height: int, width: int) -> np.ndarray:
    """Flow of quadratic12 models ``(K, 2, 6)`` on the grid: ``(K, 2, H, W)`` float64."""
    flow = render(torch.as_tensor(theta, dtype=torch.float64)[None], "quadratic12", height, width)
    return flow[0].numpy()


def sample_motion(
    rng: np.random.Generator, kind: str, height: int, width: int, magnitude: float
) -> np.ndarray:
    """A random model of ``kind`` whose largest displacement on the frame is ``magnitude`` px.

    Returns:
        quadratic12 theta ``(2, 6)`` float64 (zeros when ``magnitude`` is 0: a still layer).
    """
    theta = motion_theta(_random_params(rng, kind), kind, height, width)
    if magnitude <= 0:
        return np.zeros_like(theta)
    # The extremes of a quadratic field lie on a fine enough lattice of the frame.
    axis = torch.linspace(-1.0, 1.0, 33, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    flow = evaluate(torch.as_tensor(theta)[None], "quadratic12", x.reshape(-1), y.reshape(-1))[0]
    largest = float(flow.norm(dim=0).max())
    return theta * (magnitude / max(largest, 1e-12))


def ensure_contrast(
    rng: np.random.Generator,
    theta: np.ndarray,
    reference: np.ndarray,
    mask: np.ndarray,
    minimum: float,
) -> np.ndarray:
    """Make ``theta`` differ from ``reference`` by at least ``minimum`` px on average in ``mask``.

    When the two models' flows (both quadratic12 ``(2, 6)``) are closer than that inside the
    ``(H, W)`` bool mask, a random translation is added to ``theta`` so that the layer stays
    distinguishable from the one it is compared with. Returns the (possibly shifted) theta.
    """
    height, width = mask.shape
    rows, cols = np.nonzero(mask)
    pick = np.linspace(0, rows.size - 1, min(rows.size, 4096)).astype(np.int64)
    x, y = pixels_to_normalized(
        torch.as_tensor(cols[pick], dtype=torch.float64),
        torch.as_tensor(rows[pick], dtype=torch.float64),
        height,
        width,
    )
    flows = evaluate(torch.as_tensor(np.stack([theta, reference])), "quadratic12", x, y)
    gap = (flows[0] - flows[1]).norm(dim=0).numpy()
    if gap.size == 0 or float(gap.mean()) >= minimum:
        return theta
    angle = rng.uniform(0, 2 * np.pi)
    shifted = theta.copy()
    shifted[:, 0] += 2 * minimum * np.array([np.cos(angle), np.sin(angle)])
    return shifted
