"""Synthetic layered flows with exact ground truth: single flows, image pairs and sequences.

A scene is a background (label 0) with a camera-like model (quadratic12 or quadratic8) and 1 to
``K - 1`` foreground objects (labels ``1..``, in depth order: a higher label occludes a lower one),
each a random smooth shape with its own affine or quadratic model. The flow of every layer is
drawn by `motionlayers.motion.render` from its ``theta``; the scene's flow is each pixel's
front-most layer flow, so inside each label region the flow is exactly the rendered model (except
where optional corruptions are added: noise, outlier patches, blurred boundaries; ``exact`` marks
the pixels they spared).

Sequences of ``T`` flows let the models change linearly in time: the thetas are returned as a
``"quadratic12+linear"`` model (``theta(t) = A + t B``, ``t`` the normalised frame time), and the
objects move along their own motions, so labels and frames at every step stay exact.

Randomness: every function takes a ``seed`` (int, sequence of ints or `numpy.random.Generator`);
the same seed gives the same scene. No global random state is touched.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from motionlayers.data.compositing import composite, iter_source_maps, random_texture
from motionlayers.data.motions import ensure_contrast, sample_motion
from motionlayers.data.shapes import random_shape
from motionlayers.errors import InputError
from motionlayers.limits import check_pixels
from motionlayers.motion import render

Seed = int | Sequence[int] | np.random.Generator
_RANGES = (
    ("max_motion", 0.0, 1.0),
    ("still_probability", 0.0, 1.0),
    ("min_contrast", 0.0, 1e3),
    ("evolution", 0.0, 10.0),
    ("noise_std", 0.0, 1e3),
    ("boundary_blur", 0.0, 1e3),
)
"""SynthConfig's float fields and their valid ranges: a NaN or an absurd value would otherwise
run (ensure_contrast retries forever on NaN motions) or write garbage."""


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the synthetic scenes (fractions are of the frame area or width)."""

    height: int = 128
    width: int = 224
    layers: int = 3  #: maximum number of layers K (background + up to K - 1 objects)
    min_layers: int = 2  #: minimum number of layers (>= 2: at least one object)
    min_area: float = 0.02  #: smallest visible area of an object at frame 0
    max_area: float = 0.40  #: largest visible area of an object at frame 0
    max_motion: float = 0.10  #: largest displacement, as a fraction of the width
    still_probability: float = 0.1  #: chance that the background does not move
    background_models: tuple[str, ...] = ("quadratic12", "quadratic8")
    object_models: tuple[str, ...] = ("affine", "quadratic8", "quadratic12")
    min_contrast: float = 1.0  #: smallest mean flow difference (px) of an object to the background
    evolution: float = 0.3  #: relative change of each model over a sequence
    noise_std: float = 0.0  #: Gaussian noise (px) added to the flow
    outliers: int = 0  #: number of patches of random constant flow
    boundary_blur: float = 0.0  #: Gaussian sigma (px) blurring the flow across layer boundaries

    def __post_init__(self) -> None:
        if self.height < 8 or self.width < 8:
            raise InputError(
                "size", f"frames must be at least 8x8, got {self.width}x{self.height} (WxH)"
            )
        check_pixels("size", self.width, self.height, what="", advice="")
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                raise InputError(name, f"must be a finite number in [{low}, {high}], got {value}")
        if self.max_motion <= 0:
            raise InputError("max_motion", "must be > 0 (a fraction of the width), got 0")
        if self.outliers < 0:
            raise InputError("outliers", f"must be >= 0, got {self.outliers}")
        if not 2 <= self.min_layers <= self.layers:
            raise InputError(
                "layers", f"need 2 <= min_layers <= layers, got {self.min_layers}, {self.layers}"
            )
        if not 0 < self.min_area < self.max_area <= 1:
            raise InputError(
                "area", f"need 0 < min_area < max_area <= 1, got {self.min_area}, {self.max_area}"
            )
        if (self.layers - 1) * self.min_area * 1.3 > 0.7:
            raise InputError(
                "layers",
                f"{self.layers - 1} objects of at least {self.min_area:.0%}"
                " of the frame do not fit; lower layers or min_area",
            )

    def to_dict(self) -> dict[str, object]:
        """The parameters as JSON-ready values."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


@dataclass
class LayeredSequence:
    """A synthetic scene over ``T`` flows (``T = 1``: one flow, one image pair).

    Attributes:
        flow: ``(2, T, H, W)`` float32, flow from frame ``s`` to ``s + 1``, u first, pixels.
        labels: ``(T, H, W)`` int64 exact labels at frames ``0..T-1`` (0 = background).
        theta: ``(K, 2, J)`` float64 per-layer models of ``model``.
        model: ``"quadratic12"`` (T = 1) or ``"quadratic12+linear"`` (T > 1).
        kinds: the kind each layer was drawn as (``"quadratic8"``, ``"affine"``, ...).
        exact: ``(T, H, W)`` bool, where the flow equals the rendered models (no corruption).
        frames: ``(T + 1, H, W, 3)`` uint8 RGB images, or None when not asked for.
    """

    flow: np.ndarray
    labels: np.ndarray
    theta: np.ndarray
    model: str
    kinds: list[str]
    exact: np.ndarray
    frames: np.ndarray | None = None


def make_rng(seed: Seed) -> np.random.Generator:
    """A NumPy generator from an int, a sequence of ints (e.g. ``(seed, index)``) or a generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(np.random.SeedSequence(seed))


