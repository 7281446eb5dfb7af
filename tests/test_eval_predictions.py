"""Prediction layouts of `evaluate_folders`: segment outputs read with their motion.json (each
frame's background), label PNGs, subsets of sequences, and the errors of mismatched inputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.errors import InputError
from motionlayers.eval.predictions import background_first
from motionlayers.eval.regions import jaccard
from motionlayers.eval.runner import evaluate_folders
from motionlayers.io.masks import write_mask

H, W = 24, 32
STEMS = ("00000", "00001", "00002")


def gt_object(t: int) -> np.ndarray:
    """``(H, W)`` bool: the ground-truth object of frame ``t``, an 8x8 square moving right."""
    mask = np.zeros((H, W), bool)
    mask[6:14, 6 + t : 14 + t] = True
    return mask


def write_gt(root: Path, seq: str, frames: int = len(STEMS)) -> None:
    (root / seq).mkdir(parents=True)
    for t in range(frames):
        cv2.imwrite(str(root / seq / f"{t:05d}.png"), gt_object(t).astype(np.uint8) * 255)


def camel_labels(t: int, background: int = 1) -> np.ndarray:
    """Layer labels of frame ``t`` as an old ``segment`` wrote camel: the background is label
    ``background``, the object label 0 (1 if the background is 0; one column too wide), a
    spurious blob label 3 and a corner label 2 (1 if the background is 2)."""
    labels = np.full((H, W), background, np.uint8)
    labels[6:14, 6 + t : 15 + t] = 0 if background != 0 else 1
    labels[20:23, 26:30] = 3
    labels[0:2, 0:3] = 2 if background != 2 else 1
    return labels


def write_segment_output(
    out: Path,
    labels: Sequence[np.ndarray],
    backgrounds: Sequence[object],
    stems: Sequence[str] = STEMS,
    layers: int | None = 4,
) -> Path:
    """``out/masks/<stem>.png`` and an ``out/motion.json`` with each frame's background."""
    (out / "masks").mkdir(parents=True)
    for stem, frame in zip(stems, labels):
        write_mask(out / "masks" / f"{stem}.png", frame)
    layer_list = None if layers is None else [{"label": k, "area": 0.25} for k in range(layers)]
    frames = [
        {"stem": s, "background": b, **({} if layer_list is None else {"layers": layer_list})}
        for s, b in zip(stems, backgrounds)
    ]
    (out / "motion.json").write_text(json.dumps({"method": "em", "frames": frames}))
    return out


def expected_j(background: int) -> float:
    """DAVIS-2016 J of the camel frames (frame 1 only is scored) with that background."""
    return float(jaccard(camel_labels(1, background) != background, gt_object(1)))


def test_camel_background_label_1_is_read_from_motion_json(tmp_path: Path) -> None:
    write_gt(tmp_path / "gt", "camel")
    frames = [camel_labels(t) for t in range(3)]
    write_segment_output(tmp_path / "pred" / "camel", frames, [1, 1, 1])
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16", workers=2)
    assert result.overall["J_mean"] == pytest.approx(expected_j(1))
    assert result.overall["J_mean"] == pytest.approx(64 / (72 + 12 + 6))
    assert result.settings["background"] == "motion.json"
    # a motion.json without layers gives the background all the same
    write_segment_output(tmp_path / "bare" / "camel", frames, [1, 1, 1], layers=None)
    bare = evaluate_folders(tmp_path / "bare", tmp_path / "gt", "davis16")
    assert bare.overall["J_mean"] == pytest.approx(64 / 90)
    # the same masks as label PNGs are read the DAVIS way (label 0 is background): near 0
    plain = tmp_path / "plain" / "camel"
    plain.mkdir(parents=True)
    for stem, frame in zip(STEMS, frames):
        write_mask(plain / f"{stem}.png", frame)
    naive = evaluate_folders(tmp_path / "plain", tmp_path / "gt", "davis16")
    assert naive.overall["J_mean"] < 0.05 and naive.settings["background"] == "label 0"


