"""Datasets at scale (`motionlayers.pipeline.datasets`): a folder of sequences or videos, every
frame of every sequence written exactly once, by one process, by two worker processes or by two
Lightning ranks, with the same labels; bad sequences refused together before anything is
written; a sequence failing mid-run named after the others were written."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.cli.main import main
from motionlayers.errors import InputError
from motionlayers.io import read_mask, write_image
from motionlayers.pipeline.datasets import (
    check_items,
    dataset_items,
    rank_share,
    segment_dataset,
)
from motionlayers.pipeline.segmentation import segment_source

pytestmark = pytest.mark.usefixtures("one_thread")  # the workers get one thread each too

FAST = dict(method="em", size=(32, 48), progress=False)
LENGTHS = {"bear": 4, "seq2": 4, "seq10": 5}
"""Sequence -> frames, in natural order (seq2 before seq10)."""


def _frames(count: int, seed: int) -> list[np.ndarray]:
    """``count`` 48x64 BGR frames: a textured background and a bright square moving right."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((48, 64 + 4 * count)).astype(np.float32), (0, 0), 2)
    out = []
    for t in range(count):
        frame = np.repeat(texture[:, t : t + 64, None] * 600, 3, 2).clip(0, 255).astype(np.uint8)
        frame[12:28, 10 + 4 * t : 26 + 4 * t] = 220
        out.append(frame)
    return out


