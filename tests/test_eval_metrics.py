"""torchmetrics accumulators: batch splits and merged states add up, and agree with functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.eval.boxes import largest_region_box_iou
from motionlayers.eval.contours import f_measure
from motionlayers.eval.matching import bootstrap_iou, frame_pair_scores, match_sequence
from motionlayers.eval.metrics import (
    BootstrapIoU,
    BoxIoU,
    ContourAccuracy,
    HungarianMatchedScore,
    RegionSimilarity,
)
from motionlayers.eval.regions import jaccard
from motionlayers.eval.runner import evaluate_folders
from motionlayers.io.masks import write_mask


def random_frames(seed: int, n: int = 12, labels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = np.zeros((n, 20, 24), np.uint8)
    pred = np.zeros_like(gt)
    for t in range(n):
        for k in range(1, labels):
            y, x = rng.integers(0, 12, 2)
            gt[t, y : y + 8, x : x + 10] = k
            dy, dx = rng.integers(-2, 3, 2)
            pred[t, max(y + dy, 0) : y + dy + 8, max(x + dx, 0) : x + dx + 10] = k
    return pred, gt


def test_region_similarity_batches_merge_and_averages() -> None:
    pred, gt = random_frames(0)
    sequence = torch.tensor([0] * 8 + [1] * 4)
    expected = jaccard(pred, gt)
    whole = RegionSimilarity(num_sequences=2, average="sequences")
    whole.update(torch.from_numpy(pred), torch.from_numpy(gt), sequence)
    parts = [RegionSimilarity(num_sequences=2, average="sequences") for _ in range(3)]
    for part, index in zip(parts, np.array_split(np.arange(12), 3)):
        part.update(torch.from_numpy(pred[index]), torch.from_numpy(gt[index]), sequence[index])
    parts[0].merge_state(parts[1])
    parts[0].merge_state(parts[2])  # as DDP sums the states of the processes
    by_sequence = (expected[:8].mean() + expected[8:].mean()) / 2
    assert float(whole.compute()) == pytest.approx(by_sequence, rel=1e-12)
    assert float(parts[0].compute()) == pytest.approx(by_sequence, rel=1e-12)
    frames = RegionSimilarity()
    for t in range(12):
        frames.update(torch.from_numpy(pred[t]), torch.from_numpy(gt[t]))
    assert float(frames.compute()) == pytest.approx(expected.mean(), rel=1e-12)
    assert float(frames.recall()) == pytest.approx((expected > 0.5).mean())
    np.testing.assert_allclose(
        whole.sequence_means().numpy(), [expected[:8].mean(), expected[8:].mean()]
    )


def test_contour_and_box_metrics_agree_with_functions() -> None:
    pred, gt = random_frames(1)
    contour, box = ContourAccuracy(), BoxIoU()
    for chunk in np.array_split(np.arange(12), 4):
        contour.update(torch.from_numpy(pred[chunk]), torch.from_numpy(gt[chunk]))
        box.update(torch.from_numpy(pred[chunk]), torch.from_numpy(gt[chunk]))
    assert float(contour.compute()) == pytest.approx(
        np.mean([f_measure(p, g) for p, g in zip(pred, gt)])
    )
    assert float(box.compute()) == pytest.approx(
        np.mean([largest_region_box_iou(p, g) for p, g in zip(pred, gt)])
    )


def test_argument_checks() -> None:
    with pytest.raises(InputError, match="average"):
        RegionSimilarity(average="objects")
    metric = RegionSimilarity(num_sequences=2)
    with pytest.raises(InputError, match="sequence"):
        metric.update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), sequence=2)
    with pytest.raises(ShapeError):
        metric.update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))
    with pytest.raises(InputError, match="criterion"):
        HungarianMatchedScore(criterion="f")


def test_hungarian_metric_matches_match_sequence_across_batches() -> None:
    pred, gt = random_frames(2, n=6, labels=3)
    pred = np.where(pred == 1, 2, np.where(pred == 2, 1, 0)).astype(np.uint8)  # swap labels
    expected = match_sequence(list(pred), list(gt), pred_ids=[1, 2, 3])
    assert expected.f is not None
    a = HungarianMatchedScore(segment_ids=[1, 2, 3], object_ids=[1, 2])
    b = HungarianMatchedScore(segment_ids=[1, 2, 3], object_ids=[1, 2])
    a.update(torch.from_numpy(pred[:2]), torch.from_numpy(gt[:2]))
    b.update(torch.from_numpy(pred[2:]), torch.from_numpy(gt[2:]))
    a.merge_state(b)
    out = a.compute()
    assert float(out["J"]) == pytest.approx(expected.j.mean())
    assert float(out["F"]) == pytest.approx(expected.f.mean())
    assert float(out["JF"]) == pytest.approx((expected.j.mean() + expected.f.mean()) / 2)
    j_only = HungarianMatchedScore(segment_ids=[1, 2, 3], object_ids=[1, 2, 5], criterion="j")
    j_only.update(torch.from_numpy(pred), torch.from_numpy(gt))  # object 5 never appears
    assert float(j_only.compute()["JF"]) == pytest.approx(expected.j.mean())


def test_bootstrap_metric() -> None:
    pred, gt = random_frames(3, n=4, labels=3)
    gt[3] = 0  # a frame without objects is skipped
    metric = BootstrapIoU(object_ids=[1, 2])
    metric.update(torch.from_numpy(pred), torch.from_numpy(gt))
    per_frame = []
    for p, g in zip(pred[:3], gt[:3]):
        present = [k for k in (1, 2) if (g == k).any()]
        j, _ = frame_pair_scores(p, g, np.unique(p).tolist(), present, with_f=False)
        per_frame.append(bootstrap_iou(j[None])[0].mean())
    assert float(metric.compute()) == pytest.approx(np.mean(per_frame))
    assert float(metric.frame_count.sum()) == 3


def test_metrics_agree_with_the_folder_runner(tmp_path: Path) -> None:
    pred, gt = random_frames(4, n=6)
    for name, frames in (("a", range(0, 4)), ("b", range(4, 6))):
        for root, data in (("gt", gt), ("pred", pred)):
            (tmp_path / root / name).mkdir(parents=True)
            for t in frames:
                write_mask(tmp_path / root / name / f"{t:03d}.png", data[t])
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16")
    j = RegionSimilarity(num_sequences=2, average="sequences")
    f = ContourAccuracy(num_sequences=2, average="sequences")
    inner = [1, 2]  # davis16 scores a/001 and a/002; b has no inner frame
    for metric in (j, f):
        metric.update(torch.from_numpy(pred[inner]), torch.from_numpy(gt[inner]), 0)
    assert result.frames_scored == 2 and result.notes == ["b: no frame to score"]
    assert result.overall["J_mean"] == pytest.approx(float(j.compute()))
    assert result.overall["F_mean"] == pytest.approx(float(f.compute()))
    fbms = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    j_all = RegionSimilarity()
    j_all.update(torch.from_numpy(pred), torch.from_numpy(gt))
    assert fbms.overall["J_mean"] == pytest.approx(float(j_all.compute()))