def test_single_output_its_masks_folder_and_a_changing_background(tmp_path: Path) -> None:
    write_gt(tmp_path / "gt", "camel")
    backgrounds = [1, 2, 1]  # the background layer may change from frame to frame
    frames = [camel_labels(t, b) for t, b in enumerate(backgrounds)]
    out = write_segment_output(tmp_path / "out", frames, backgrounds)
    for pred in (out, out / "masks"):  # masks/ reads the motion.json beside it
        result = evaluate_folders(pred, tmp_path / "gt" / "camel", "fbms")
        j = [
            float(jaccard(f != b, gt_object(t)))
            for t, (f, b) in enumerate(zip(frames, backgrounds))
        ]
        assert [r.scores["J"] for r in result.frames] == pytest.approx(j)
    assert evaluate_folders(out, tmp_path / "gt", "fbms", sequences=["camel"]).frames_scored == 3
    # one ground-truth sequence against a folder of sequences reads PRED/<seq>
    (tmp_path / "many").mkdir()
    out.rename(tmp_path / "many" / "camel")
    one = evaluate_folders(tmp_path / "many", tmp_path / "gt" / "camel", "fbms", sequences="camel")
    assert [r.scores["J"] for r in one.frames] == pytest.approx(j)
    write_gt(tmp_path / "gt", "dog")
    with pytest.raises(InputError, match="segment output of one sequence.*--sequences"):
        evaluate_folders(tmp_path / "many" / "camel", tmp_path / "gt", "fbms")


def test_selections_and_davis17_see_the_layers_unchanged(tmp_path: Path) -> None:
    write_gt(tmp_path / "gt", "camel")
    frames = [camel_labels(t) for t in range(3)]
    write_segment_output(tmp_path / "seg" / "camel", frames, [1, 1, 1])
    (tmp_path / "plain" / "camel").mkdir(parents=True)
    for stem, frame in zip(STEMS, frames):
        write_mask(tmp_path / "plain" / "camel" / f"{stem}.png", frame)
    for selection in ("largest-is-background", "fair", "greedy", "hungarian"):
        seg = evaluate_folders(tmp_path / "seg", tmp_path / "gt", "fbms", selection=selection)
        plain = evaluate_folders(tmp_path / "plain", tmp_path / "gt", "fbms", selection=selection)
        assert seg.overall["J_mean"] == pytest.approx(plain.overall["J_mean"]), selection
    # davis17: the background (label 1) is no candidate; the matched segment is the mask's label
    result = evaluate_folders(tmp_path / "seg", tmp_path / "gt", "davis17")
    assert {r.segment for r in result.frames} == {0}
    assert result.overall["J_mean"] == pytest.approx(
        np.mean([float(jaccard(f == 0, gt_object(t))) for t, f in enumerate(frames)])
    )
    every = evaluate_folders(tmp_path / "seg", tmp_path / "gt", "davis17", candidates="all")
    assert {r.segment for r in every.frames} == {0}
    write_segment_output(
        tmp_path / "new" / "camel", [camel_labels(t, 0) for t in range(3)], [0] * 3
    )
    new = evaluate_folders(tmp_path / "new", tmp_path / "gt", "davis17")
    assert {r.segment for r in new.frames} == {1}
    assert new.overall["J_mean"] == pytest.approx(result.overall["J_mean"])


