"""Synthetic flows for motion saliency (thesis ch. 5), with exact frame labels and masks.

The thesis trains its frame classifier on a dataset it does not describe (case 1) and on crowds
rendered by a simulator (case 2); it has no flow generator. These are the project's own:

- **parallax** (case 1, *independent motion vs parallax*): a rigid camera (translation ``T``,
  rotation ``Omega``, focal ``f``) over a scene with depth: a background plane (inverse depth
  affine in the image) and several nearer objects. Every static point moves by the instantaneous
  rigid-motion equations (Longuet-Higgins & Prazdny)::

      u = (x T_z - f T_x) / Z + x y / f w_x - (f + x^2 / f) w_y + y w_z
      v = (y T_z - f T_y) / Z + (f + y^2 / f) w_x - x y / f w_y - x w_z

  so near objects differ from the background by parallax only (not salient). In a salient frame
  one or two of the objects also move on their own: an extra 2-D affine motion whose component
  across the epipolar direction (the direction the translation alone would move the point) is at
  least ``min_contrast`` px on average, since motion *along* that direction could be depth alone.
- **crowd** (case 2, *distinctive motion in a crowd*): a moving camera (a random quadratic field)
  over a ground plane where 50-300 agents (small blobs) walk in one common, random direction with
  a little jitter; in a salient frame 1-3 of them walk in a direction at least ``min_angle``
  degrees away from the crowd's. The label is 1 when an outlier is visible (at least
  ``min_visible`` pixels; agents occlude each other).

Salient and non-salient frames come from the same scene distribution (the same objects are drawn
either way; only their motion differs), so a classifier has to read the motion, not the shapes.
Flows are exact up to optional noise and a blur of the motion boundaries (what a flow estimator
does to them). Every call takes a seed or a generator: the same seed, the same frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.data.layered import make_rng
from motionlayers.data.motions import render_thetas, sample_motion
from motionlayers.data.shapes import random_shape
from motionlayers.errors import InputError

SALIENCY_KINDS = ("parallax", "crowd")
"""The generated cases (`saliency_frame`'s ``kind``)."""

Seed = int | Sequence[int] | np.random.Generator


@dataclass(frozen=True)
class SaliencyFrame:
    """One generated frame: ``flow (2, H, W)`` float32 pixels, ``mask (H, W)`` bool (the
    independently moving pixels), ``label`` 1 when the frame is salient."""

    flow: np.ndarray
    mask: np.ndarray
    label: int


def rigid_flow(
    inverse_depth: np.ndarray,
    translation: np.ndarray,
    rotation: np.ndarray,
    focal: float,
) -> np.ndarray:
    """The flow ``(2, H, W)`` of a static scene of ``inverse_depth (H, W)`` (1/Z) seen by a camera
    moving by ``translation (3,)`` and ``rotation (3,)`` (radians), focal ``focal`` px, principal
    point at the frame centre (instantaneous motion equations; see the module doc)."""
    height, width = inverse_depth.shape
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x -= (width - 1) / 2
    y -= (height - 1) / 2
    tx, ty, tz = translation
    wx, wy, wz = rotation
    u = (x * tz - focal * tx) * inverse_depth + x * y / focal * wx - (focal + x**2 / focal) * wy
    v = (y * tz - focal * ty) * inverse_depth + (focal + y**2 / focal) * wx - x * y / focal * wy
    return np.stack([u + y * wz, v - x * wz])


def _plane_inverse_depth(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Inverse depth of a random plane, ``(H, W)``: affine in the image, positive everywhere."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    xn, yn = 2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1
    slope = rng.uniform(-0.45, 0.45, 2)
    return (1.0 + slope[0] * xn + slope[1] * yn) / rng.uniform(8.0, 30.0)


def _scale_to(flow: np.ndarray, magnitude: float) -> tuple[np.ndarray, float]:
    """``flow`` scaled so that its largest vector is ``magnitude`` px, and the factor."""
    largest = float(np.sqrt(flow[0] ** 2 + flow[1] ** 2).max())
    factor = magnitude / max(largest, 1e-9)
    return flow * factor, factor


def _degrade(
    rng: np.random.Generator, flow: np.ndarray, noise: float, blur: float, scale: float
) -> np.ndarray:
    """Blur the motion boundaries (Gaussian of ``blur`` px) and add noise (``noise`` x scale)."""
    if blur > 0:
        flow = np.stack([cv2.GaussianBlur(c, (0, 0), blur) for c in flow])
    if noise > 0:
        flow = flow + rng.normal(0.0, noise * scale, flow.shape)
    return flow


def parallax_frame(
    seed: Seed,
    height: int = 128,
    width: int = 224,
    salient: bool = True,
    objects: tuple[int, int] = (1, 4),
    movers: tuple[int, int] = (1, 2),
    max_motion: float = 0.08,
    min_contrast: float = 1.0,
    noise: float = 0.02,
    blur: float = 1.0,
) -> SaliencyFrame:
    """A case-1 frame: rigid camera over a plane and nearer objects (see the module doc).

    Args:
        seed: seed or generator.
        salient: whether ``movers`` of the objects move on their own.
        objects: ``[min, max]`` number of near objects (some become movers).
        movers: ``[min, max]`` number of independently moving objects of a salient frame.
        max_motion: largest camera-induced displacement, as a fraction of the width (drawn in
            ``[0.1, 1] x`` that).
        min_contrast: smallest mean displacement (px) of a mover's own motion across the
            epipolar direction.
        noise: Gaussian flow noise, as a fraction of the largest displacement.
        blur: Gaussian sigma (px) across motion boundaries.
    """
    rng = make_rng(seed)
    focal = width * rng.uniform(0.7, 1.5)
    inverse_depth = _plane_inverse_depth(rng, height, width)
    count = int(rng.integers(objects[0], objects[1] + 1))
    moving = min(count, int(rng.integers(movers[0], movers[1] + 1)))
    owner = np.full((height, width), -1, dtype=np.int64)  # the object seen at each pixel
    for index in range(count):
        area = height * width * rng.uniform(0.01, 0.12)
        shape = random_shape(rng, height, width, area)
        # fronto-parallel, 1.5-6 times nearer than the plane behind it
        nearer = float(inverse_depth[shape].max(initial=0.0)) * rng.uniform(1.5, 6.0)
        seen = shape & (nearer > inverse_depth)
        inverse_depth[seen], owner[seen] = nearer, index
    translation = rng.normal(0.0, 1.0, 3) * np.array([1.0, 1.0, rng.uniform(0.2, 1.5)])
    rotation = rng.normal(0.0, 1.0, 3) * rng.uniform(0.0, 0.4) / focal
    magnitude = width * max_motion * rng.uniform(0.1, 1.0)
    static, factor = _scale_to(rigid_flow(inverse_depth, translation, rotation, focal), magnitude)
    flow = static.copy()
    mask = np.zeros((height, width), dtype=bool)
    if salient and moving:
        epipolar = rigid_flow(inverse_depth, translation * factor, np.zeros(3), focal)
        for index in rng.permutation(count)[:moving]:
            visible = owner == index
            if not visible.any():
                continue
            own = _own_motion(rng, epipolar, visible, magnitude, min_contrast)
            flow[:, visible] += own[:, visible]
            mask |= visible
    flow = _degrade(rng, flow, noise, blur, magnitude)
    return SaliencyFrame(flow.astype(np.float32), mask, int(mask.any()))


def _own_motion(
    rng: np.random.Generator,
    epipolar: np.ndarray,
    visible: np.ndarray,
    magnitude: float,
    min_contrast: float,
) -> np.ndarray:
    """An affine flow ``(2, H, W)`` whose mean component across ``epipolar (2, H, W)`` over
    ``visible`` is at least ``min_contrast`` px (a translation across it is added if not)."""
    height, width = visible.shape
    own_size = max(magnitude * rng.uniform(0.3, 1.2), 2 * min_contrast)
    own = render_thetas(sample_motion(rng, "affine", height, width, own_size)[None], height, width)[
        0
    ]
    direction = epipolar[:, visible]
    norm = np.sqrt((direction**2).sum(0)).clip(1e-9)
    across = np.stack([-direction[1], direction[0]]) / norm  # (2, n) unit normals
    gap = float(np.abs((own[:, visible] * across).sum(0)).mean())
    if gap < min_contrast:
        normal = across.mean(1)
        length = float(np.linalg.norm(normal))
        normal = normal / length if length > 1e-6 else np.array([1.0, 0.0])
        sign = 1.0 if rng.random() < 0.5 else -1.0
        own = own + sign * 2 * min_contrast * normal[:, None, None]
    return own


def crowd_frame(
    seed: Seed,
    height: int = 128,
    width: int = 224,
    salient: bool = True,
    agents: tuple[int, int] = (50, 300),
    outliers: tuple[int, int] = (1, 3),
    agent_size: tuple[float, float] = (4.0, 12.0),
    speed: tuple[float, float] = (1.0, 4.0),
    camera_motion: float = 4.0,
    min_angle: float = 60.0,
    min_visible: int = 8,
    jitter: float = 0.15,
    noise: float = 0.02,
    blur: float = 0.7,
) -> SaliencyFrame:
    """A case-2 frame: a crowd walking one way under a moving camera (see the module doc).

    Args:
        agents: ``[min, max]`` number of agents (at 128x224; scaled with the frame area).
        outliers: ``[min, max]`` agents walking another way in a salient frame.
        agent_size: ``[min, max]`` agent length in px (an ellipse, half as wide).
        speed: ``[min, max]`` crowd speed in px per frame.
        camera_motion: largest camera displacement in px (drawn in ``[0, 1] x`` that).
        min_angle: smallest angle (degrees) between an outlier's and the crowd's direction.
        min_visible: an outlier counts (label 1, mask) with at least this many visible pixels.
        jitter: each agent's velocity deviation, as a fraction of the crowd speed.
    """
    rng = make_rng(seed)
    camera = sample_motion(rng, "quadratic12", height, width, camera_motion * rng.uniform(0, 1))
    background = render_thetas(camera[None], height, width)[0]
    flow = background.copy()
    scale = height * width / (128 * 224)
    count = max(1, int(rng.integers(agents[0], agents[1] + 1) * scale))
    speed_c = rng.uniform(*speed)
    heading = rng.uniform(0, 2 * np.pi)
    crowd = speed_c * np.array([np.cos(heading), np.sin(heading)])
    odd = int(rng.integers(outliers[0], outliers[1] + 1)) if salient else 0
    odd_index = set(rng.choice(count, size=min(odd, count), replace=False).tolist())
    owner = np.full((height, width), -1, dtype=np.int64)
    for index in range(count):  # later agents occlude earlier ones
        if index in odd_index:
            turn = np.deg2rad(rng.uniform(min_angle, 180.0)) * (1 if rng.random() < 0.5 else -1)
            direction = heading + turn
            velocity = (
                speed_c * rng.uniform(0.7, 1.3) * np.array([np.cos(direction), np.sin(direction)])
            )
        else:
            velocity = crowd + rng.normal(0.0, jitter * speed_c, 2)
        body = _agent(rng, height, width, rng.uniform(*agent_size), heading)
        flow[:, body] = background[:, body] + velocity[:, None]
        owner[body] = index
    mask = np.zeros((height, width), dtype=bool)
    for index in odd_index:
        visible = owner == index
        if visible.sum() >= min_visible:
            mask |= visible
    flow = _degrade(rng, flow, noise, blur, max(speed_c, 1.0))
    return SaliencyFrame(flow.astype(np.float32), mask, int(mask.any()))


def _agent(
    rng: np.random.Generator, height: int, width: int, length: float, heading: float
) -> np.ndarray:
    """``(H, W)`` bool: an ellipse of ``length`` px (half as wide) at a random place."""
    body = np.zeros((height, width), dtype=np.uint8)
    centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
    axes = (max(1, int(round(length / 2))), max(1, int(round(length / 4))))
    angle = float(np.rad2deg(heading)) + rng.normal(0.0, 20.0)
    cv2.ellipse(body, centre, axes, angle, 0, 360, 1, thickness=-1)
    return body.astype(bool)


def saliency_frame(kind: str, seed: Seed, salient: bool, **options: object) -> SaliencyFrame:
    """A frame of ``kind`` (`SALIENCY_KINDS`); ``options`` go to its generator."""
    if kind == "parallax":
        return parallax_frame(seed, salient=salient, **options)  # type: ignore[arg-type]
    if kind == "crowd":
        return crowd_frame(seed, salient=salient, **options)  # type: ignore[arg-type]
    raise InputError("saliency data", f"unknown kind {kind!r}; valid: {', '.join(SALIENCY_KINDS)}")


class SaliencyFlowDataset(Dataset):
    """Generated saliency frames; item ``i`` depends only on ``(seed, i)``.

    Args:
        kind: ``"parallax"`` or ``"crowd"`` (`SALIENCY_KINDS`).
        length: number of items.
        height, width: flow size.
        seed: base seed (use different seeds for training, validation and test).
        salient_fraction: share of salient frames (each item draws it).
        **options: the generator's own keywords (`parallax_frame`, `crowd_frame`).

    Items: ``flow (2, H, W)`` float32, ``label ()`` float32 (1: salient), ``mask (H, W)`` bool
    (the independently moving pixels; empty when the label is 0).
    """

    def __init__(
        self,
        kind: str,
        length: int,
        height: int = 128,
        width: int = 224,
        seed: int = 0,
        salient_fraction: float = 0.5,
        **options: object,
    ):
        if kind not in SALIENCY_KINDS:
            raise InputError("data.source", f"unknown {kind!r}; valid: {', '.join(SALIENCY_KINDS)}")
        if length < 0:
            raise InputError("length", f"must be non-negative, got {length}")
        if not 0.0 <= salient_fraction <= 1.0:
            raise InputError("salient_fraction", f"must be in [0, 1], got {salient_fraction}")
        self.kind, self.length, self.seed = kind, length, seed
        self.height, self.width = height, width
        self.salient_fraction = salient_fraction
        self.options = options

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index, 5])
        salient = bool(rng.random() < self.salient_fraction)
        frame = saliency_frame(
            self.kind, rng, salient, height=self.height, width=self.width, **self.options
        )
        return {
            "flow": torch.from_numpy(frame.flow),
            "label": torch.tensor(float(frame.label)),
            "mask": torch.from_numpy(frame.mask),
        }


__all__ = [
    "SALIENCY_KINDS",
    "SaliencyFlowDataset",
    "SaliencyFrame",
    "crowd_frame",
    "parallax_frame",
    "rigid_flow",
    "saliency_frame",
]
