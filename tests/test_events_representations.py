"""Voxel grids, counts and time surfaces of an `Events` window; the window is never modified."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers import events as ev_api
from motionlayers.errors import InputError
from motionlayers.events import Events, event_counts, time_surface, voxel_grid


def random_events(n: int = 500, size: tuple[int, int] = (12, 7), seed: int = 0) -> Events:
    rng = np.random.default_rng(seed)
    return Events(
        t=np.sort(rng.integers(1_000_000, 1_050_000, n)),
        x=rng.integers(0, size[0], n),
        y=rng.integers(0, size[1], n),
        p=rng.choice([-1, 1], n),
        sensor_size=size,
    )


def snapshot(events: Events) -> list[np.ndarray]:
    return [a.copy() for a in (events.t, events.x, events.y, events.p)]


def test_events_reexported_from_io() -> None:
    from motionlayers.io import Events as io_events

    assert ev_api.Events is io_events
    for name in ev_api.__all__:
        assert hasattr(ev_api, name), name


def test_counts_match_numpy_and_input_unchanged() -> None:
    events = random_events()
    before = snapshot(events)
    counts = event_counts(events)
    assert counts.shape == (2, 7, 12) and counts.dtype == torch.float32
    expected = np.zeros((2, 7, 12))
    np.add.at(expected, ((events.p < 0).astype(int), events.y, events.x), 1)
    np.testing.assert_array_equal(counts.numpy(), expected)
    for old, new in zip(before, snapshot(events)):
        np.testing.assert_array_equal(old, new)


def test_voxel_grid_sums_to_signed_counts_and_interpolates_in_time() -> None:
    events = random_events()
    before = snapshot(events)
    grid = voxel_grid(events, bins=5)
    assert grid.shape == (5, 7, 12)
    counts = event_counts(events)
    torch.testing.assert_close(grid.sum(0), counts[0] - counts[1], atol=1e-4, rtol=0)
    for old, new in zip(before, snapshot(events)):
        np.testing.assert_array_equal(old, new)
    # One ON event a quarter of the way between bins 1 and 2 of a 3-bin grid over [0, 100].
    single = Events(t=[0, 25 * 2, 100], x=[0, 3, 0], y=[0, 2, 0], p=[-1, 1, -1], sensor_size=(4, 3))
    g = voxel_grid(single, bins=3)
    torch.testing.assert_close(g[:, 2, 3], torch.tensor([0.0, 1.0, 0.0]))
    quarter = Events(t=[0, 25, 100], x=[0, 3, 0], y=[0, 2, 0], p=[-1, 1, -1], sensor_size=(4, 3))
    torch.testing.assert_close(voxel_grid(quarter, 3)[:, 2, 3], torch.tensor([0.5, 0.5, 0.0]))


def test_time_surface_decays_from_the_latest_event() -> None:
    events = Events(t=[0, 10, 30], x=[1, 1, 2], y=[0, 0, 1], p=[1, 1, -1], sensor_size=(3, 2))
    surface = time_surface(events, tau_us=10.0)
    assert surface.shape == (2, 2, 3)
    assert surface[0, 0, 1].item() == pytest.approx(np.exp(-2.0), rel=1e-6)  # latest ON at 10
    assert surface[1, 1, 2].item() == pytest.approx(1.0)
    assert surface.sum().item() == pytest.approx(1.0 + np.exp(-2.0), rel=1e-6)
    early = time_surface(events, tau_us=10.0, t_ref_us=5)  # events after t_ref are ignored
    assert early[0, 0, 1].item() == pytest.approx(np.exp(-0.5), rel=1e-6)
    assert early[1].sum().item() == 0.0


def test_empty_window_and_bad_arguments() -> None:
    empty = Events.empty((5, 4))
    assert voxel_grid(empty, 3).abs().sum() == 0
    assert event_counts(empty).shape == (2, 4, 5)
    assert time_surface(empty, 1.0).abs().sum() == 0
    with pytest.raises(InputError):
        voxel_grid(empty, 0)
    with pytest.raises(InputError):
        time_surface(empty, 0.0)
    with pytest.raises(InputError):
        event_counts(np.zeros((3, 4)))  # type: ignore[arg-type]
