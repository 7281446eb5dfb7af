"""What ``motionlayers segment`` writes and what it must never touch: the user's files, the
input, the previous outputs of an interrupted run; label 0 is the background; the overlay is
H.264 at the source's frame rate; a folder of sequences gives one output per sequence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from tests.test_segment import synthetic_frames, write_video

from motionlayers import __version__
from motionlayers.cli.main import main
from motionlayers.io import read_mask
from motionlayers.io.atomic import MANIFEST, STAGE_PREFIX
from motionlayers.pipeline import segment_source
from motionlayers.pipeline.sources import FOLDER_FPS as FRAME_FOLDER_FPS
from motionlayers.pipeline.stream import background_first_order

FAST = ["--method", "robust-layers", "--layers", "3", "--working-size", "32x24", "--no-progress"]


def write_frames(folder: Path, frames: int = 4) -> Path:
    folder.mkdir(parents=True)
    for t, image in enumerate(synthetic_frames(frames)):
        cv2.imwrite(str(folder / f"{t:05d}.png"), image)
    return folder


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_background_first_puts_each_frames_background_at_label_zero() -> None:
    order = background_first_order(torch.tensor([0, 2, 1]), 3)
    assert order.tolist() == [[0, 1, 2], [2, 0, 1], [1, 0, 2]]


def test_segment_keeps_the_users_files_in_the_output_folder(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "frames")
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis_draft.txt").write_text("years of work")
    for _ in range(2):  # and a second run replaces only what the first wrote
        assert main(["segment", str(frames), "-o", str(out), *FAST]) == 0
    assert (out / "thesis_draft.txt").read_text() == "years of work"
    names = {p.name for p in out.iterdir()}
    assert names == {"thesis_draft.txt", MANIFEST, "masks", "foreground", "flow"} | {
        "overlay.mp4",
        "motion.json",
        "motion.png",
    }


@pytest.mark.parametrize("output", ["{frames}", "{root}", "{frames}/out", "."])
def test_segment_refuses_an_output_that_is_contains_or_lies_inside_the_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, output: str
) -> None:
    root = tmp_path / "project"
    frames = write_frames(root / "data")
    monkeypatch.chdir(root)
    before = tree(tmp_path)
    target = output.format(frames=frames, root=root)
    assert main(["segment", str(frames), "-o", target, *FAST]) != 0
    error = capsys.readouterr().err.strip()
    assert "input" in error and "\n" not in error
    assert tree(tmp_path) == before


def test_segment_refuses_to_replace_a_folder_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    frames = write_frames(tmp_path / "frames")
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "my_annotation.png").write_bytes(b"mine")
    assert main(["segment", str(frames), "-o", str(out), *FAST]) == 1
    assert "not written by motionlayers" in capsys.readouterr().err
    assert tree(out) == {"masks/my_annotation.png": b"mine"}


_SEGMENT_SLOWLY = """
import sys, time
import motionlayers.pipeline.segmentation as segment
from motionlayers.cli.main import main
original = segment._write
def slow(*args, **kwargs):
    size = original(*args, **kwargs)
    print("written", flush=True)
    time.sleep(60)
    return size
