"""Image pairs for training and testing optical-flow networks (SoFlow, thesis appendix D).

- `SyntheticFramePairs`: AutoFlow-like layered scenes (textured background under a camera-like
  model, 2 to 8 textured objects with their own affine or quadratic motions) with exact flow.
- `motionlayers.data.small_objects.SmallObjectPairs`: spec C.6's tiny "vehicles" (2x4 to 6x12
  px, 0.5 to 6 px displacements) on grey textured ground, with their frame-0 mask.
- `motionlayers.data.video_pairs.VideoFramePairs`: consecutive frames of real videos for the
  unsupervised loss, resized once and cached.

This module holds the first and what the three share (item layout, visibility, checks).

Items are dicts of float32 tensors: ``"frame0"``, ``"frame1"`` ``(3, H, W)`` RGB in ``[0, 1]``;
the synthetic ones add ``"flow"`` ``(2, H, W)`` and ``"valid"`` ``(H, W)``.

Convention:
    Pixel ``(x, y)`` is (column, row) with integers at pixel centres. ``flow`` is forward, u
    (along x) first, in pixels: the point of frame 0 at ``p`` is at ``p + flow(p)`` in frame 1,
    so backward-warping frame 1 by ``flow`` (bilinear) gives frame 0 where ``valid`` is 1.
    ``valid`` is 1 where ``p + flow(p)`` lies inside ``[0, W - 1] x [0, H - 1]`` and all four
    frame-1 pixels of its bilinear footprint show the layer (object) of ``p``: it is 0 where
    ``p`` is occluded, leaves the frame, or sits on a one-pixel band along an occluding edge.

Randomness: item ``i`` of a dataset with seed ``s`` is drawn from ``make_rng((s, i, 0))``
(scene) and ``make_rng((s, i, 1))`` (photometric changes) only, so it is the same in every
worker and epoch, and the photometric options never change the scene or its flow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.data.compositing import composite, iter_source_maps, random_texture
from motionlayers.data.layered import SynthConfig, make_rng, place_objects
from motionlayers.data.motions import ensure_contrast, sample_motion
from motionlayers.errors import InputError
from motionlayers.motion import render

_BLUR_SAMPLES = 7  # samples along the motion path of the motion blur


def _check_range(name: str, value: float, low: float, high: float) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(name, f"must be a finite number in [{low}, {high}], got {value}")
    return float(value)


def _check_pair(name: str, pair: Sequence[float], low: float, high: float) -> tuple[float, float]:
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise InputError(name, f"need ({low} <=) min <= max (<= {high}), got {tuple(pair)}")
    return float(pair[0]), float(pair[1])


def _check_index(index: int, length: int) -> int:
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} items")
    return int(index)


def _visibility(labels0: np.ndarray, labels1: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Where frame 0's pixels are seen in frame 1: ``(H, W)`` float32 in {0, 1}.

    Args:
        labels0, labels1: ``(H, W)`` int layer (or object) of each pixel at frames 0 and 1.
        flow: ``(2, H, W)`` forward flow of frame 0, pixels.

    A pixel counts as seen when its target is inside the frame and the four frame-1 pixels that
    a bilinear lookup at the target reads all belong to its own layer (module docstring).
    """
    h, w = labels0.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    qx, qy = xs + flow[0], ys + flow[1]
    seen = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
    x0 = np.clip(np.floor(qx), 0, w - 2).astype(np.int64)
    y0 = np.clip(np.floor(qy), 0, h - 2).astype(np.int64)
    for dy in (0, 1):
        for dx in (0, 1):
            seen &= labels1[y0 + dy, x0 + dx] == labels0
    return seen.astype(np.float32)


def _item(
    frame0: np.ndarray, frame1: np.ndarray, flow: np.ndarray, valid: np.ndarray
) -> dict[str, torch.Tensor]:
    """Tensors of an item from ``(H, W, 3)`` frames in [0, 1], ``(2, H, W)`` flow, ``(H, W)``."""

    def chw(image: np.ndarray) -> torch.Tensor:
        image = np.clip(image, 0.0, 1.0).transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))

    return {
        "frame0": chw(frame0),
        "frame1": chw(frame1),
        "flow": torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)),
        "valid": torch.from_numpy(np.ascontiguousarray(valid, dtype=np.float32)),
    }


