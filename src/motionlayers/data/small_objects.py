"""Spec C.6's small moving objects for flow networks (thesis appendix D): tiny "vehicles" on
textured ground, with exact flow and their frame-0 mask (items as `motionlayers.data.flow_pairs`
describes, plus ``"objects"``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.special import erfc
from torch.utils.data import Dataset

from motionlayers.data.compositing import random_texture
from motionlayers.data.flow_pairs import (
    _add_noise,
    _check_index,
    _check_pair,
    _check_range,
    _item,
    _visibility,
)
from motionlayers.data.layered import make_rng
from motionlayers.errors import InputError

_EDGE_SIGMA = 0.5  # px: Gaussian edge of the small objects, so that they are band-limited


@dataclass(frozen=True)
class _Vehicle:
    """One small object: centre ``(x, y)`` at frame 0, half length and width (px), heading
    (radians, also its direction of motion), rectangle or ellipse, base intensity, texture
    patch ``(P, P)`` in object coordinates, and displacement ``(dx, dy)`` px."""

    centre: np.ndarray
    half: tuple[float, float]
    angle: float
    rectangle: bool
    intensity: float
    texture: np.ndarray
    shift: np.ndarray


def _ground(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Grey multi-scale texture in [0, 1], ``(H, W)`` float32 (one channel of `random_texture`)."""
    return random_texture(rng, height, width)[:, :, 0] / 255.0


def _draw_vehicles(
    rng: np.random.Generator,
    ground: np.ndarray,
    count: int,
    shift: tuple[float, float],
) -> list[_Vehicle]:
    h, w = ground.shape
    local = cv2.GaussianBlur(ground, (0, 0), 4.0)  # the ground's mean around each object
    vehicles = []
    for _ in range(count):
        length = rng.uniform(4.0, 12.0)
        breadth = min(rng.uniform(2.0, 6.0), length)
        centre = rng.uniform([0.0, 0.0], [w - 1.0, h - 1.0])
        angle = rng.uniform(0, 2 * np.pi)
        contrast = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.5)
        base = float(local[int(centre[1]), int(centre[0])]) + contrast
        patch = cv2.GaussianBlur(rng.normal(0, 1, (16, 16)).astype(np.float32), (0, 0), 1.0)
        patch *= rng.uniform(0.1, 0.3) * abs(contrast) / max(float(patch.std()), 1e-6)
        magnitude = rng.uniform(*shift)
        step = magnitude * np.array([np.cos(angle), np.sin(angle)])
        rectangle = bool(rng.uniform() < 0.5)
        vehicles.append(
            _Vehicle(centre, (length / 2, breadth / 2), angle, rectangle, base, patch, step)
        )
    return vehicles


