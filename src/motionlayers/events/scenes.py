"""Synthetic layered scenes moving with affine motions, and their simulated events.

A scene is a stack of layers in depth order: layer 0 is a background that fills the view, layers
``1..n`` are objects with random smooth star-shaped outlines drawn on top of it. Every layer has
a random smooth texture (a periodic tile of low-pass noise) and an affine velocity field
``theta`` ``(2, 3)`` in **pixels per second** in the motion-model convention of
`motionlayers.motion` (``v = theta @ [1, x, y]`` at normalised pixel centres).

The velocity field is fixed in image coordinates, so a point moves by ``dp/dt = M p + a`` (``M``
and ``a`` are theta in pixel coordinates); the position at time ``t`` is the exact integral
``p(t) = expm(t G) p(0)`` with ``G = [[M, a], [0, 0]]``. A frame is composited back to front
with binary alpha masks; the label of a pixel is the front-most layer covering it, and the flow
at a pixel is the velocity of that layer there, both exact at any time.

Times are microseconds from the start of the scene (``t = 0`` is the first frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from motionlayers.errors import InputError
from motionlayers.events.simulator import simulate_events
from motionlayers.io.event_container import Events, parse_sensor_size
from motionlayers.motion import render

__all__ = ["LayeredScene", "SceneLayer", "random_scene", "simulate_scene", "smooth_texture"]


def smooth_texture(
    rng: np.random.Generator, height: int, width: int, scale: float, low: float, high: float
) -> np.ndarray:
    """A periodic random texture ``(H, W)`` float32 in ``[low, high]``: white noise low-passed
    by a Gaussian of ``scale`` pixels in the Fourier domain (so it tiles seamlessly), stretched
    so that its 2nd and 98th percentiles map to ``low`` and ``high``."""
    noise = rng.standard_normal((height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    gain = np.exp(-2.0 * (np.pi * scale) ** 2 * (fx**2 + fy**2))
    image = np.real(np.fft.ifft2(np.fft.fft2(noise) * gain))
    low_q, high_q = np.percentile(image, [2.0, 98.0])  # stretch the contrast, clip the tails
    image = np.clip((image - low_q) / max(float(high_q - low_q), 1e-12), 0.0, 1.0)
    return (low + (high - low) * image).astype(np.float32)


@dataclass(frozen=True)
class SceneLayer:
    """One layer: ``texture`` ``(h, w)`` periodic tile, ``theta`` ``(2, 3)`` px/s (normalised
    coordinates), and for objects an outline: ``centre`` (x, y) pixels at t = 0, ``radius``
    pixels and ``harmonics`` ``(m, 3)`` rows (order, amplitude, phase). No outline = full view."""

    texture: np.ndarray
    theta: np.ndarray
    centre: tuple[float, float] | None = None
    radius: float = 0.0
    harmonics: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


class LayeredScene:
    """Layers (background first) on a sensor of ``sensor_size = (W, H)``; see the module doc."""

    def __init__(self, layers: list[SceneLayer], sensor_size: tuple[int, int]) -> None:
        if not layers or layers[0].centre is not None:
            raise InputError("layers", "the first layer must be a background (no outline)")
        self.layers = layers
        self.width, self.height = parse_sensor_size(sensor_size)
        self.theta = np.stack([np.asarray(layer.theta, np.float64) for layer in layers])
        self._generators = [self._generator(theta) for theta in self.theta]
        ys, xs = np.mgrid[0 : self.height, 0 : self.width]
        self._grid = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).astype(np.float64)

    def _generator(self, theta: np.ndarray) -> np.ndarray:
        """``G`` (3, 3) of the velocity field ``v(p) = M p + a`` in pixel coordinates."""
        sx, sy = 2.0 / self.width, 2.0 / self.height
        m = np.stack([theta[:, 1] * sx, theta[:, 2] * sy], axis=1)
        a = theta[:, 0] + theta[:, 1] * (sx / 2 - 1) + theta[:, 2] * (sy / 2 - 1)
        g = np.zeros((3, 3))
        g[:2, :2], g[:2, 2] = m, a
        return g

    def source_points(self, k: int, t_us: float) -> tuple[np.ndarray, np.ndarray]:
        """Where the points of layer ``k`` seen at the pixel centres at ``t_us`` were at t = 0:
        ``(x0, y0)``, each ``(H, W)``."""
        step = torch.from_numpy(-float(t_us) * 1e-6 * self._generators[k])
        back = torch.linalg.matrix_exp(step).numpy() @ self._grid
        shape = (self.height, self.width)
        return back[0].reshape(shape), back[1].reshape(shape)

    def _inside(self, layer: SceneLayer, x0: np.ndarray, y0: np.ndarray) -> np.ndarray:
        assert layer.centre is not None
        dx, dy = x0 - layer.centre[0], y0 - layer.centre[1]
        distance = np.hypot(dx, dy)
        direction = (dx + 1j * dy) / np.maximum(distance, 1e-12)  # e^{i angle}
        outline = np.ones_like(distance)
        for order, amplitude, phase in layer.harmonics:  # r(angle) = R (1 + sum a cos(n angle + c))
            outline += amplitude * np.real(np.exp(1j * phase) * direction ** int(order))
        return distance < layer.radius * outline

    def labels_at(self, t_us: float) -> np.ndarray:
        """``(H, W)`` int64 label of the front-most layer at each pixel at time ``t_us``."""
        return self._render(t_us, with_frame=False)[0]

    def frame_at(self, t_us: float) -> np.ndarray:
        """``(H, W)`` float32 linear intensity at time ``t_us``."""
        frame = self._render(t_us, with_frame=True)[1]
        assert frame is not None
        return frame

    def _render(self, t_us: float, with_frame: bool) -> tuple[np.ndarray, np.ndarray | None]:
        labels = np.zeros((self.height, self.width), dtype=np.int64)
        frame = np.zeros((self.height, self.width), dtype=np.float32) if with_frame else None
        for k, layer in enumerate(self.layers):
            x0, y0 = self.source_points(k, t_us)
            cover = np.ones_like(labels, bool) if k == 0 else self._inside(layer, x0, y0)
            labels[cover] = k
            if frame is not None:
                texture = cv2.remap(
                    layer.texture,
                    x0.astype(np.float32),
                    y0.astype(np.float32),
                    cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_WRAP,
                )
                frame[cover] = texture[cover]
        return labels, frame

    def flow_at(self, t_us: float) -> np.ndarray:
        """``(2, H, W)`` float32 velocity (u, v) in pixels/second of the visible layer."""
        theta = torch.from_numpy(self.theta)[None]  # (1, K, 2, 3)
        dense = render(theta, "affine", self.height, self.width)[0].numpy()  # (K, 2, H, W)
        labels = self.labels_at(t_us)
        flow = np.take_along_axis(dense, labels[None, None].repeat(2, axis=1), axis=0)[0]
        return flow.astype(np.float32)


def random_scene(
    seed: int,
    sensor_size: tuple[int, int],
    objects: int = 1,
    duration_s: float = 0.1,
    max_speed: float = 150.0,
) -> LayeredScene:
    """A background and ``objects`` objects with random textures, outlines and affine motions.

    Translations reach ``max_speed`` px/s for objects (20-50 % of it for the background; all
    layers also zoom, shear and rotate slightly); objects start so that they cross the middle
    part of the view at half the duration. Deterministic by ``seed``.
    """
    width, height = parse_sensor_size(sensor_size)
    if not 0 <= int(objects) <= 5:
        raise InputError("objects", f"expected 0 to 5 objects, got {objects}")
    rng = np.random.default_rng(seed)
    side = min(width, height)
    speed = min(max_speed, 0.25 * side / max(duration_s, 1e-6))
    background_theta = np.zeros((2, 3))
    pan = rng.uniform(0, 2 * np.pi)
    background_theta[:, 0] = rng.uniform(0.2, 0.5) * speed * np.array([np.cos(pan), np.sin(pan)])
    background_theta[:, 1:] = rng.uniform(-speed / 10, speed / 10, (2, 2))
    texture = smooth_texture(rng, 2 * height, 2 * width, rng.uniform(1.0, 2.0), 0.05, 0.7)
    layers = [SceneLayer(texture, background_theta)]
    for _ in range(int(objects)):
        theta = np.zeros((2, 3))
        angle = rng.uniform(0, 2 * np.pi)
        theta[:, 0] = rng.uniform(0.5, 1.0) * speed * np.array([np.cos(angle), np.sin(angle)])
        theta[:, 1:] = rng.uniform(-speed / 10, speed / 10, (2, 2))
        middle = np.array([width, height]) * rng.uniform(0.35, 0.65, 2)
        centre = middle - theta[:, 0] * duration_s / 2
        radius = side * rng.uniform(0.15, 0.25)
        harmonics = np.stack(
            [np.arange(2, 5), rng.uniform(0, 0.15, 3), rng.uniform(0, 2 * np.pi, 3)], axis=1
        )
        tile = smooth_texture(rng, 128, 128, rng.uniform(1.0, 2.0), 0.3, 1.0)
        layers.append(
            SceneLayer(tile, theta, (float(centre[0]), float(centre[1])), float(radius), harmonics)
        )
    return LayeredScene(layers, (width, height))


def simulate_scene(
    seed: int,
    duration_s: float = 0.1,
    fps_render: float = 1000.0,
    sensor_size: tuple[int, int] = (240, 180),
    objects: int = 1,
    threshold: float = 0.2,
    threshold_sigma: float = 0.03,
    refractory_us: int = 0,
) -> tuple[Events, Callable[[float], np.ndarray], Callable[[float], np.ndarray], dict]:
    """Simulate the events of a random layered scene (`random_scene`, `simulate_events`).

    Returns:
        ``(events, labels_at, flow_at, metadata)``: events with t in us from 0; ``labels_at(t_us)``
        -> ``(H, W)`` int64 labels; ``flow_at(t_us)`` -> ``(2, H, W)`` float32 px/s; metadata a
        JSON-ready dict (seed, sensor size, duration, thresholds, per-layer ``theta`` in px/s).
        Deterministic by ``seed``.
    """
    if duration_s <= 0 or fps_render <= 0:
        raise InputError("duration_s", "duration and render rate must be positive")
    scene = random_scene(seed, sensor_size, objects, duration_s)
    count = int(np.floor(duration_s * fps_render + 1e-9)) + 1
    times = np.rint(np.arange(count) * 1e6 / fps_render).astype(np.int64)
    frames = [scene.frame_at(float(t)) for t in times]
    events = simulate_events(
        frames, times, threshold, threshold, threshold_sigma, refractory_us, seed=seed
    )
    metadata = {
        "seed": int(seed),
        "sensor_size": [scene.width, scene.height],
        "duration_us": int(times[-1]),
        "fps_render": float(fps_render),
        "threshold": float(threshold),
        "threshold_sigma": float(threshold_sigma),
        "refractory_us": int(refractory_us),
        "model": "affine",
        "theta_units": "pixels/second, normalised coordinates (motionlayers.motion)",
        "layers": [
            {
                "label": k,
                "kind": "background" if k == 0 else "object",
                "theta": np.round(layer.theta, 9).tolist(),
            }
            for k, layer in enumerate(scene.layers)
        ],
        "num_events": len(events),
    }
    return events, scene.labels_at, scene.flow_at, metadata