def _sequence(folder: Path, count: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    for t, frame in enumerate(_frames(count, seed)):
        write_image(folder / f"{t:05d}.png", frame, rgb=False)
    return folder


def _video(path: Path, count: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (64, 48))
    for frame in _frames(count, 1):
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAVIS layout: ``JPEGImages/480p/<seq>/00000.png``, plus what is not a sequence."""
    root = tmp_path_factory.mktemp("davis") / "JPEGImages" / "480p"
    for seed, (name, count) in enumerate(LENGTHS.items()):
        _sequence(root / name, count, seed)
    _sequence(root / ".thumbnails", 2)  # hidden: skipped
    (root / "notes").mkdir()  # holds no frame: skipped
    (root / "notes" / "readme.txt").write_text("not a sequence")
    return root


def _every_frame_once(out: Path) -> dict[str, np.ndarray]:
    """Check that ``out`` holds each sequence once, each frame's mask once and motion.json's
    frames in order; the ``(T, H, W)`` labels of each sequence."""
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(LENGTHS)
    labels = {}
    for name, count in LENGTHS.items():
        stems = [f"{t:05d}" for t in range(count)]
        masks = sorted((out / name / "masks").glob("*.png"))
        assert [p.stem for p in masks] == stems
        record = json.loads((out / name / "motion.json").read_text())
        assert [f["stem"] for f in record["frames"]] == stems
        labels[name] = np.stack([read_mask(p) for p in masks])
        assert labels[name].shape == (count, 48, 64)
    return labels


@pytest.fixture(scope="module")
def serial(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """One process, through `segment_source` (a dataset is dispatched to `segment_dataset`)."""
    out = tmp_path_factory.mktemp("serial")
    result = segment_source(dataset, out, **FAST)
    assert (result.kind, result.sequences, result.frames) == ("dataset", 3, 13)
    labels = _every_frame_once(out)
    assert all(0 < (seq > 0).mean() < 0.5 for seq in labels.values())  # a square was found
    return labels


def test_items_are_the_sub_folders_in_natural_order(dataset: Path):
    assert dataset_items(dataset) == [(n, dataset / n) for n in ("bear", "seq2", "seq10")]
    assert dataset_items(dataset / "bear") == []  # one sequence, not a dataset
    assert dataset_items(dataset / "missing") == []
    check_items(dataset_items(dataset))


def test_two_workers_write_every_frame_once_as_one_process_does(
    dataset: Path, serial: dict[str, np.ndarray], tmp_path: Path
):
    result = segment_dataset(dataset, tmp_path, workers=2, **FAST)
    assert result.sequences == ["bear", "seq2", "seq10"]
    assert [r.frames for r in result.results] == [4, 4, 5] and result.frames == 13
    assert result.areas.shape == (13, 2) and result.background.shape == (13,)
    assert result.summary().startswith("segmented 3 sequences, 13 frames (64x48) with em in ")
    labels = _every_frame_once(tmp_path)
    for name in LENGTHS:
        np.testing.assert_array_equal(labels[name], serial[name])


def test_rank_shares_cover_every_item_once_padded_with_none():
    items = ["a", "b", "c"]
    assert [rank_share(items, r, 2) for r in range(2)] == [["a", "c"], ["b", None]]
    assert [rank_share(items, r, 4) for r in range(4)] == [["a"], ["b"], ["c"], [None]]
    for world in range(1, 8):
        shares = [rank_share(list(range(11)), r, world) for r in range(world)]
        assert len({len(s) for s in shares}) == 1  # the same number of steps on every rank
        assert sorted(i for s in shares for i in s if i is not None) == list(range(11))


def test_two_lightning_ranks_split_an_uneven_dataset_without_a_duplicate_or_a_lost_frame(
    dataset: Path, serial: dict[str, np.ndarray], tmp_path: Path
):
    result = segment_dataset(dataset, tmp_path, devices=2, strategy="ddp_spawn", **FAST)
    assert (result.frames, result.rank, result.method) == (13, 0, "em")
    labels = _every_frame_once(tmp_path)
    for name in LENGTHS:
        np.testing.assert_array_equal(labels[name], serial[name])


def test_bad_sequences_are_listed_in_one_error_before_anything_is_written(tmp_path: Path):
    root = tmp_path / "data"
    _sequence(root / "good", 2)
    _sequence(root / "single", 1)
    _sequence(root / "mixed", 1)
    np.save(root / "mixed" / "00000.npy", np.zeros((48, 64, 2), np.float32))
    (root / "broken.mp4").write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(InputError) as caught:
        segment_dataset(root, tmp_path / "out", workers=2, **FAST)
    message = str(caught.value)
    assert "3 of 4 sequences cannot be segmented (nothing was written)" in message
    assert "broken: cannot be opened as a video" in message
    assert "mixed: holds both flow files (00000.npy) and frames (00000.png)" in message
    assert "single: 1 frame, needs at least two" in message and "good" not in message
    assert not (tmp_path / "out").exists()


def test_a_sequence_failing_mid_run_is_named_after_the_others_are_written(
    dataset: Path, tmp_path: Path
):
    root = tmp_path / "data"
    _sequence(root / "good", 3)
    _sequence(root / "corrupt", 3)
    (root / "corrupt" / "00001.png").write_bytes(b"not a png")  # passes the cheap check
    with pytest.raises(InputError, match=r"1 of 2 sequences failed .*corrupt: .*00001\.png"):
        segment_dataset(root, tmp_path / "out", workers=2, **FAST)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good"]
    assert len(list((tmp_path / "out" / "good" / "masks").glob("*.png"))) == 3


def test_bad_run_options_are_refused_before_anything_is_written(dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"--workers: must be an integer in \[1, 256\]"):
        segment_dataset(dataset, out, workers=0, **FAST)
    with pytest.raises(InputError, match="--workers: runs processes on one machine"):
        segment_dataset(dataset, out, workers=2, devices=2, **FAST)
    with pytest.raises(InputError, match="--devices/--strategy/--num-nodes: .*banana"):
        segment_dataset(dataset, out, strategy="banana", **FAST)
    with pytest.raises(InputError, match="is not a folder of sequences"):
        segment_dataset(dataset / "bear", out, **FAST)
    assert not out.exists()
    assert main(["segment", str(dataset), "-o", str(out), "--workers", "0"]) == 1


def test_a_folder_of_videos_and_a_name_clash(tmp_path: Path):
    _video(tmp_path / "b.mp4", 4)
    _video(tmp_path / "a.mp4", 4)
    (tmp_path / "notes.txt").write_text("ignored")
    assert dataset_items(tmp_path) == [("a", tmp_path / "a.mp4"), ("b", tmp_path / "b.mp4")]
    check_items(dataset_items(tmp_path))
    _video(tmp_path / "c.mp4", 1)
    with pytest.raises(InputError, match="1 of 3 sequences .*c: 1 frame, needs at least two"):
        check_items(dataset_items(tmp_path))
    _sequence(tmp_path / "a", 2)
    with pytest.raises(InputError, match="two sequences are named 'a': a and a.mp4"):
        dataset_items(tmp_path)
    write_image(tmp_path / "00000.png", _frames(1, 0)[0], rgb=False)
    assert dataset_items(tmp_path) == []  # frames of its own: one sequence, not a dataset