def _paint(image: np.ndarray, labels: np.ndarray, vehicle: _Vehicle, at: np.ndarray, k: int):
    """Composite ``vehicle`` centred at ``at`` ``(x, y)`` over ``image`` ``(H, W)`` in place;
    pixels it covers by more than half get label ``k``."""
    h, w = image.shape
    reach = math.hypot(*vehicle.half) + 3 * _EDGE_SIGMA + 1
    x0, x1 = max(int(at[0] - reach), 0), min(int(at[0] + reach) + 2, w)
    y0, y1 = max(int(at[1] - reach), 0), min(int(at[1] + reach) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    c, s = math.cos(vehicle.angle), math.sin(vehicle.angle)
    lx = c * (xs - at[0]) + s * (ys - at[1])  # along the heading
    ly = -s * (xs - at[0]) + c * (ys - at[1])
    a, b = vehicle.half
    if vehicle.rectangle:
        qx, qy = np.abs(lx) - a, np.abs(ly) - b
        distance = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(
            np.maximum(qx, qy), 0
        )
    else:  # first-order distance to the ellipse: (r - 1) / |grad r|
        r = np.sqrt((lx / a) ** 2 + (ly / b) ** 2)
        grad = np.sqrt((lx / a**2) ** 2 + (ly / b**2) ** 2) / np.maximum(r, 1e-9)
        distance = (r - 1) / np.maximum(grad, 1e-9)
    # A Gaussian-blurred edge: the object is a smooth function of its position, so that
    # sub-pixel displacements render exactly and bilinear warping reproduces it.
    alpha = 0.5 * erfc(distance / (math.sqrt(2) * _EDGE_SIGMA))
    centre = vehicle.texture.shape[0] / 2 - 0.5
    grain = cv2.remap(
        vehicle.texture,
        (lx + centre).astype(np.float32),
        (ly + centre).astype(np.float32),
        cv2.INTER_LINEAR,
        None,
        cv2.BORDER_REFLECT,
    )
    window = image[y0:y1, x0:x1]
    window[:] = alpha * (vehicle.intensity + grain) + (1 - alpha) * window
    labels[y0:y1, x0:x1][alpha > 0.5] = k


def _render_small(
    ground: np.ndarray, margin: int, offset: np.ndarray, vehicles: list[_Vehicle], frame: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``frame`` (0 or 1) ``(H, W)`` and its labels (0 ground, ``k`` the k-th object).

    ``ground`` is ``(H + 2 m, W + 2 m)``; the ground at frame 1 is moved by ``offset``."""
    h, w = ground.shape[0] - 2 * margin, ground.shape[1] - 2 * margin
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (offset if frame else np.zeros(2)).astype(np.float32)
    image = cv2.remap(ground, xs + margin - dx, ys + margin - dy, cv2.INTER_CUBIC)
    image = image.astype(np.float64)
    labels = np.zeros((h, w), dtype=np.int64)
    for k, vehicle in enumerate(vehicles, start=1):
        _paint(image, labels, vehicle, vehicle.centre + frame * vehicle.shift, k)
    return image, labels


class SmallObjectPairs(Dataset):
    """Spec C.6's small-object pairs: tiny "vehicles" moving over grey textured ground.

    Each item: a grey multi-scale texture (static with probability 0.5, else shifted between
    the frames by a random-direction vector of length uniform in ``(0, background_shift]`` px,
    rendered by bicubic interpolation); ``objects[0]`` to ``objects[1]`` objects in depth
    order (a later one occludes an earlier one), each a rectangle or an ellipse of length
    uniform in ``[4, 12]`` px and width ``[2, 6]`` px (at most its length), centre anywhere in
    the frame, contrast ``+-[0.1, 0.5]`` to the local ground mean, its own smooth texture (10 %
    to 30 % of its contrast), moving along its heading (a random direction) by ``shift[0]`` to
    ``shift[1]`` px. Objects are drawn analytically with a Gaussian edge of sigma 0.5 px at
    their continuous positions (sub-pixel accurate). Then frame 1 gets a gain ``1 + g``, ``g``
    uniform in ``[-gain, gain]``, both frames Gaussian noise of sigma ``noise``, clipping to
    [0, 1]. Flow: the object's displacement on its pixels (coverage > 1/2) at frame 0, the
    ground's shift elsewhere.

    Args:
        length: number of items.
        height, width: frame size (at least 16 each).
        seed: base seed (module docstring).
        objects: ``(min, max)`` object count, inclusive.
        shift: ``(min, max)`` object displacement, px.
        background_shift: largest ground displacement, px.
        noise, gain: see above.

    Items:
        ``{"frame0", "frame1": (3, H, W) (grey replicated), "flow": (2, H, W), "valid":
        (H, W), "objects": (H, W) 1.0 on object pixels of frame 0}`` float32.
    """

    def __init__(
        self,
        length: int,
        height: int = 256,
        width: int = 256,
        seed: int = 0,
        objects: tuple[int, int] = (10, 60),
        shift: tuple[float, float] = (0.5, 6.0),
        background_shift: float = 0.5,
        noise: float = 0.01,
        gain: float = 0.05,
    ):
        if length < 1:
            raise InputError("length", f"need at least one item, got {length}")
        if height < 16 or width < 16:
            raise InputError("size", f"frames must be at least 16x16, got {width}x{height} (WxH)")
        self.length, self.height, self.width, self.seed = int(length), height, width, int(seed)
        low, high = _check_pair("objects", objects, 0, 10_000)
        self.objects = (int(low), int(high))
        self.shift = _check_pair("shift", shift, 0.0, 1e3)
        self.background_shift = _check_range("background_shift", background_shift, 0.0, 1e3)
        self.noise = _check_range("noise", noise, 0.0, 1.0)
        self.gain = _check_range("gain", gain, 0.0, 0.9)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = _check_index(index, self.length)
        rng = make_rng((self.seed, index, 0))
        h, w = self.height, self.width
        margin = int(math.ceil(self.background_shift)) + 3
        ground = _ground(rng, h + 2 * margin, w + 2 * margin)
        offset = np.zeros(2)
        if self.background_shift > 0 and rng.uniform() < 0.5:
            angle = rng.uniform(0, 2 * np.pi)
            length = self.background_shift * (1 - rng.uniform())  # in (0, background_shift]
            offset = length * np.array([np.cos(angle), np.sin(angle)])
        count = int(rng.integers(self.objects[0], self.objects[1] + 1))
        inner = ground[margin : margin + h, margin : margin + w]
        vehicles = _draw_vehicles(rng, inner, count, self.shift)
        frame0, labels0 = _render_small(ground, margin, offset, vehicles, 0)
        frame1, labels1 = _render_small(ground, margin, offset, vehicles, 1)
        shifts = np.stack([offset, *(v.shift for v in vehicles)])  # (1 + count, 2)
        flow = shifts[labels0].transpose(2, 0, 1).astype(np.float32)
        photometric = make_rng((self.seed, index, 1))
        frame1 = frame1 * (1 + photometric.uniform(-self.gain, self.gain))
        frame0, frame1 = (_add_noise(photometric, f, self.noise) for f in (frame0, frame1))
        item = _item(
            np.repeat(frame0[:, :, None], 3, 2),
            np.repeat(frame1[:, :, None], 3, 2),
            flow,
            _visibility(labels0, labels1, flow),
        )
        item["objects"] = torch.from_numpy((labels0 > 0).astype(np.float32))
        return item


__all__ = ["SmallObjectPairs"]
