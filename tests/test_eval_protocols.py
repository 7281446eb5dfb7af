"""Protocols end to end on small synthetic folders: frames scored, averages, errors, resizing."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.errors import InputError
from motionlayers.eval.contours import f_measure
from motionlayers.eval.protocols import PROTOCOLS, get_protocol, scored_frames
from motionlayers.eval.regions import jaccard
from motionlayers.eval.report import format_table, summary_dict, write_report
from motionlayers.eval.runner import evaluate_folders
from motionlayers.io.atomic import MANIFEST
from motionlayers.io.masks import write_mask

H, W = 24, 32


def square(top: int, left: int, size: int = 8, value: int = 1) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[top : top + size, left : left + size] = value
    return mask


def write_split(
    root: Path,
    name: str,
    gt: Sequence[np.ndarray],
    pred: Sequence[np.ndarray | None],
    binary_gt: bool = True,
) -> None:
    (root / "gt" / name).mkdir(parents=True, exist_ok=True)
    (root / "pred" / name).mkdir(parents=True, exist_ok=True)
    for t, g in enumerate(gt):
        if binary_gt:
            cv2.imwrite(str(root / "gt" / name / f"{t:05d}.png"), (g != 0).astype(np.uint8) * 255)
        else:
            write_mask(root / "gt" / name / f"{t:05d}.png", g)
    for t, p in enumerate(pred):
        if p is not None:
            write_mask(root / "pred" / name / f"{t:05d}.png", p)


def test_registry_and_frame_rules() -> None:
    assert list(PROTOCOLS) == ["davis16", "davis17", "fbms", "segtrack", "moca"]
    with pytest.raises(InputError, match="valid: davis16, davis17"):
        get_protocol("davis")
    davis = get_protocol("davis16")
    assert scored_frames(["a", "b", "c", "d"], davis) == (["b", "c"], ["a", "d"])
    assert scored_frames(["a", "b"], davis) == ([], ["a", "b"])
    assert scored_frames(["a", "b"], get_protocol("fbms")) == (["a", "b"], [])


def test_davis16_skips_first_and_last_and_averages_sequences(tmp_path: Path) -> None:
    gt = [square(4, 4 + t) for t in range(5)]
    # frames 0 and 4 are not scored, so the last one may be missing (flow methods lack it)
    pred = [np.zeros((H, W), np.uint8), gt[1], square(4, 7), gt[3], None]
    write_split(tmp_path, "a", gt, pred)
    write_split(tmp_path, "b", [square(2, 2)] * 3, [square(2, 2)] * 3)
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16", workers=2)
    assert [(r.sequence, r.frame) for r in result.frames] == [
        ("a", "00001"),
        ("a", "00002"),
        ("a", "00003"),
        ("b", "00001"),
    ]
    assert result.frames_skipped == 4 and result.frames_scored == 4
    j2 = float(jaccard(square(4, 7), gt[2]))
    seq_a = (1 + j2 + 1) / 3
    assert result.sequences[0]["J_mean"] == pytest.approx(seq_a)
    assert result.overall["J_mean"] == pytest.approx((seq_a + 1.0) / 2)  # mean of sequences
    f2 = f_measure(square(4, 7), gt[2])
    assert result.overall["F_mean"] == pytest.approx(((2 + f2) / 3 + 1) / 2)
    assert result.overall["JF_mean"] == pytest.approx(
        (result.overall["J_mean"] + result.overall["F_mean"]) / 2
    )
    text = format_table(result)
    assert "except the first and the last" in text and "uses ground truth: no" in text


def test_frame_average_differs_from_sequence_average(tmp_path: Path) -> None:
    write_split(tmp_path, "long", [square(2, 2)] * 3, [square(2, 2)] * 3)
    write_split(tmp_path, "short", [square(2, 2)], [np.zeros((H, W), np.uint8)])
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "segtrack")
    assert result.overall["J_mean"] == pytest.approx(3 / 4)
    assert result.overall["J_mean_of_sequences"] == pytest.approx(1 / 2)
    assert result.frames_skipped == 0


def test_missing_prediction_is_an_error_naming_frames(tmp_path: Path) -> None:
    write_split(tmp_path, "a", [square(2, 2)] * 4, [square(2, 2), None, square(2, 2), None])
    with pytest.raises(InputError, match=r"1 ground-truth frame\(s\) have no prediction: a/00001"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16")
    with pytest.raises(InputError, match="a/00001, a/00003"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    write_split(tmp_path, "b", [square(2, 2)] * 3, [])
    with pytest.raises(InputError, match=r"pred/b: holds no mask images"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    (tmp_path / "pred" / "b").rmdir()
    with pytest.raises(InputError, match=r"no prediction for 1 of the 2 .*: b \(--sequences"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    with pytest.raises(InputError, match="does not exist"):
        evaluate_folders(tmp_path / "nope", tmp_path / "gt", "fbms")


def test_predictions_are_resized_and_non_zero_labels_are_foreground(tmp_path: Path) -> None:
    gt = square(8, 8)
    small = cv2.resize(
        np.where(gt != 0, 2, 0).astype(np.uint8), (W // 2, H // 2), interpolation=cv2.INTER_NEAREST
    )
    small[0, 0] = 3  # a third label: still foreground for a binary protocol
    write_split(tmp_path, "a", [gt], [small])
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    expected = np.where(cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST) != 0, 1, 0)
    assert result.frames[0].scores["J"] == pytest.approx(float(jaccard(expected, gt)))
    assert result.frames[0].scores["J"] == pytest.approx(64 / 68)


def test_selection_changes_the_foreground(tmp_path: Path) -> None:
    gt = square(4, 4)
    pred = square(4, 4, value=2)  # label 0 is the object's background, layer 2 the object
    pred[20:24, 0:4] = 1  # a spurious layer
    write_split(tmp_path, "a", [gt] * 2, [pred] * 2)
    nonzero = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    fair = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms", selection="fair")
    greedy = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms", selection="greedy", cut=1)
    assert nonzero.overall["J_mean"] == pytest.approx(64 / 80)
    assert fair.overall["J_mean"] == 1.0 and greedy.overall["J_mean"] == 1.0
    assert summary_dict(fair)["selection"] == {
        "name": "fair",
        "uses_ground_truth": True,
        "description": "per frame, layers more than half inside the ground truth",
    }
    assert greedy.settings["cut"] == 1


def test_davis17_hungarian_with_label_gt_and_void(tmp_path: Path) -> None:
    gt = [square(2, 2) + square(12, 16, value=2) for _ in range(3)]
    gt[2][22:24, :] = 255  # void
    pred = [np.where(g == 1, 4, np.where(g == 2, 1, 0)).astype(np.uint8) for g in gt]
    write_split(tmp_path, "a", gt, pred, binary_gt=False)
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis17")
    assert result.frames_scored == 3 and len(result.frames) == 6
    assert {(r.object, r.segment) for r in result.frames} == {(1, 4), (2, 1)}
    assert result.overall["J_mean"] == 1.0 and result.overall["F_mean"] == 1.0
    swapped = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis17", candidates="all")
    assert swapped.overall["JF_mean"] == 1.0
    assert [row["object"] for row in result.sequences] == [1, 2]


def test_davis17_background_label_is_not_a_candidate_by_default(tmp_path: Path) -> None:
    gt = [square(2, 2)] * 2
    pred = [np.where(g == 1, 0, 1).astype(np.uint8) for g in gt]  # the object is label 0
    write_split(tmp_path, "a", gt, pred, binary_gt=False)
    default = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis17")
    everything = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis17", candidates="all")
    assert default.overall["J_mean"] < 0.2
    assert everything.overall["J_mean"] == 1.0


def test_fbms_multi_object_extras(tmp_path: Path) -> None:
    gt = [square(2, 2) + square(12, 16, value=2) for _ in range(2)]
    pred = [square(2, 2, value=3) + square(12, 16, value=1), square(2, 2, value=1)]
    write_split(tmp_path, "a", gt, pred, binary_gt=False)
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    assert result.frames[0].scores["bIoU"] == 1.0
    # frame 1: object 2's best segment is the background layer 0 (all layers are candidates)
    assert result.frames[1].scores["bIoU"] == pytest.approx((1 + 64 / (H * W - 64)) / 2)
    # the sequence-level assignment maps 3 -> object 1, 1 -> object 2: frame 1 scores 0
    assert result.frames[0].scores["LA_J"] == 1.0
    assert result.frames[1].scores["LA_J"] == 0.0
    assert any("bootstrap" in note for note in result.notes)
    single = tmp_path / "single"
    write_split(single, "a", [square(2, 2)], [square(2, 2)])
    assert "bIoU" not in evaluate_folders(single / "pred", single / "gt", "fbms").frames[0].scores


def test_moca_box_iou_and_success_rates(tmp_path: Path) -> None:
    gt = square(4, 4)
    pred = square(4, 4)
    pred[20:22, 28:30] = 1  # a small spurious region is ignored
    write_split(tmp_path, "a", [gt, gt], [pred, square(4, 8)])
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "moca")
    assert [r.scores["J_box"] for r in result.frames] == pytest.approx([1.0, 32 / 96])
    assert result.overall["J_box_success@0.5"] == 0.5
    assert "F_mean" not in result.overall


def test_single_sequence_folder_and_report_files(tmp_path: Path) -> None:
    write_split(tmp_path, "seq", [square(2, 2)] * 2, [square(2, 3)] * 2)
    result = evaluate_folders(tmp_path / "pred" / "seq", tmp_path / "gt" / "seq", "segtrack")
    assert {r.sequence for r in result.frames} == {"seq"}
    paths = write_report(result, tmp_path / "out" / "deep")
    assert [p.name for p in paths] == ["per_frame.csv", "per_sequence.csv", "summary.json"]
    rows = list(csv.DictReader((tmp_path / "out" / "deep" / "per_frame.csv").open()))
    assert rows[0]["sequence"] == "seq" and float(rows[0]["J"]) == pytest.approx(56 / 72)
    summary = json.loads((tmp_path / "out" / "deep" / "summary.json").read_text())
    assert summary["protocol"] == "segtrack" and summary["frames_scored"] == 2
    assert summary["skips_first_and_last_frame"] is False
    assert summary["overall"]["J_mean"] == pytest.approx(56 / 72)
    assert not [
        p
        for p in (tmp_path / "out" / "deep").iterdir()
        if p.name.startswith(".") and p.name != MANIFEST
    ]


def test_davis17_sequence_without_objects_is_noted(tmp_path: Path) -> None:
    write_split(tmp_path, "a", [square(2, 2)], [square(2, 2)], binary_gt=False)
    write_split(tmp_path, "b", [np.zeros((H, W), np.uint8)], [square(2, 2)], binary_gt=False)
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis17")
    assert result.notes == ["b: no ground-truth object"]
    assert result.sequence_count == 1 and result.overall["J_mean"] == 1.0


def test_public_api_surface() -> None:
    import motionlayers.eval as ev
    import motionlayers.io as io

    for name in ev.__all__:
        assert hasattr(ev, name), name
    for name in (
        "evaluate_folders",
        "jaccard",
        "f_measure",
        "RegionSimilarity",
        "ContourAccuracy",
        "HungarianMatchedScore",
        "select_foreground",
        "PROTOCOLS",
    ):
        assert name in ev.__all__
    for name in ("read_mask", "write_mask", "list_masks", "resize_mask", "DAVIS_PALETTE"):
        assert name in io.__all__ and hasattr(io, name)
