"""``motionlayers flow``: through the real entry point, on a tiny video and a frames folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.cli import main as cli_main
from motionlayers.io import read_flow


@pytest.fixture(autouse=True)
def present_commands(monkeypatch):
    """Register only the subcommand modules that exist yet (others are written in parallel)."""
    present = tuple(
        name
        for name in cli_main.COMMAND_MODULES
        if importlib.util.find_spec(f"motionlayers.cli.{name}") is not None
    )
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", present)


def frames(count: int = 3, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """A smooth texture drifting right by 2 px per frame, ``(H, W, 3)`` uint8 BGR."""
    noise = np.random.default_rng(0).random((height, width + 2 * count, 3)).astype(np.float32)
    big = (cv2.GaussianBlur(noise, (0, 0), 2.0) * 255).astype(np.uint8)
    return [np.ascontiguousarray(big[:, 2 * count - 2 * t :][:, :width]) for t in range(count)]


def write_video(path: Path, images: list[np.ndarray]) -> Path:
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for image in images:
        writer.write(image)
    writer.release()
    return path


def run(*args: object) -> int:
    return cli_main.main(["flow", *map(str, args), "--no-progress"])


def test_video_to_flo(tmp_path, capsys):
    video = write_video(tmp_path / "clip.avi", frames(3))
    assert run(video, "-o", tmp_path / "out") == 0
    out = tmp_path / "out"
    assert sorted(visible(out)) == ["00000.flo", "00001.flo", "color"]
    assert sorted(p.name for p in (out / "color").iterdir()) == ["00000.png", "00001.png"]
    flow = read_flow(out / "00000.flo")
    assert flow.shape == (48, 64, 2)
    assert abs(float(np.median(flow[8:-8, 8:-8, 0])) - 2) < 0.3
    color = cv2.imread(str(out / "color" / "00000.png"))
    assert color.shape == (48, 64, 3)
    assert "wrote 2 flow files" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_folder_with_size_and_format(tmp_path, fmt):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(frames(3)):
        cv2.imwrite(str(folder / f"img_{index:03d}.png"), image)
    args = ["--working-size", "32x24", "--format", fmt, "--flow", "dis-fast"]
    assert run(folder, "-o", tmp_path / "out", *args) == 0
    names = sorted(visible(tmp_path / "out"))
    assert names == ["color", f"img_000.{fmt}", f"img_001.{fmt}"]
    assert read_flow(tmp_path / "out" / f"img_000.{fmt}").shape == (24, 32, 2)


def test_replaces_its_own_previous_output_and_keeps_the_users_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert run(write_video(tmp_path / "long.avi", frames(3)), "-o", tmp_path / "out") == 0
    assert run(write_video(tmp_path / "clip.avi", frames(2)), "-o", tmp_path / "out") == 0
    assert sorted(visible(tmp_path / "out")) == ["00000.flo", "color", "notes.txt"]
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_precomputed_backend_converts(tmp_path):
    video = write_video(tmp_path / "clip.avi", frames(3))
    assert run(video, "-o", tmp_path / "flo") == 0
    assert (
        run(
            video,
            "-o",
            tmp_path / "npy",
            "--flow",
            f"precomputed:{tmp_path / 'flo'}",
            "--format",
            "npy",
        )
        == 0
    )
    np.testing.assert_array_equal(
        read_flow(tmp_path / "npy" / "00001.npy"), read_flow(tmp_path / "flo" / "00001.flo")
    )


def empty_video(tmp_path: Path) -> Path:
    path = tmp_path / "empty.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24)).release()
    return path


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda tmp: tmp / "missing.mp4", [], "does not exist"),
        (empty_video, [], "no frames"),
        (lambda tmp: write_video(tmp / "one.avi", frames(1)), [], "at least two frames"),
        (lambda tmp: write_video(tmp / "v.avi", frames(2)), ["--size", "big"], "expected HxW"),
        (lambda tmp: write_video(tmp / "v.avi", frames(2)), ["--flow", "x"], "valid: dis-fast"),
    ],
)
def test_bad_input_exit_1_and_no_output(tmp_path, capsys, make_input, extra, message):
    source = make_input(tmp_path)
    assert run(source, "-o", tmp_path / "out", *extra) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def visible(folder):
    return [p.name for p in folder.iterdir() if not p.name.startswith(".")]


def test_refuses_to_replace_its_input(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(frames(2)):
        cv2.imwrite(str(folder / f"{index}.png"), image)
    assert run(folder, "-o", folder) == 1
    assert "the output folder is the input" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["0.png", "1.png"]