def _add_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` plus Gaussian noise of standard deviation ``sigma`` (float32)."""
    return image + sigma * rng.standard_normal(image.shape, dtype=np.float32)


def _motion_blur(image: np.ndarray, flow: np.ndarray, fraction: float) -> np.ndarray:
    """Average of ``image`` ``(H, W, C)`` along ``fraction`` of each pixel's motion, centred."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    total = np.zeros_like(image)
    for s in np.linspace(-fraction / 2, fraction / 2, _BLUR_SAMPLES, dtype=np.float32):
        total += cv2.remap(
            image, xs + s * flow[0], ys + s * flow[1], cv2.INTER_LINEAR, None, cv2.BORDER_REFLECT
        )
    return total / _BLUR_SAMPLES


@dataclass(frozen=True)
class _Scene:
    """A layered pair: ``(H, W, 3)`` float32 frames in [0, 1], labels ``(H, W)`` at both
    frames, the flow ``(2, H, W)`` of frame 0 and each layer's flow ``(K, 2, H, W)``."""

    frames: tuple[np.ndarray, np.ndarray]
    labels: tuple[np.ndarray, np.ndarray]
    flow: np.ndarray
    layer_flows: np.ndarray


class ImageTextures:
    """Real images as layer textures (FlyingChairs' idea): a network trained on generated
    textures alone meets photographs' statistics for the first time on real video.

    Every ``step``-th frame of the sources under ``root`` (a video, a folder of frames or a
    folder of them, as `motionlayers.data.video_pairs.VideoFramePairs` reads) at ``size``,
    cached the same way. `crop` cuts a random window at a random scale, flipped half the time.
    """

    def __init__(
        self,
        root: str | Path,
        size: tuple[int, int] = (240, 427),
        step: int = 5,
        cache_dir: str | Path | None = None,
    ):
        from motionlayers.data.video_pairs import _read_source, frame_sources

        if step < 1:
            raise InputError("step", f"must be >= 1, got {step}")
        cache = Path(cache_dir) if cache_dir is not None else None
        sources = frame_sources(Path(root))
        self.images = [
            frame for path in sources for frame in _read_source(path, size, cache)[::step]
        ]
        self.root = Path(root)

    def __len__(self) -> int:
        return len(self.images)

    def crop(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random window of a random image resized to ``(height, width, 3)`` float32 RGB in
        [0, 255]: scale 0.5x to 2x, a horizontal flip half the time."""
        image = self.images[int(rng.integers(len(self.images)))]
        rows, cols = image.shape[:2]
        scale = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
        h = int(np.clip(round(height / scale), 4, rows))
        w = int(np.clip(round(width / scale), 4, cols))
        y, x = int(rng.integers(rows - h + 1)), int(rng.integers(cols - w + 1))
        window = np.asarray(image[y : y + h, x : x + w], dtype=np.float32)
        if rng.uniform() < 0.5:
            window = window[:, ::-1]
        return cv2.resize(
            np.ascontiguousarray(window), (width, height), interpolation=cv2.INTER_LINEAR
        )


def _layer_texture(
    rng: np.random.Generator, support: np.ndarray, images: ImageTextures | None = None
) -> np.ndarray:
    """A texture ``(H, W, 3)`` over the bounding box of ``support`` ``(H, W)`` bool (plus the
    reach of bicubic sampling), zero elsewhere: compositing reads a layer's texture only where
    its support maps, and a full-frame texture per object would triple the cost. A crop of
    ``images`` when given, else `random_texture`."""
    rows, cols = np.nonzero(support.any(axis=1))[0], np.nonzero(support.any(axis=0))[0]
    texture = np.zeros((*support.shape, 3), dtype=np.float32)
    if rows.size == 0:
        return texture
    y0, y1 = max(rows[0] - 4, 0), rows[-1] + 5
    x0, x1 = max(cols[0] - 4, 0), cols[-1] + 5
    box = texture[y0:y1, x0:x1]
    if images is not None:
        box[:] = images.crop(rng, box.shape[0], box.shape[1])
    else:
        box[:] = random_texture(rng, box.shape[0], box.shape[1])
    return texture


def _layered_scene(
    rng: np.random.Generator, config: SynthConfig, images: ImageTextures | None = None
) -> _Scene:
    """One layered scene drawn as `generate_sequence` draws its first step, kept with frame 1's
    labels (which the occlusion mask needs and `LayeredSequence` does not keep)."""
    h, w = config.height, config.width
    count = int(rng.integers(config.min_layers, config.layers + 1)) - 1
    supports = place_objects(rng, config, count)
    largest = config.max_motion * w
    still = rng.uniform() < config.still_probability
    kind = str(rng.choice(config.background_models))
    thetas = [sample_motion(rng, kind, h, w, 0.0 if still else rng.uniform(0, largest))]
    for k in range(1, count + 1):
        kind = str(rng.choice(config.object_models))
        theta = sample_motion(rng, kind, h, w, rng.uniform(0.1, 1.0) * largest)
        thetas.append(ensure_contrast(rng, theta, thetas[0], supports[k], config.min_contrast))
    theta = np.stack(thetas)
    layer_flows = render(torch.as_tensor(theta)[None], "quadratic12", h, w)[0].numpy()
    textures = np.stack([_layer_texture(rng, support, images) for support in supports])
    labels0, image0 = composite(supports, None, textures)
    maps = next(iter_source_maps(theta, "quadratic12", 1, h, w, margin=4))
    labels1, image1 = composite(supports, maps, textures)
    assert image0 is not None and image1 is not None  # textures were given
    flow = np.take_along_axis(layer_flows, labels0[None, None], 0)[0].astype(np.float32)
    frames = (image0.astype(np.float32) / 255, image1.astype(np.float32) / 255)
    return _Scene(frames, (labels0, labels1), flow, layer_flows.astype(np.float32))


class SyntheticFramePairs(Dataset):
    """AutoFlow-like layered image pairs with exact forward flow and visibility.

    Each item is a scene of `motionlayers.data.layered`: a textured background under a
    camera-like model (quadratic12 or quadratic8; still with probability 0.1, else its largest
    displacement is uniform in ``[0, max_motion * width]``) and ``layers[0]`` to ``layers[1]``
    textured objects (2 % to 40 % of the frame each), each with an affine, quadratic8 or
    quadratic12 motion (translation, rotation, scaling, shear; largest displacement
    ``[0.1, 1] * max_motion * width``, at least 1 px away from the background's). Frame 1 is
    rendered by exact inverse mapping with anti-aliased layer edges.

    Photometric changes, after the flow is fixed: with probability ``blur`` both frames are
    blurred along each pixel's motion over a fraction in ``[0.1, 0.5]`` of its displacement;
    frame 1 gets a gain ``1 + g`` and bias ``b``, ``g, b`` uniform in ``[-lighting, lighting]``;
    both get Gaussian noise of sigma ``noise``; frames are clipped to [0, 1].

    Args:
        length: number of items.
        height, width: frame size (at least 8 each).
        seed: base seed (module docstring).
        layers: ``(min, max)`` number of foreground objects, inclusive.
        max_motion: largest displacement as a fraction of the width.
        blur, lighting, noise: see above (``noise`` in [0, 1] intensity units).
        textures: real images (`ImageTextures`) the layers are cut from; None: generated
            textures (`motionlayers.data.compositing.random_texture`).

    Items:
        ``{"frame0", "frame1": (3, H, W), "flow": (2, H, W), "valid": (H, W)}`` float32.
    """

    def __init__(
        self,
        length: int,
        height: int,
        width: int,
        seed: int = 0,
        layers: tuple[int, int] = (2, 8),
        max_motion: float = 0.15,
        blur: float = 0.5,
        lighting: float = 0.1,
        noise: float = 0.01,
        textures: ImageTextures | None = None,
    ):
        if length < 1:
            raise InputError("length", f"need at least one item, got {length}")
        low, high = _check_pair("layers", layers, 1, 20)
        self.length, self.seed = int(length), int(seed)
        self.config = SynthConfig(
            height=height,
            width=width,
            layers=int(high) + 1,
            min_layers=int(low) + 1,
            max_motion=_check_range("max_motion", max_motion, 1e-6, 1.0),
        )
        self.blur = _check_range("blur", blur, 0.0, 1.0)
        self.lighting = _check_range("lighting", lighting, 0.0, 0.9)
        self.noise = _check_range("noise", noise, 0.0, 1.0)
        self.textures = textures

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = _check_index(index, self.length)
        scene = _layered_scene(make_rng((self.seed, index, 0)), self.config, self.textures)
        rng = make_rng((self.seed, index, 1))
        frame0, frame1 = scene.frames
        if rng.uniform() < self.blur:
            fraction = rng.uniform(0.1, 0.5)
            # frame 1's motion: each layer's model flow at the frame-1 pixels it covers
            flow1 = np.take_along_axis(scene.layer_flows, scene.labels[1][None, None], 0)[0]
            frame0 = _motion_blur(frame0, scene.flow, fraction)
            frame1 = _motion_blur(frame1, flow1, fraction)
        gain, bias = rng.uniform(-self.lighting, self.lighting, 2)
        frame1 = frame1 * (1 + gain) + bias
        frame0, frame1 = (_add_noise(rng, f, self.noise) for f in (frame0, frame1))
        valid = _visibility(*scene.labels, scene.flow)
        return _item(frame0, frame1, scene.flow, valid)


__all__ = ["ImageTextures", "SyntheticFramePairs"]
