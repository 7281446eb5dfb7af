"""ESIM-style simulator: event counts from log changes, timing, noise, refractory period."""

from __future__ import annotations

import numpy as np
import pytest

from motionlayers.errors import InputError, ShapeError
from motionlayers.events.simulator import EventSimulator, simulate_events

EPS = 1e-3
H, W = 6, 8


def uniform(value: float) -> np.ndarray:
    return np.full((H, W), value, dtype=np.float64)


def brightened(value: float, log_change: float) -> float:
    """The intensity whose log(I + eps) exceeds that of ``value`` by ``log_change``."""
    return (value + EPS) * np.exp(log_change) - EPS


def test_brightening_gives_on_events_at_log_change_over_threshold() -> None:
    frames = [uniform(0.3), uniform(brightened(0.3, 0.9))]
    events = simulate_events(frames, [0, 1000], threshold_on=0.2, threshold_off=0.2)
    assert len(events) == 4 * H * W  # floor(0.9 / 0.2) crossings per pixel
    assert (events.p == 1).all()
    per_pixel = np.bincount(events.y * W + events.x, minlength=H * W)
    assert (per_pixel == 4).all()
    # Crossing j happens at the fraction j * 0.2 / 0.9 of the interval (linear log intensity).
    expected = np.rint(np.arange(1, 5) * 0.2 / 0.9 * 1000).astype(np.int64)
    np.testing.assert_array_equal(np.unique(events.t), expected)


def test_darkening_gives_off_events_and_static_gives_none() -> None:
    frames = [uniform(0.5), uniform(brightened(0.5, -0.5)), uniform(brightened(0.5, -0.5))]
    events = simulate_events(frames, [0, 1000, 2000], threshold_on=0.1, threshold_off=0.15)
    assert len(events) == 3 * H * W and (events.p == -1).all()  # floor(0.5 / 0.15) = 3
    assert events.t.max() <= 1000  # nothing during the static second interval
    static = simulate_events([uniform(0.4)] * 5, np.arange(5) * 1000)
    assert len(static) == 0


def test_reference_level_carries_over_intervals() -> None:
    # +0.15 then +0.15 with C = 0.2: no event in the first interval, one in the second.
    frames = [uniform(0.3), uniform(brightened(0.3, 0.15)), uniform(brightened(0.3, 0.3))]
    events = simulate_events(frames, [0, 100, 200], threshold_on=0.2)
    assert len(events) == H * W
    assert (events.t > 100).all() and (events.t <= 200).all()


def test_moving_edge_fires_only_along_its_path() -> None:
    width, height = 40, 10
    frames, times = [], []
    for k in range(11):  # a bright half-plane whose edge moves right by 1 px per frame
        edge = 10.0 + k
        cols = np.arange(width)[None, :] + 0.5
        coverage = np.clip(edge - cols + 0.5, 0.0, 1.0)  # area-weighted pixel coverage
        frames.append(np.broadcast_to(0.2 + 0.6 * coverage, (height, width)).copy())
        times.append(k * 1000)
    events = simulate_events(frames, times, threshold_sigma=0.02, seed=3)
    assert len(events) > 0 and (events.p == 1).all()
    assert events.x.min() >= 9 and events.x.max() <= 21  # between the first and last edge
    assert set(np.unique(events.y)) == set(range(height))
    # Each event sits near the edge's position at its time.
    edge_at = 10.0 + events.t / 1000.0
    assert np.abs(events.x + 0.5 - edge_at).max() <= 1.5


def test_threshold_noise_is_seeded_and_refractory_drops_events() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.uniform(0.1, 1.0, (H, W)) for _ in range(6)]
    times = np.arange(6) * 1000
    a = simulate_events(frames, times, threshold_sigma=0.05, seed=7)
    b = simulate_events(frames, times, threshold_sigma=0.05, seed=7)
    c = simulate_events(frames, times, threshold_sigma=0.05, seed=8)
    for name in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert len(a) != len(c) or not np.array_equal(a.t, c.t)
    slow = simulate_events(frames, times, threshold_sigma=0.05, seed=7, refractory_us=5000)
    assert 0 < len(slow) < len(a)
    pixel = slow.y.astype(np.int64) * W + slow.x
    for index in np.unique(pixel):
        gaps = np.diff(slow.t[pixel == index])
        assert (gaps >= 5000).all()


def test_frames_are_not_modified_and_errors() -> None:
    frames = np.stack([uniform(0.3), uniform(0.9)])
    before = frames.copy()
    simulate_events(frames, [0, 10])
    np.testing.assert_array_equal(frames, before)
    with pytest.raises(ShapeError):
        simulate_events(frames, [0])
    with pytest.raises(InputError):
        simulate_events(frames, [10, 10])
    with pytest.raises(InputError):
        EventSimulator((W, H), threshold_on=0.0)
    sim = EventSimulator((W, H))
    sim.reset(uniform(0.3), 0)
    with pytest.raises(ShapeError):
        sim.step(np.zeros((H + 1, W)), 10)
