"""Image pairs for training and testing optical-flow networks (SoFlow, thesis appendix D).

- `SyntheticFramePairs`: AutoFlow-like layered scenes (textured background under a camera-like
  model, 2 to 8 textured objects with their own affine or quadratic motions) with exact flow.
- `SmallObjectPairs`: spec C.6's tiny "vehicles" (2x4 to 6x12 px, 0.5 to 6 px displacements)
  on grey textured ground, with their frame-0 mask.
- `VideoFramePairs`: consecutive frames of real videos for the unsupervised loss, resized once
  and cached.

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

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.special import erfc
from torch.utils.data import Dataset

from motionlayers.data.compositing import composite, iter_source_maps, random_texture
from motionlayers.data.folders import find_sources
from motionlayers.data.layered import SynthConfig, make_rng, place_objects
from motionlayers.data.motions import ensure_contrast, sample_motion
from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.frames import IMAGE_EXTENSIONS, iter_frames
from motionlayers.motion import render

_EDGE_SIGMA = 0.5  # px: Gaussian edge of the small objects, so that they are band-limited
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


def _layer_texture(rng: np.random.Generator, support: np.ndarray) -> np.ndarray:
    """`random_texture` ``(H, W, 3)`` over the bounding box of ``support`` ``(H, W)`` bool (plus
    the reach of bicubic sampling), zero elsewhere: compositing reads a layer's texture only
    where its support maps, and a full-frame texture per object would triple the cost."""
    rows, cols = np.nonzero(support.any(axis=1))[0], np.nonzero(support.any(axis=0))[0]
    texture = np.zeros((*support.shape, 3), dtype=np.float32)
    if rows.size == 0:
        return texture
    y0, y1 = max(rows[0] - 4, 0), rows[-1] + 5
    x0, x1 = max(cols[0] - 4, 0), cols[-1] + 5
    box = texture[y0:y1, x0:x1]
    box[:] = random_texture(rng, box.shape[0], box.shape[1])
    return texture


def _layered_scene(rng: np.random.Generator, config: SynthConfig) -> _Scene:
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
    textures = np.stack([_layer_texture(rng, support) for support in supports])
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

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = _check_index(index, self.length)
        scene = _layered_scene(make_rng((self.seed, index, 0)), self.config)
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


def _frame_sources(root: Path) -> list[Path]:
    """Videos and folders of frames of ``root`` (`find_sources`: inside a folder of sources,
    an entry with a single frame is not a source and is skipped), with clear errors."""
    try:
        found = find_sources(root)
    except InputError:
        if root.is_dir() and sum(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir()):
            raise InputError(root, "holds a single frame; a pair needs at least two") from None
        if root.is_file() and root.suffix.lower() in IMAGE_EXTENSIONS:
            raise InputError(
                root, "is a single image; give a video or a folder of frames"
            ) from None
        raise
    sources = [path for path, kind in found if kind != "flows"]
    if not sources:
        raise InputError(root, "holds flow files, not frames or videos")
    return sources


def _read_source(source: Path, size: tuple[int, int], cache_dir: Path | None) -> np.ndarray:
    """All frames of ``source`` at ``size``: ``(T, H, W, 3)`` uint8 RGB, from the cache if any.

    The cache file is ``cache_dir/<key>.npy``, the key hashing the resolved path and the size;
    it is written atomically, so a killed run leaves no partial entry."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha1(f"{source.resolve()}|{size[0]}x{size[1]}".encode()).hexdigest()[:16]
        path = cache_dir / f"{key}.npy"
        if path.is_file():
            return np.load(path, mmap_mode="r")
    frames = np.stack([frame[:, :, ::-1] for _stem, frame in iter_frames(source, size)])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.save(tmp, frames)
    return frames


class VideoFramePairs(Dataset):
    """Unlabelled pairs of frames ``gap`` apart from real videos, for unsupervised flow losses.

    Args:
        root: a video, a folder of frames, or a folder whose entries (videos, folders of at
            least two frames) are the sources (`motionlayers.data.folders.find_sources`; folders
            of flow files are skipped).
        size: ``(H, W)`` every frame is resized to, once (area when shrinking).
        gap: frames from ``t`` to ``t + gap`` make a pair.
        cache_dir: where the resized frames are cached (``.npy`` per source); None: in memory.
        flip: flip both frames horizontally for half of the items (fixed per index and seed).
        seed: seed of the flips.
        names: keep only the sources of these names (`sources`); None: all.

    Attributes:
        sources: the names of the sources used (a file's or folder's name), in order.

    Items:
        ``{"frame0", "frame1": (3, H, W) float32 RGB in [0, 1]}``.

    Raises:
        InputError: a missing root, a root with no frames, a source with fewer than
            ``gap + 1`` frames, an unknown name.
    """

    def __init__(
        self,
        root: str | Path,
        size: tuple[int, int],
        gap: int = 1,
        cache_dir: str | Path | None = None,
        flip: bool = True,
        seed: int = 0,
        names: Sequence[str] | None = None,
    ):
        if len(size) != 2 or min(size) < 1:
            raise InputError("size", f"expected (height, width) > 0, got {tuple(size)}")
        if gap < 1:
            raise InputError("gap", f"must be >= 1, got {gap}")
        root = Path(root)
        self.size, self.gap, self.flip, self.seed = (int(size[0]), int(size[1])), gap, flip, seed
        found = {path.name: path for path in _frame_sources(root)}
        if names is not None:
            unknown = sorted(set(names) - set(found))
            if unknown:
                raise InputError("names", f"unknown sources {unknown}; valid: {sorted(found)}")
            found = {name: path for name, path in found.items() if name in set(names)}
        self.sources = list(found)
        cache = Path(cache_dir) if cache_dir is not None else None
        self._frames = [_read_source(path, self.size, cache) for path in found.values()]
        self._pairs: list[tuple[int, int]] = []
        for s, (path, frames) in enumerate(zip(found.values(), self._frames)):
            if len(frames) <= gap:
                raise InputError(path, f"has {len(frames)} frame(s); a pair needs {gap + 1}")
            self._pairs += [(s, t) for t in range(len(frames) - gap)]

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        source, start = self._pairs[_check_index(index, len(self._pairs))]
        frames = self._frames[source]
        flipped = self.flip and make_rng((self.seed, index)).uniform() < 0.5
        item = {}
        for key, frame in (("frame0", frames[start]), ("frame1", frames[start + self.gap])):
            image = frame[:, ::-1] if flipped else frame
            tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
            item[key] = tensor.float() / 255
        return item


__all__ = ["SmallObjectPairs", "SyntheticFramePairs", "VideoFramePairs"]
