"""SyntheticFlowDataset (determinism, shapes, collate) and the DAVIS-like writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from motionlayers.data import SynthConfig, SyntheticFlowDataset, write_synthetic_dataset
from motionlayers.data.layered import generate_sequence
from motionlayers.errors import InputError
from motionlayers.io import read_flow, read_image, read_mask

pytestmark = pytest.mark.usefixtures("one_thread")


def test_items_depend_only_on_seed_and_index():
    a = SyntheticFlowDataset(5, height=32, width=48, layers=4, seed=7)
    b = SyntheticFlowDataset(5, height=32, width=48, layers=4, seed=7)
    assert len(a) == 5
    first = a[3]
    b[0]  # order of access does not matter
    for key, value in b[3].items():
        assert torch.equal(value, first[key]), key
    assert not torch.equal(a[2]["flow"], first["flow"])
    assert torch.equal(a[-2]["flow"], first["flow"])
    with pytest.raises(IndexError):
        a[5]


def test_item_shapes_and_collate():
    data = SyntheticFlowDataset(4, height=32, width=48, layers=4, seed=0)
    item = data[0]
    assert item["flow"].shape == (2, 32, 48) and item["flow"].dtype == torch.float32
    assert item["labels"].shape == (32, 48) and item["labels"].dtype == torch.int64
    assert item["theta"].shape == (4, 2, 6)
    layers = int(item["layers"])
    assert torch.all(item["theta"][layers:] == 0)
    assert int(item["labels"].max()) == layers - 1
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch["flow"].shape == (4, 2, 32, 48) and batch["theta"].shape == (4, 4, 2, 6)


def test_frames_mode_and_sequences():
    data = SyntheticFlowDataset(2, height=40, width=56, seed=1, mode="frames", max_motion=0.05)
    item = data[1]
    assert item["frames"].shape == (2, 3, 40, 56) and item["frames"].dtype == torch.uint8
    assert item["gt_flow"].shape == item["flow"].shape == (2, 40, 56)
    assert not torch.equal(item["flow"], item["gt_flow"])  # estimated by DIS
    seq = SyntheticFlowDataset(1, height=32, width=48, seed=1, frames=3)[0]
    assert seq["flow"].shape == (2, 3, 32, 48) and seq["labels"].shape == (3, 32, 48)
    assert seq["theta"].shape == (3, 2, 12)
    with pytest.raises(InputError):
        SyntheticFlowDataset(1, mode="video")


def test_writer_layout_and_contents(tmp_path):
    config = SynthConfig(height=32, width=48, layers=3)
    out = tmp_path / "synth"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    write_synthetic_dataset(out, count=2, config=config, seed=4, mode="frames", frames=2)
    assert (out / "stale.txt").read_text() == "old"  # not written by motionlayers: kept
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == 2 and meta["frames"] == 2 and meta["config"]["height"] == 32
    for index, name in enumerate(["synth0000", "synth0001"]):
        scene = generate_sequence(config, 2, (4, index), images=True)
        assert sorted(p.name for p in (out / "Flows" / name).iterdir()) == [
            "00000.flo",
            "00001.flo",
        ]
        assert len(list((out / "JPEGImages" / name).glob("*.jpg"))) == 3
        for step in range(2):
            flow = read_flow(out / "Flows" / name / f"{step:05d}.flo")
            np.testing.assert_array_equal(flow, scene.flow[:, step].transpose(1, 2, 0))
            labels = read_mask(out / "Annotations" / name / f"{step:05d}.png")
            np.testing.assert_array_equal(labels, scene.labels[step])
        assert read_image(out / "JPEGImages" / name / "00000.jpg").shape == (32, 48, 3)
        entry = meta["sequences"][name]
        assert entry["model"] == "quadratic12+linear" and entry["seed"] == [4, index]
        np.testing.assert_allclose(entry["theta"], scene.theta, atol=1e-9)


def test_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(InputError):
        write_synthetic_dataset(tmp_path / "x", count=0)
    with pytest.raises(InputError):
        write_synthetic_dataset(tmp_path / "x", count=1, mode="video")
    assert not (tmp_path / "x").exists()