segment._write = slow
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_segment_keeps_the_previous_outputs(tmp_path: Path, sig: int) -> None:
    frames = write_frames(tmp_path / "frames")
    out = tmp_path / "out"
    assert main(["segment", str(frames), "-o", str(out), *FAST]) == 0
    before = tree(out)
    command = [sys.executable, "-c", _SEGMENT_SLOWLY, "segment", str(frames), "-o", str(out)]
    child = subprocess.Popen(
        [*command, *FAST, "--colour-weight", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "written", child.communicate()[1]
    child.send_signal(sig)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode != 0
    if sig != signal.SIGKILL:
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
        assert not [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
    outputs = {k: v for k, v in tree(out).items() if not k.startswith(STAGE_PREFIX)}
    assert outputs == before  # what a SIGKILL leaves is only its staging folder
    # the next run removes what a SIGKILL left behind and replaces the outputs
    assert main(["segment", str(frames), "-o", str(out), *FAST, "--colour-weight", "0"]) == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".motionlayers-stage")]
    assert tree(out) != before


def test_masks_put_the_background_at_label_zero_and_motion_json_says_so(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi")
    segment_source(
        video, tmp_path / "out", method="robust-layers", layers=3, size=(24, 32), progress=False
    )
    record = json.loads((tmp_path / "out" / "motion.json").read_text())
    assert {frame["background"] for frame in record["frames"]} == {0}
    assert record["motionlayers_version"] == __version__ and record["checkpoint"] == "shipped"
    assert record["flow_backend"] == "dis-medium" and "pixels" in record["theta_units"]
    for frame in record["frames"]:
        labels = read_mask(tmp_path / "out" / "masks" / f"{frame['stem']}.png")
        foreground = cv2.imread(
            str(tmp_path / "out" / "foreground" / f"{frame['stem']}.png"), cv2.IMREAD_GRAYSCALE
        )
        np.testing.assert_array_equal(foreground > 0, labels != 0)
        # the background is the layer that touches the border most (the panning texture)
        border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        assert np.bincount(border).argmax() == 0


def test_overlay_is_h264_at_the_sources_frame_rate(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "frames")
    for fps, expected in ((None, FRAME_FOLDER_FPS), (12.5, 12.5)):
        out = tmp_path / f"out{fps}"
        segment_source(
            frames, out, method="robust-layers", layers=2, size=(24, 32), progress=False, fps=fps
        )
        with av.open(str(out / "overlay.mp4")) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert float(stream.average_rate) == pytest.approx(expected)
            assert (stream.width, stream.height) == (64, 48)
            assert sum(1 for _ in container.decode(stream)) == 4
        assert json.loads((out / "motion.json").read_text())["fps"] == pytest.approx(expected)


def test_segment_on_a_folder_of_sequences_writes_one_output_per_sequence(tmp_path: Path) -> None:
    root = tmp_path / "JPEGImages" / "480p"
    for name in ("bear", "camel"):
        write_frames(root / name, frames=3)
    out = tmp_path / "pred"
    assert main(["segment", str(root), "-o", str(out), *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bear", "camel"]
    for name in ("bear", "camel"):
        assert sorted(p.name for p in (out / name / "masks").iterdir()) == [
            "00000.png",
            "00001.png",
            "00002.png",
        ]
        assert os.path.isfile(out / name / "motion.json")


def test_evaluate_scores_what_segment_wrote_for_a_folder_of_sequences(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The two squares of `synthetic_frames` are the ground truth; what segment writes for a
    folder of sequences is scored with no extra step, each frame's background read from
    motion.json."""
    root = tmp_path / "JPEGImages"
    gt = tmp_path / "Annotations"
    for name in ("bear", "camel"):
        write_frames(root / name, frames=3)
        (gt / name).mkdir(parents=True)
        for t in range(3):
            mask = np.zeros((48, 64), np.uint8)
            mask[10:24, 6 + 3 * t : 20 + 3 * t] = 255
            mask[28:40, 46 - 3 * t : 58 - 3 * t] = 255
            cv2.imwrite(str(gt / name / f"{t:05d}.png"), mask)
    pred = tmp_path / "pred"
    assert main(["segment", str(root), "-o", str(pred), *FAST]) == 0
    capsys.readouterr()
    scores = tmp_path / "scores"
    assert main(["evaluate", str(pred), str(gt), "--protocol", "davis16", "-o", str(scores)]) == 0
    summary = json.loads((tmp_path / "scores" / "summary.json").read_text())
    assert summary["settings"]["background"] == "motion.json" and summary["sequences"] == 2
    assert summary["overall"]["J_mean"] > 0.4  # the squares are found (0.66 measured)