def test_a_frame_without_background_is_noted(tmp_path: Path) -> None:
    write_gt(tmp_path / "gt", "camel")
    frames = [camel_labels(t) for t in range(3)]
    frames[2] = np.zeros((H, W), np.uint8)  # no background pixel at all
    write_segment_output(tmp_path / "pred" / "camel", frames, [1, 1, 1])
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms")
    assert result.notes == [
        "camel: 1 frame(s) without a background pixel (scored as all foreground): 00002"
    ]
    assert result.frames[2].scores["J"] == pytest.approx(64 / (H * W))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("background never seen", r"motion.json: its background label \(0\) appears in none of"),
        ("extra mask", r"motion.json: does not match its masks: 1 mask\(s\) of .* \(00003\)"),
        ("missing mask", r"1 frame\(s\) listed without a mask in masks/ \(00002\)"),
        ("background not a layer", r"frame '00001': background label 7 is not one of its layers"),
        ("label not a layer", r"00001.png: labels \[5\] are not layers of frame '00001'"),
        ("bool background", r"frame '00000': \"background\" must be a label >= 0, got True"),
        ("no background", r"frame '00000': \"background\" must be a label >= 0, got None"),
        ("stem twice", r"frame '00000' is listed twice"),
        ("not json", r"motion.json: cannot read JSON"),
        ("event output", r'motion.json: no "frames" list .*event segmentation'),
        ("no motion.json", r"camel: has masks/ but no motion.json"),
        ("no masks", r"camel: has motion.json but no masks/ folder"),
    ],
)
def test_motion_json_that_disagrees_with_its_masks_is_an_error(
    tmp_path: Path, change: str, message: str
) -> None:
    write_gt(tmp_path / "gt", "camel")
    frames = [camel_labels(t) for t in range(3)]
    backgrounds: list[object] = [1, 1, 1]
    stems = list(STEMS)
    if change == "background never seen":
        frames = [np.maximum(f, 1) for f in frames]  # label 0 is gone, as is motion.json's bg
        backgrounds = [0, 0, 0]
    elif change == "extra mask":
        stems, frames = [*STEMS, "00003"], [*frames, frames[0]]
        backgrounds = [1, 1, 1, 1]
    elif change == "background not a layer":
        backgrounds[1] = 7
    elif change == "label not a layer":
        frames[1][0, 0] = 5
    elif change == "bool background":
        backgrounds[0] = True
    elif change == "no background":
        backgrounds[0] = None
    out = write_segment_output(tmp_path / "pred" / "camel", frames, backgrounds, stems)
    record = json.loads((out / "motion.json").read_text())
    if change == "extra mask":
        record["frames"].pop()
    elif change == "missing mask":
        (out / "masks" / "00002.png").unlink()
    elif change == "stem twice":
        record["frames"][1]["stem"] = "00000"
    elif change == "event output":
        record = {"windows": record["frames"]}
    (out / "motion.json").write_text(json.dumps(record))
    if change == "not json":
        (out / "motion.json").write_text('{"frames": [')
    elif change == "no motion.json":
        (out / "motion.json").unlink()
    elif change == "no masks":
        for path in (out / "masks").iterdir():
            path.unlink()
        (out / "masks").rmdir()
    with pytest.raises(InputError, match=message) as error:
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16")
    assert "\n" not in str(error.value)