def place_objects(rng: np.random.Generator, config: SynthConfig, count: int) -> np.ndarray:
    """Frame-0 supports ``(count + 1, H, W)`` bool: background then ``count`` objects.

    Visible areas (after occlusion by the objects in front) lie in
    ``[min_area, max_area]`` of the frame and the background keeps at least a quarter of it.
    """
    h, w = config.height, config.width
    low = config.min_area * 1.3
    high = min(config.max_area * 0.9, 0.7 / count)
    for _ in range(200):
        supports = np.ones((count + 1, h, w), dtype=bool)
        for k in range(1, count + 1):
            fraction = float(np.exp(rng.uniform(np.log(low), np.log(max(high, low)))))
            supports[k] = random_shape(rng, h, w, fraction * h * w)
        labels = visible_labels(supports)
        areas = np.bincount(labels.ravel(), minlength=count + 1) / (h * w)
        if areas[0] >= 0.25 and all(config.min_area <= a <= config.max_area for a in areas[1:]):
            return supports
    raise InputError("layers", f"could not place {count} objects within the area bounds")


def visible_labels(supports: np.ndarray) -> np.ndarray:
    """Front-most covering layer of each pixel: ``(K, H, W)`` bool -> ``(H, W)`` int64."""
    order = np.arange(supports.shape[0]).reshape(-1, 1, 1)
    return np.where(supports, order, 0).max(axis=0).astype(np.int64)


def generate_sequence(
    config: SynthConfig | None = None, frames: int = 1, seed: Seed = 0, images: bool = False
) -> LayeredSequence:
    """Draw a layered scene and its exact flows, labels (and frames) over ``frames`` steps.

    Args:
        config: the scene parameters (default `SynthConfig()`).
        frames: ``T``, the number of flows (``T + 1`` images).
        seed: see the module docstring.
        images: also render textured frames (for flow estimation by a backend).
    """
    config = config or SynthConfig()
    if frames < 1:
        raise InputError("frames", f"need at least one flow, got {frames}")
    rng = make_rng(seed)
    h, w = config.height, config.width
    count = int(rng.integers(config.min_layers, config.layers + 1)) - 1
    supports = place_objects(rng, config, count)
    largest = config.max_motion * w
    kinds = [str(rng.choice(config.background_models))]
    still = rng.uniform() < config.still_probability
    start = [sample_motion(rng, kinds[0], h, w, 0.0 if still else rng.uniform(0, largest))]
    for k in range(1, count + 1):
        kinds.append(str(rng.choice(config.object_models)))
        theta = sample_motion(rng, kinds[k], h, w, rng.uniform(0.1, 1.0) * largest)
        start.append(ensure_contrast(rng, theta, start[0], supports[k], config.min_contrast))
    theta0 = np.stack(start)
    if frames == 1:
        theta, model, steps = theta0, "quadratic12", None
    else:
        end = np.stack(
            [
                t
                + config.evolution * sample_motion(rng, kind, h, w, float(np.hypot(*t[:, 0]) + 1.0))
                for t, kind in zip(theta0, kinds)
            ]
        )
        theta = np.concatenate([(theta0 + end) / 2, (end - theta0) / 2], axis=-1)
        model, steps = "quadratic12+linear", frames
    layer_flows = render(torch.as_tensor(theta)[None], model, h, w, steps)[0].numpy()
    layer_flows = layer_flows.reshape(count + 1, 2, frames, h, w)  # (K, 2, T, H, W)
    textures = np.stack([random_texture(rng, h, w) for _ in range(count + 1)]) if images else None
    labels = np.zeros((frames, h, w), dtype=np.int64)
    flow = np.zeros((2, frames, h, w), dtype=np.float32)
    last = frames if images else frames - 1
    margin = int(np.ceil(2 * largest)) + 4
    moves = iter_source_maps(theta, model, last, h, w, steps, margin)
    pictures: list[np.ndarray] = []
    for step in range(last + 1):
        step_labels, picture = composite(supports, next(moves) if step else None, textures)
        if picture is not None:
            pictures.append(picture)
        if step < frames:
            labels[step] = step_labels
            chosen = np.take_along_axis(layer_flows[:, :, step], step_labels[None, None], 0)[0]
            flow[:, step] = chosen.astype(np.float32)
    exact = np.ones((frames, h, w), dtype=bool)
    for step in range(frames):
        flow[:, step], exact[step] = corrupt(rng, flow[:, step], labels[step], config)
    return LayeredSequence(
        flow, labels, theta, model, kinds, exact, np.stack(pictures) if images else None
    )


def corrupt(
    rng: np.random.Generator, flow: np.ndarray, labels: np.ndarray, config: SynthConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Blur boundaries, add outlier patches and noise as ``config`` asks.

    Args:
        flow: ``(2, H, W)`` float32; labels ``(H, W)`` int64.

    Returns:
        the corrupted flow ``(2, H, W)`` float32 and ``exact`` ``(H, W)`` bool (untouched pixels).
    """
    h, w = labels.shape
    flow = flow.copy()
    exact = np.ones((h, w), dtype=bool)
    if config.boundary_blur > 0:
        sigma = config.boundary_blur
        edges = (
            cv2.morphologyEx(labels.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
            > 0
        )
        radius = int(np.ceil(2 * sigma))
        band = cv2.dilate(edges.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)) > 0
        for c in range(2):
            blurred = cv2.GaussianBlur(flow[c], (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
            flow[c][band] = blurred[band]
        exact &= ~band
    for _ in range(config.outliers):
        patch = random_shape(rng, h, w, rng.uniform(0.002, 0.01) * h * w)
        vector = rng.normal(0.0, config.max_motion * w / 2, 2)
        flow[:, patch] = vector[:, None].astype(np.float32)
        exact &= ~patch
    if config.noise_std > 0:
        flow += rng.normal(0.0, config.noise_std, flow.shape).astype(np.float32)
        exact[:] = False
    return flow, exact
