"""``motionlayers evaluate`` through the real entry point: table, files, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.cli import main as cli_main
from motionlayers.io.masks import write_mask


@pytest.fixture(autouse=True)
def only_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only this command, so the test does not depend on the other subcommands."""
    assert "evaluate" in cli_main.COMMAND_MODULES
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("evaluate",))


def make_split(root: Path, frames: int = 4, drop: tuple[int, ...] = ()) -> None:
    for seq in ("cat", "dog"):
        (root / "gt" / seq).mkdir(parents=True)
        (root / "pred" / seq).mkdir(parents=True)
        for t in range(frames):
            gt = np.zeros((30, 40), np.uint8)
            gt[5:15, 5 + t : 15 + t] = 255
            cv2.imwrite(str(root / "gt" / seq / f"{t:05d}.png"), gt)
            if t not in drop:
                write_mask(root / "pred" / seq / f"{t:05d}.png", (gt > 0).astype(np.uint8) * 2)


def test_evaluate_prints_table_and_writes_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_split(tmp_path, drop=(3,))  # the last frame is not scored by davis16
    out = tmp_path / "results"
    code = cli_main.main(
        [
            "evaluate",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--protocol",
            "davis16",
            "-o",
            str(out),
            "--workers",
            "2",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0
    assert "except the first and the last" in printed.out
    assert "cat" in printed.out and "dog" in printed.out and "Overall" in printed.out
    assert "JF_mean = 1.000" in printed.out
    assert "per_frame.csv" in printed.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_scored"] == 4 and summary["frames_skipped"] == 4
    assert summary["selection"]["uses_ground_truth"] is False
    assert summary["overall"]["J_mean"] == 1.0
    lines = (out / "per_frame.csv").read_text().splitlines()
    assert lines[0] == "sequence,frame,J,F" and lines[1].startswith("cat,00001,1.0")
    assert (out / "per_sequence.csv").read_text().startswith("sequence,frames,J_mean")


def test_missing_frames_exit_1_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_split(tmp_path, drop=(3,))
    code = cli_main.main(
        [
            "evaluate",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--protocol",
            "fbms",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "motionlayers evaluate: error:" in err and "cat/00003, dog/00003" in err
    assert not (tmp_path / "out").exists()


def test_selection_option_and_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_split(tmp_path)
    code = cli_main.main(
        [
            "evaluate",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--protocol",
            "segtrack",
            "--selection",
            "exhaustive",
            "--cut",
            "2",
        ]
    )
    assert code == 0
    assert "uses ground truth: yes" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["evaluate", "a", "b", "--protocol", "davis2000"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        cli_main.main(["evaluate", "a", "b"])  # --protocol is required