def test_sequences_score_a_subset_and_missing_ones_are_listed(tmp_path: Path) -> None:
    for seq in ("a", "b", "c"):
        write_gt(tmp_path / "gt", seq)
    write_segment_output(tmp_path / "pred" / "a", [camel_labels(t) for t in range(3)], [1] * 3)
    (tmp_path / "pred" / "b").mkdir()
    for t in range(3):
        write_mask(tmp_path / "pred" / "b" / f"{t:05d}.png", gt_object(t))  # label PNGs
    (tmp_path / "pred" / ".staging").mkdir()  # a hidden folder (a running segment's) is ignored
    with pytest.raises(InputError, match=r"no prediction for 1 of the 3 .*: c \(--sequences"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16")
    result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16", sequences=["b", "a"])
    assert [row["sequence"] for row in result.sequences] == ["b", "a"]
    assert result.sequences[0]["J_mean"] == 1.0
    assert result.sequences[1]["J_mean"] == pytest.approx(expected_j(1))
    assert result.settings["background"] == "mixed"
    assert result.settings["background_from_motion_json"] == ["a"]
    assert result.settings["sequences"] == ["b", "a"]
    with pytest.raises(InputError, match=r"no prediction for 1 of the 2 .*: c$"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16", sequences=["a", "c"])
    with pytest.raises(InputError, match=r"gt: no ground-truth sequence zebra \(it has: a, b, c\)"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16", sequences=["a", "zebra"])
    for bad in ([], ["a", ""], [" a"]):
        with pytest.raises(InputError, match="sequences: expected sequence names"):
            evaluate_folders(tmp_path / "pred", tmp_path / "gt", "davis16", sequences=bad)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("tolerance", float("nan"), r"tolerance: must be a fraction .* got nan"),
        ("tolerance", -1.0, r"tolerance: .* got -1"),
        ("tolerance", float("inf"), r"tolerance: .* got inf"),
        ("tolerance", 0.5, r"tolerance: .*\[0, 0.05\] or a radius in pixels in \[1, 50\]"),
        ("tolerance", 51.0, "tolerance: "),
        ("cut", 0, r"cut: must be at least 1 frame, got 0"),
        ("workers", 0, r"workers: must be in \[1, 64\], got 0"),
        ("workers", -2, "workers: "),
        ("workers", 1000, "workers: "),
    ],
)
def test_bad_numeric_options_are_errors(
    tmp_path: Path, option: str, value: float, message: str
) -> None:
    write_gt(tmp_path / "gt", "a")
    write_gt(tmp_path / "pred", "a")
    with pytest.raises(InputError, match=message):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms", **{option: value})  # type: ignore[arg-type]


def test_tolerance_in_range_scores(tmp_path: Path) -> None:
    write_gt(tmp_path / "gt", "a")
    write_gt(tmp_path / "pred", "a")
    for tolerance in (0.0, 0.05, 1.0, 50.0):
        result = evaluate_folders(tmp_path / "pred", tmp_path / "gt", "fbms", tolerance=tolerance)
        assert result.overall["F_mean"] == 1.0


def test_bad_folders_and_files_are_one_line_errors_naming_them(tmp_path: Path) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_gt(gt, "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: prediction folder is empty"):
        evaluate_folders(tmp_path / "empty", gt, "fbms")
    with pytest.raises(InputError, match="empty: ground-truth folder holds no sequence folder"):
        evaluate_folders(gt, tmp_path / "empty", "fbms")
    with pytest.raises(InputError, match="missing: ground-truth folder does not exist"):
        evaluate_folders(gt, tmp_path / "missing", "fbms")
    with pytest.raises(InputError, match="00000.png: prediction path is not a folder"):
        evaluate_folders(gt / "a" / "00000.png", gt, "fbms")
    (pred / "a").mkdir(parents=True)
    for t in range(3):
        write_mask(pred / "a" / f"{t:05d}.png", gt_object(t).T)  # transposed: W x H
    with pytest.raises(InputError, match=r"a/00000.png: 32x24 \(HxW\) mask for a 24x32 ground"):
        evaluate_folders(pred, gt, "fbms")
    for t in range(3):
        small = cv2.resize(gt_object(t).astype(np.uint8), (W // 2, H // 2))
        write_mask(pred / "a" / f"{t:05d}.png", small)  # half size: resized, as before
    assert evaluate_folders(pred, gt, "fbms").frames_scored == 3
    (pred / "a" / "00001.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"pred/a/00001.png: cannot decode mask image"):
        evaluate_folders(pred, gt, "fbms")
    write_mask(pred / "a" / "00001.png", gt_object(1))
    cv2.imwrite(str(gt / "a" / "00002.png"), np.zeros((H + 2, W + 3), np.uint8))
    with pytest.raises(InputError, match=r"gt/a/00002.png: 26x35 \(HxW\): not the size of 00000"):
        evaluate_folders(pred, gt, "fbms", selection="greedy")


def test_background_first_moves_the_background_to_0_and_keeps_the_others_apart() -> None:
    labels = np.array([[0, 1, 2], [3, 1, 255]], np.uint8)
    out = background_first(labels, 1)
    assert out.tolist() == [[1, 0, 3], [4, 0, 256]] and labels[0, 1] == 1  # input unchanged
    assert background_first(labels[:, :2], 0).dtype == np.uint8
