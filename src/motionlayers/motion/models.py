"""Parametric motion models: which basis, which temporal extension, how parameters tie.

A model is a matrix ``theta`` of shape ``(..., 2, J)`` applied to a basis ``c(x, y[, t])`` of
length ``J``: the flow at a site is ``f = theta @ c`` in pixels (row 0 gives u, row 1 gives v).

Spatial bases (monomials of the normalised coordinates, DESIGN.md):
    affine       c = [1, x, y]                         J_s = 3, 6 free parameters
    quadratic12  c = [1, x, y, x^2, x y, y^2]          J_s = 6, 12 free parameters (eq. 2.18)
    quadratic8   the quadratic12 basis with tied entries: planar rigid motion (eq. 1.3), 8 free
                 parameters.

Temporal extensions multiply the spatial basis by ``b(t)`` of length ``L``; ``theta`` is laid out
temporal-major, ``J = L * J_s`` and ``theta[..., l * J_s:(l + 1) * J_s]`` is the spatial model of
the ``l``-th temporal function:
    constant  b = [1]                                  L = 1
    linear    b = [1, t]                               L = 2 (thesis eq. 3.1-3.3)
    spline    clamped uniform cubic B-splines, control points every ``nu`` frames,
              ``L = 2 + floor((T - 2) / nu)`` (thesis eq. 4.5); the degree drops to ``L - 1``
              when fewer than 4 control points exist.

Convention:
    Pixel centres are normalised to [-1, 1]: ``x = (2 j + 1) / W - 1`` for column ``j``,
    ``y = (2 i + 1) / H - 1`` for row ``i``. Frame ``s`` of a volume of ``T`` frames has
    ``t = 2 s / (T - 1) - 1`` (``t = 0`` when ``T = 1``), so the first and last frames carry the
    end control points of a spline.

quadratic8 in normalised coordinates. Planar rigid motion in pixel coordinates ``(X, Y)`` reads
``u = a1 + a2 X + a3 Y + a7 X^2 + a8 X Y``, ``v = a4 + a5 X + a6 Y + a7 X Y + a8 Y^2`` (eq. 1.3).
With ``X = s_x x + c_x`` and ``Y = s_y y + c_y`` (``s_x = W / 2``, ``s_y = H / 2``) the quadratic
coefficients become ``u_{x^2} = p7``, ``v_{xy} = p7 s_y / s_x``, ``u_{xy} = p8 s_x / s_y``,
``v_{y^2} = p8`` with ``p7 = a7 s_x^2`` and ``p8 = a8 s_y^2``; the lower orders stay free. The tie
therefore depends on the aspect ratio ``H / W`` and reduces to eq. 1.3 verbatim when ``H == W``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from motionlayers.errors import InputError

#: Exponents (a, b) of the monomials x^a y^b of each spatial basis, in basis order.
SPATIAL_EXPONENTS: dict[str, tuple[tuple[int, int], ...]] = {
    "affine": ((0, 0), (1, 0), (0, 1)),
    "quadratic8": ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)),
    "quadratic12": ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)),
}
TEMPORAL_KINDS = ("constant", "linear", "spline")
_SPEC = re.compile(r"^(?P<spatial>[a-z0-9]+)(\+(?P<temporal>linear|spline)(?P<nu>\d+)?)?$")


@dataclass(frozen=True)
class MotionModel:
    """A parametric motion model: spatial basis, temporal extension, spline spacing ``nu``.

    Build one from a string with `parse_model`: ``"quadratic12"``, ``"affine+linear"``,
    ``"quadratic12+spline"`` (nu = 3, the thesis' value) or ``"quadratic12+spline4"``.
    """

    spatial: str = "quadratic12"
    temporal: str = "constant"
    nu: int = 3

    def __post_init__(self) -> None:
        if self.spatial not in SPATIAL_EXPONENTS:
            raise InputError(
                "model",
                f"unknown spatial model {self.spatial!r}; valid: {', '.join(SPATIAL_EXPONENTS)}",
            )
        if self.temporal not in TEMPORAL_KINDS:
            raise InputError(
                "model",
                f"unknown temporal model {self.temporal!r}; valid: {', '.join(TEMPORAL_KINDS)}",
            )
        if self.nu < 1:
            raise InputError("model", f"spline spacing nu must be >= 1, got {self.nu}")

    @property
    def spatial_size(self) -> int:
        """J_s, the length of the spatial basis."""
        return len(SPATIAL_EXPONENTS[self.spatial])

    @property
    def is_temporal(self) -> bool:
        return self.temporal != "constant"

    def temporal_size(self, frames: int | None = None) -> int:
        """L, the number of temporal functions for a volume of ``frames`` frames."""
        if self.temporal == "constant":
            return 1
        if self.temporal == "linear":
            return 2
        if frames is None:
            raise InputError("model", "a spline model needs the number of frames")
        return 2 + max(frames - 2, 0) // self.nu

    def basis_size(self, frames: int | None = None) -> int:
        """J, the number of columns of theta."""
        return self.spatial_size * self.temporal_size(frames)

    def num_params(self, frames: int | None = None) -> int:
        """P, the number of free parameters (8 per temporal function for quadratic8)."""
        per_time = 8 if self.spatial == "quadratic8" else 2 * self.spatial_size
        return per_time * self.temporal_size(frames)

    def __str__(self) -> str:
        if self.temporal == "constant":
            return self.spatial
        suffix = f"{self.nu}" if self.temporal == "spline" else ""
        return f"{self.spatial}+{self.temporal}{suffix}"


def parse_model(model: str | MotionModel) -> MotionModel:
    """Return ``model`` as a `MotionModel` (strings as documented there)."""
    if isinstance(model, MotionModel):
        return model
    match = _SPEC.match(model.strip().lower())
    if match is None:
        raise InputError(
            "model",
            f"cannot parse motion model {model!r}; expected e.g. "
            "'affine', 'quadratic12', 'quadratic8+linear', 'quadratic12+spline3'",
        )
    temporal = match["temporal"] or "constant"
    nu = int(match["nu"]) if match["nu"] else 3
    return MotionModel(match["spatial"], temporal, nu)


def param_map(
    model: MotionModel,
    height: int,
    width: int,
    frames: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor | None:
    """Matrix ``M`` of shape ``(2 J, P)`` with ``vec(theta) = M @ params``, or None for identity.

    ``vec`` flattens theta ``(2, J)`` row-major. Only quadratic8 ties entries; for the other
    models theta and the free parameters are the same numbers.
    """
    if model.spatial != "quadratic8":
        return None
    sx, sy = width / 2.0, height / 2.0
    js = model.spatial_size
    block = torch.zeros(2, js, 8, dtype=dtype, device=device)
    # u: 1, x, y, x^2, xy ; v: 1, x, y, xy, y^2   (parameters p1..p8 in eq. 1.3 order)
    block[0, 0, 0] = block[0, 1, 1] = block[0, 2, 2] = 1.0
    block[1, 0, 3] = block[1, 1, 4] = block[1, 2, 5] = 1.0
    block[0, 3, 6] = 1.0
    block[1, 4, 6] = sy / sx
    block[0, 4, 7] = sx / sy
    block[1, 5, 7] = 1.0
    steps = model.temporal_size(frames)
    full = torch.zeros(2, steps, js, steps, 8, dtype=dtype, device=device)
    for step in range(steps):
        full[:, step, :, step, :] = block
    return full.reshape(2 * steps * js, steps * 8)


def params_to_theta(
    params: torch.Tensor,
    model: str | MotionModel,
    height: int,
    width: int,
    frames: int | None = None,
) -> torch.Tensor:
    """Free parameters ``(..., P)`` -> theta ``(..., 2, J)`` (see `param_map`)."""
    spec = parse_model(model)
    mapping = param_map(spec, height, width, frames, params.dtype, params.device)
    joint = params if mapping is None else params @ mapping.T
    return joint.reshape(*params.shape[:-1], 2, spec.basis_size(frames))


def theta_to_params(
    theta: torch.Tensor,
    model: str | MotionModel,
    height: int,
    width: int,
    frames: int | None = None,
) -> torch.Tensor:
    """Theta ``(..., 2, J)`` -> free parameters ``(..., P)``; inverse of `params_to_theta`.

    For quadratic8 this is the least-squares projection onto the tied parametrisation (exact
    when theta satisfies the tie).
    """
    spec = parse_model(model)
    flat = theta.reshape(*theta.shape[:-2], -1)
    mapping = param_map(spec, height, width, frames, theta.dtype, theta.device)
    if mapping is None:
        return flat
    return flat @ torch.linalg.pinv(mapping).T
