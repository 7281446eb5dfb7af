"""Training windows of events: simulated on the fly, or cut from recorded/simulated files.

An item is one window of exactly ``window_events`` consecutive events, as a dict of tensors:

- ``input`` ``(C, H, W)`` float32: the network's representation (`event_representation`).
- ``events`` ``(N, 4)`` float32 rows ``(x, y, t, p)``: pixels, ``t`` the fraction of the window
  (0 at its first event, 1 at its last), ``p`` +-1.
- ``duration_s`` ``()`` float32: time from the first to the last event, in seconds (a motion in
  pixels per window divided by it is in pixels per second).
- with ground truth (simulated data, or recordings with ``labels/`` and ``meta.json``):
  ``event_labels`` ``(N,)`` int64, the layer of each event (0 = background), and ``gt_theta``
  ``(L, 2, 3)`` float32 affine models in **pixels per window**, zero-padded to ``L`` layers.

Every item of a dataset has the same shapes, so the default collate batches them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.errors import InputError
from motionlayers.events.representations import event_counts, voxel_grid
from motionlayers.events.scenes import LayeredScene, random_scene
from motionlayers.events.simulator import simulate_events
from motionlayers.io.atomic import atomic_path
from motionlayers.io.event_container import Events
from motionlayers.io.events import read_events
from motionlayers.io.masks import read_mask

__all__ = [
    "REPRESENTATIONS",
    "EventFolderDataset",
    "SyntheticEventDataset",
    "event_representation",
    "find_recordings",
    "label_events",
    "simulate_layered_scene",
    "window_item",
]

REPRESENTATIONS = ("voxel", "counts")


def event_representation(events: Events, kind: str = "voxel", bins: int = 5) -> torch.Tensor:
    """The network input of a window: ``(bins, H, W)`` signed voxel grid (``"voxel"``) or
    ``(2, H, W)`` ON/OFF counts (``"counts"``), float32."""
    if kind == "voxel":
        return voxel_grid(events, bins)
    if kind == "counts":
        return event_counts(events)
    raise InputError("representation", f"unknown {kind!r}; choose from {REPRESENTATIONS}")


def window_item(
    events: Events,
    representation: str = "voxel",
    bins: int = 5,
    labels: np.ndarray | None = None,
    theta_px_per_s: np.ndarray | None = None,
    layers: int = 3,
) -> dict[str, torch.Tensor]:
    """The item of one window (see the module doc); ``labels`` ``(N,)`` per-event layers and
    ``theta_px_per_s`` ``(L', 2, 3)`` (pixels/second, padded to ``layers``) are optional."""
    t = events.t - events.t[0] if len(events) else events.t
    span = max(int(t[-1]) if len(events) else 0, 1)
    rows = np.stack([events.x, events.y, t / span, events.p], axis=1).astype(np.float32)
    duration = np.float32(span * 1e-6)
    item = {
        "input": event_representation(events, representation, bins),
        "events": torch.from_numpy(rows),
        "duration_s": torch.tensor(duration),
    }
    if labels is not None:
        item["event_labels"] = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    if theta_px_per_s is not None:
        theta = np.zeros((layers, 2, 3), dtype=np.float32)
        theta[: len(theta_px_per_s)] = np.asarray(theta_px_per_s) * duration
        item["gt_theta"] = torch.from_numpy(theta)
    return item


def label_events(
    events: Events, labels_at: Callable[[float], np.ndarray], samples: int = 5
) -> np.ndarray:
    """``(N,)`` int64 layer of each event of a window: the label map ``labels_at(t_us)`` at the
    nearest of ``samples`` times spread over the window, read at the event's pixel."""
    if not len(events):
        return np.zeros(0, dtype=np.int64)
    t0, t1 = int(events.t[0]), int(events.t[-1])
    times = t0 + (np.arange(samples) + 0.5) * (t1 - t0) / samples
    maps = np.stack([labels_at(float(t)) for t in times])  # (S, H, W)
    nearest = np.clip(np.floor((events.t - t0) / max(t1 - t0, 1) * samples), 0, samples - 1)
    return maps[nearest.astype(np.int64), events.y, events.x].astype(np.int64)


def simulate_layered_scene(
    seed: int,
    sensor_size: tuple[int, int],
    objects: int = 1,
    duration_ms: float = 100.0,
    fps_render: float = 1000.0,
    max_speed: float = 300.0,
) -> tuple[Events, LayeredScene]:
    """Events of `random_scene` ``(seed, sensor_size = (W, H), objects, ...)`` rendered at
    ``fps_render`` and simulated with thresholds 0.2 +- 0.03 (as ``motionlayers synth events``),
    and the scene (labels, per-layer ``theta`` in pixels/second). Deterministic by ``seed``."""
    duration_s, fps = float(duration_ms) / 1e3, float(fps_render)
    count = int(np.floor(duration_s * fps + 1e-9)) + 1
    times = np.rint(np.arange(count) * 1e6 / fps).astype(np.int64)
    scene = random_scene(seed, sensor_size, objects, duration_s, max_speed)
    frames = [scene.frame_at(float(t)) for t in times]
    return simulate_events(frames, times, 0.2, 0.2, 0.03, seed=seed), scene


class SyntheticEventDataset(Dataset):
    """Simulated windows of layered affine motion; item ``i`` depends only on ``(seed, i)``.

    Each item renders a random scene (`motionlayers.events.scenes.random_scene`: textured
    background and 1 to ``max_objects`` objects), simulates its events and cuts a window of
    ``window_events`` consecutive events at a random place. A scene with too few events is
    replaced by the next one (a few tries), then its events are repeated to fill the window.

    With ``cache_dir``, the window of item ``i`` (its events, labels and the scene's motions,
    not the representation) is kept in ``cache_dir/synthetic-<key>/<i>.npz``, ``key`` a hash
    of every parameter that changes the windows, so that later epochs read it (milliseconds)
    instead of simulating it (a quarter of a second at 64 x 64). Files are written atomically;
    workers may share a cache. About 8 bytes per event: 0.4 MB per 128 x 128 window of
    49 152 events.

    Args:
        length: number of items.
        height, width: sensor size.
        seed: base seed (held-out data: another seed).
        objects: ``(min, max)`` number of moving objects.
        window_events: ``N``, events per window.
        duration_ms, fps_render, max_speed: scene duration, rendering rate (frames/s) and the
            objects' largest translation speed (pixels/second).
        representation, bins: network input (see `event_representation`).
        label_samples: label maps per window used to label the events.
        cache_dir: folder of the cache of simulated windows (created), or None (no cache).
    """

    def __init__(
        self,
        length: int,
        height: int = 128,
        width: int = 128,
        seed: int = 0,
        objects: tuple[int, int] | list[int] = (1, 2),
        window_events: int = 15_000,
        duration_ms: float = 60.0,
        fps_render: float = 1000.0,
        max_speed: float = 300.0,
        representation: str = "voxel",
        bins: int = 5,
        label_samples: int = 5,
        cache_dir: str | Path | None = None,
    ) -> None:
        if length < 0 or window_events < 2:
            raise InputError("dataset", f"need length >= 0, window_events >= 2, got {length}")
        self.length, self.seed = int(length), int(seed)
        self.size = (int(width), int(height))
        self.objects = (int(objects[0]), int(objects[1]))
        self.window_events = int(window_events)
        self.duration_s, self.fps = float(duration_ms) / 1e3, float(fps_render)
        self.max_speed = float(max_speed)
        self.representation, self.bins = representation, int(bins)
        self.label_samples = int(label_samples)
        event_representation(Events.empty(self.size), representation, bins)  # check the kind
        self.cache = None if cache_dir is None else Path(cache_dir) / self._cache_key()
        if self.cache is not None:
            try:
                self.cache.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise InputError(self.cache, f"cannot create the cache: {error}") from error

    def __len__(self) -> int:
        return self.length

    def _cache_key(self) -> str:
        """``synthetic-<hash>`` of the parameters that change the windows (not the
        representation, computed after reading)."""
        params = dict(
            version=1,  # bump when the simulation changes: old entries are then ignored
            seed=self.seed,
            size=self.size,
            objects=self.objects,
            window_events=self.window_events,
            duration_s=self.duration_s,
            fps=self.fps,
            max_speed=self.max_speed,
            label_samples=self.label_samples,
        )
        text = json.dumps(params, sort_keys=True)
        return "synthetic-" + hashlib.sha1(text.encode()).hexdigest()[:16]

    def _simulate(self, rng: np.random.Generator) -> tuple[Events, LayeredScene]:
        for _ in range(4):
            objects = int(rng.integers(self.objects[0], self.objects[1] + 1))
            events, scene = simulate_layered_scene(
                int(rng.integers(2**31)),
                self.size,
                objects,
                self.duration_s * 1e3,
                self.fps,
                self.max_speed,
            )
            if len(events) >= self.window_events:
                break
        return events, scene

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        index %= self.length
        path = None if self.cache is None else self.cache / f"{index:07d}.npz"
        if path is not None and path.is_file():
            window, labels, theta = _read_window(path, self.size)
        else:
            window, labels, theta = self._window(index)
            if path is not None:
                _write_window(path, window, labels, theta)
        return window_item(
            window, self.representation, self.bins, labels, theta, self.objects[1] + 1
        )

    def _window(self, index: int) -> tuple[Events, np.ndarray, np.ndarray]:
        """The simulated window of item ``index``, its ``(N,)`` labels and the scene's
        ``(L', 2, 3)`` motions in pixels per second."""
        rng = np.random.default_rng([self.seed, index])
        events, scene = self._simulate(rng)
        if len(events) < self.window_events:  # repeat the events (each twice, ...) to fill
            take = np.sort(np.arange(self.window_events) % max(len(events), 1))
            events = Events(
                events.t[take], events.x[take], events.y[take], events.p[take], self.size
            )
        start = int(rng.integers(len(events) - self.window_events + 1))
        window = events[start : start + self.window_events]
        return window, label_events(window, scene.labels_at, self.label_samples), scene.theta


def _write_window(path: Path, window: Events, labels: np.ndarray, theta: np.ndarray) -> None:
    """Store a window in the smallest exact integer types; the item depends on time only
    through ``t - t[0]`` (see `window_item`), so offsets suffice."""

    def small(a: np.ndarray) -> np.ndarray:
        return a.astype(np.min_scalar_type(int(a.max())))  # values are >= 0

    with atomic_path(path) as tmp:
        np.savez(
            tmp,
            t=small(window.t - window.t[0]),
            x=small(window.x),
            y=small(window.y),
            p=window.p,
            labels=small(labels),
            theta=np.asarray(theta),
        )


def _read_window(path: Path, size: tuple[int, int]) -> tuple[Events, np.ndarray, np.ndarray]:
    """The window, labels and motions stored by `_write_window` (times from 0)."""
    with np.load(path) as data:
        window = Events(data["t"], data["x"], data["y"], data["p"], size)
        return window, data["labels"].astype(np.int64), data["theta"]


class EventFolderDataset(Dataset):
    """Windows of ``window_events`` events cut from event recordings (the last partial window
    of each recording is dropped).

    ``root`` is an event file, a recording folder written by ``motionlayers synth events``
    (``events.npz``, optional ``labels/`` and ``meta.json``), or a folder holding such
    folders or event files (sorted). Recordings with ``meta.json`` and ``labels/`` give ground
    truth: each event takes the label map whose time is nearest to the window's middle.

    Args:
        root: see above.
        window_events: ``N``.
        representation, bins: network input.
        sensor_size: ``(W, H)`` for files that do not store it.
        layers: ``L``, padding of ``gt_theta``.
        recordings: only these recording paths (as listed by `find_recordings`).
    """

    def __init__(
        self,
        root: str | Path,
        window_events: int = 15_000,
        representation: str = "voxel",
        bins: int = 5,
        sensor_size: tuple[int, int] | str | None = None,
        layers: int = 3,
        recordings: list[Path] | None = None,
    ) -> None:
        self.paths = recordings if recordings is not None else find_recordings(root)
        self.window_events, self.layers = int(window_events), int(layers)
        self.representation, self.bins = representation, int(bins)
        self.sensor_size = sensor_size
        self.index: list[tuple[int, int]] = []
        for r, path in enumerate(self.paths):
            count = len(self._events(path)) // self.window_events
            self.index.extend((r, w) for w in range(count))
        if not self.index:
            raise InputError(root, f"no recording holds {self.window_events} events")
        self._cache: tuple[int, Events] | None = None

    def _events(self, path: Path) -> Events:
        return read_events(path / "events.npz" if path.is_dir() else path, self.sensor_size)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        r, w = self.index[index]
        if self._cache is None or self._cache[0] != r:
            self._cache = (r, self._events(self.paths[r]))
        events = self._cache[1]
        window = events[w * self.window_events : (w + 1) * self.window_events]
        labels, theta = None, None
        meta_path = self.paths[r] / "meta.json"
        if meta_path.is_file() and (self.paths[r] / "labels").is_dir():
            meta = json.loads(meta_path.read_text())
            middle = (int(window.t[0]) + int(window.t[-1])) / 2
            k = int(np.argmin(np.abs(np.asarray(meta["label_times_us"]) - middle)))
            label_map = read_mask(self.paths[r] / "labels" / f"{k:05d}.png")
            labels = label_map[window.y, window.x]
            theta = np.asarray([layer["theta"] for layer in meta["layers"]], dtype=np.float64)
        return window_item(window, self.representation, self.bins, labels, theta, self.layers)


def find_recordings(root: str | Path) -> list[Path]:
    """Recordings under ``root``: itself (an event file or a folder with ``events.npz``), or
    its sorted entries that are such folders or event files."""
    root = Path(root)
    if not root.exists():
        raise InputError(root, "does not exist")
    if root.is_file() or (root / "events.npz").is_file():
        return [root]
    suffixes = (".npz", ".txt", ".h5", ".hdf5", ".es", ".raw", ".aedat4")
    found = [
        p
        for p in sorted(root.iterdir())
        if (p.is_dir() and (p / "events.npz").is_file())
        or (p.is_file() and p.suffix.lower() in suffixes)
    ]
    if not found:
        raise InputError(root, "holds no event recording (events.npz folders or event files)")
    return found
