"""Datasets at scale: a folder of sequences or videos, every frame of every sequence written
exactly once, by one process, by two worker processes, or by two Lightning ranks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.cli.main import main
from motionlayers.errors import InputError
from motionlayers.io import read_mask
from motionlayers.pipeline.datasets import check_items, dataset_items
from motionlayers.pipeline.segmentation import segment_source

FAST = dict(method="classical-em", layers=2, size=(24, 32), progress=False, initialisations=1)
LENGTHS = {"bear": 4, "camel": 3, "dog": 5}


def _frames(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((48, 80)).astype(np.float32), (0, 0), 2) * 255 * 3
    out = []
    for t in range(count):
        frame = np.repeat(texture[:, t : t + 64, None], 3, 2).clip(0, 255).astype(np.uint8)
        frame[10:30, 10 + 3 * t : 30 + 3 * t] = 200
        out.append(frame)
    return out


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "JPEGImages"
    for seed, (name, count) in enumerate(LENGTHS.items()):
        (root / name).mkdir(parents=True)
        for t, frame in enumerate(_frames(count, seed)):
            cv2.imwrite(str(root / name / f"{t:05d}.png"), frame)
    return root


def _check_every_frame_once(out: Path) -> dict[str, np.ndarray]:
    labels = {}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(LENGTHS)
    for name, count in LENGTHS.items():
        stems = [f"{t:05d}" for t in range(count)]
        assert sorted(p.stem for p in (out / name / "masks").iterdir()) == stems
        record = json.loads((out / name / "motion.json").read_text())
        assert [f["stem"] for f in record["frames"]] == stems
        labels[name] = np.stack([read_mask(out / name / "masks" / f"{s}.png") for s in stems])
    return labels


def test_one_and_two_workers_write_every_frame_once_and_agree(dataset: Path, tmp_path: Path):
    one = segment_source(dataset, tmp_path / "one", **FAST)
    two = segment_source(dataset, tmp_path / "two", workers=2, **FAST)
    assert one.frames == two.frames == sum(LENGTHS.values())
    assert "3 sequences" in two.summary()
    a, b = _check_every_frame_once(tmp_path / "one"), _check_every_frame_once(tmp_path / "two")
    for name in LENGTHS:
        assert (a[name] == b[name]).all()


def test_two_lightning_ranks_split_an_uneven_dataset_without_losing_a_frame(
    dataset: Path, tmp_path: Path
):
    result = segment_source(dataset, tmp_path / "ddp", devices=2, strategy="ddp_spawn", **FAST)
    assert result.frames == sum(LENGTHS.values())
    _check_every_frame_once(tmp_path / "ddp")


def test_bad_sequences_are_listed_together_before_anything_is_written(
    dataset: Path, tmp_path: Path
):
    for name in ("empty", "single"):
        (dataset / name).mkdir()
    cv2.imwrite(str(dataset / "single" / "00000.png"), _frames(1, 0)[0])
    (dataset / "empty" / "notes.txt").write_text("no frames")  # not a sequence: skipped
    with pytest.raises(InputError, match="single: 1 frame"):
        segment_source(dataset, tmp_path / "out", **FAST)
    assert not (tmp_path / "out").exists()
    assert main(["segment", str(dataset), "-o", str(tmp_path / "o"), "--workers", "0"]) == 1


def test_a_folder_of_videos_and_a_name_clash(tmp_path: Path):
    for name in ("a", "b"):
        writer = cv2.VideoWriter(
            str(tmp_path / f"{name}.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48)
        )
        for frame in _frames(3, 0):
            writer.write(frame)
        writer.release()
    assert [n for n, _ in dataset_items(tmp_path)] == ["a", "b"]
    check_items(dataset_items(tmp_path))
    (tmp_path / "a").mkdir()
    cv2.imwrite(str(tmp_path / "a" / "0.png"), _frames(1, 0)[0])
    with pytest.raises(InputError, match="two sequences are named 'a'"):
        dataset_items(tmp_path)
