"""Event training windows: simulated on the fly (deterministic) and cut from recordings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.data.events import (
    EventFolderDataset,
    SyntheticEventDataset,
    event_representation,
    find_recordings,
    window_item,
)
from motionlayers.errors import InputError
from motionlayers.events.recording import write_synthetic_recording
from motionlayers.io.event_container import Events

SMALL = dict(height=24, width=32, window_events=1500, duration_ms=40.0, fps_render=500.0)


def test_synthetic_windows_are_deterministic_by_seed() -> None:
    data = SyntheticEventDataset(3, seed=5, objects=(1, 2), bins=3, **SMALL)
    item = data[1]
    assert item["input"].shape == (3, 24, 32) and item["events"].shape == (1500, 4)
    assert item["event_labels"].shape == (1500,) and item["gt_theta"].shape == (3, 2, 3)
    t = item["events"][:, 2]
    assert t[0] == 0 and t[-1] == 1 and bool((t[1:] >= t[:-1]).all())
    assert float(item["duration_s"]) > 0
    assert set(item["event_labels"].unique().tolist()) <= {0, 1, 2}
    again = SyntheticEventDataset(3, seed=5, objects=(1, 2), bins=3, **SMALL)[1]
    for key in item:
        assert torch.equal(item[key], again[key]), key
    other = SyntheticEventDataset(3, seed=6, objects=(1, 2), bins=3, **SMALL)[1]
    assert not torch.equal(item["events"], other["events"])
    batch = torch.utils.data.default_collate([data[0], data[2]])
    assert batch["events"].shape == (2, 1500, 4)
    with pytest.raises(IndexError):
        data[3]


def test_cached_windows_equal_fresh_ones_and_skip_the_simulation(tmp_path) -> None:
    fresh = SyntheticEventDataset(2, seed=5, objects=(1, 2), bins=3, **SMALL)
    cached = SyntheticEventDataset(2, seed=5, objects=(1, 2), bins=3, cache_dir=tmp_path, **SMALL)
    first = cached[1]  # simulated and written
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.rglob(".*"))  # no temporary file left

    def no_simulation(*args, **kwargs):
        raise AssertionError("a cached item was simulated again")

    cached._simulate = no_simulation  # type: ignore[method-assign]
    again = cached[-1]  # the same item, read back
    counts = SyntheticEventDataset(
        2, seed=5, objects=(1, 2), representation="counts", cache_dir=tmp_path, **SMALL
    )  # another representation shares the windows
    counts._simulate = no_simulation  # type: ignore[method-assign]
    expected = fresh[1]
    for key in expected:
        assert torch.equal(expected[key], first[key]), key
        assert torch.equal(expected[key], again[key]) and expected[key].dtype == again[key].dtype
    assert torch.equal(counts[1]["events"], expected["events"])
    other = SyntheticEventDataset(2, seed=6, bins=3, cache_dir=tmp_path, **SMALL)
    assert other.cache != cached.cache  # other parameters, other folder


def test_window_item_units_and_representations() -> None:
    events = Events(t=[100, 300, 1100], x=[0, 1, 2], y=[0, 1, 1], p=[1, -1, 1], sensor_size=(3, 2))
    item = window_item(
        events, "counts", labels=np.array([0, 1, 1]), theta_px_per_s=np.ones((2, 2, 3))
    )
    torch.testing.assert_close(item["events"][:, 2], torch.tensor([0.0, 0.2, 1.0]))
    assert float(item["duration_s"]) == pytest.approx(1e-3)
    torch.testing.assert_close(item["gt_theta"][:2], torch.full((2, 2, 3), 1e-3))  # px/window
    assert item["gt_theta"][2].abs().sum() == 0 and item["input"].shape == (2, 2, 3)
    assert event_representation(events, "voxel", 4).shape == (4, 2, 3)
    with pytest.raises(InputError):
        event_representation(events, "histogram")


def test_folder_windows_from_synth_recordings(tmp_path) -> None:
    for i in range(2):
        write_synthetic_recording(
            tmp_path / f"{i:05d}", seed=i, duration_s=0.03, fps_render=500, sensor_size=(32, 24)
        )
    assert len(find_recordings(tmp_path)) == 2
    data = EventFolderDataset(tmp_path, window_events=400, bins=3)
    assert len(data) >= 2
    item = data[len(data) - 1]
    assert item["events"].shape == (400, 4) and item["input"].shape == (3, 24, 32)
    assert item["event_labels"].shape == (400,) and item["gt_theta"].shape == (3, 2, 3)
    single = EventFolderDataset(tmp_path / "00000" / "events.npz", window_events=400)
    assert "event_labels" not in single[0]  # a bare file carries no ground truth
    with pytest.raises(InputError):
        EventFolderDataset(tmp_path, window_events=10**9)
    with pytest.raises(InputError):
        find_recordings(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        find_recordings(tmp_path / "empty")
