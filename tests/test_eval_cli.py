"""``motionlayers evaluate`` in-process (`motionlayers.cli.main.main`) on segment outputs of a
folder of sequences, subsets of sequences and bad values: a score or one clear line, exit 1."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from tests.test_eval_predictions import camel_labels, gt_object, write_gt, write_segment_output

from motionlayers.cli import main as cli_main
from motionlayers.eval.contours import MAX_TOLERANCE_FRACTION, MAX_TOLERANCE_PIXELS
from motionlayers.eval.regions import jaccard
from motionlayers.eval.runner import MAX_WORKERS


@pytest.fixture(autouse=True)
def only_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register only this command, so the test does not depend on the other subcommands."""
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("evaluate",))


def evaluate(*args: str | Path) -> int:
    return cli_main.main(["evaluate", *(str(a) for a in args)])


def segment_folder_of_sequences(root: Path) -> None:
    """What ``segment`` writes for a folder of sequences: OUT/<seq>/masks + OUT/<seq>/motion.json
    (camel with its background as label 1, an old output; dog with the background as label 0)."""
    write_segment_output(root / "camel", [camel_labels(t) for t in range(3)], [1, 1, 1])
    write_segment_output(root / "dog", [camel_labels(t, 0) for t in range(3)], [0, 0, 0])
    for seq in ("camel", "dog"):  # the rest of a segment output is not read
        (root / seq / "foreground").mkdir()
        (root / seq / "overlay.mp4").write_bytes(b"")


def test_segment_output_of_a_folder_of_sequences_is_scored_as_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for seq in ("camel", "dog"):
        write_gt(tmp_path / "gt", seq)
    segment_folder_of_sequences(tmp_path / "out")
    report = tmp_path / "report"
    assert evaluate(tmp_path / "out", tmp_path / "gt", "--protocol", "fbms", "-o", report) == 0
    printed = capsys.readouterr().out
    assert "predicted background: each frame's background layer, from motion.json" in printed
    camel = np.mean([float(jaccard(camel_labels(t) != 1, gt_object(t))) for t in range(3)])
    dog = np.mean([float(jaccard(camel_labels(t, 0) != 0, gt_object(t))) for t in range(3)])
    summary = json.loads((report / "summary.json").read_text())
    assert summary["overall"]["J_mean"] == pytest.approx((camel + dog) / 2)
    assert camel > 0.5 and summary["settings"]["background"] == "motion.json"


def test_sequences_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for seq in ("bear", "camel", "dog"):
        write_gt(tmp_path / "gt", seq)
    segment_folder_of_sequences(tmp_path / "out")
    args = (tmp_path / "out", tmp_path / "gt", "--protocol", "davis16")
    assert evaluate(*args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no prediction for 1 of the 3 ground-truth sequences: bear (--sequences" in err
    assert evaluate(*args, "--sequences", "camel,dog") == 0
    out = capsys.readouterr().out
    assert "2 sequences, 2 frames scored" in out and "bear" not in out
    assert evaluate(*args, "--sequences", "camel,zebra") == 1
    assert "no ground-truth sequence zebra" in capsys.readouterr().err
    assert evaluate(tmp_path / "out" / "camel", tmp_path / "gt", "--protocol", "davis16") == 1
    assert "segment output of one sequence" in capsys.readouterr().err
    camel_only = (tmp_path / "out" / "camel" / "masks", tmp_path / "gt", "--sequences", "camel")
    assert evaluate(*camel_only, "--protocol", "davis16") == 0
    out = capsys.readouterr().out
    assert "1 sequences, 1 frames scored" in out
    assert re.search(rf"\nOverall +1 +{64 / 90:.3f} ", out)


def test_mismatched_motion_json_exits_1_without_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_gt(tmp_path / "gt", "camel")
    frames = [np.maximum(camel_labels(t), 1) for t in range(3)]  # no label 0 any more
    write_segment_output(tmp_path / "out" / "camel", frames, [0, 0, 0])
    report = tmp_path / "report"
    assert evaluate(tmp_path / "out", tmp_path / "gt", "--protocol", "fbms", "-o", report) == 1
    err = capsys.readouterr().err
    assert err.startswith("motionlayers evaluate: error: ") and err.count("\n") == 1
    assert "motion.json: its background label (0) appears in none of the 3 scored masks" in err
    assert not report.exists()


@pytest.mark.parametrize(
    "option",
    [
        ("--tolerance", "nan"),
        ("--tolerance", "-1"),
        ("--tolerance", "inf"),
        ("--tolerance", "0.5"),
        ("--cut", "0"),
        ("--workers", "0"),
        ("--workers", "-1"),
        ("--sequences", ""),
        ("--sequences", "camel,,dog"),
    ],
)
def test_bad_values_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: tuple[str, str]
) -> None:
    write_gt(tmp_path / "gt", "camel")
    write_gt(tmp_path / "pred", "camel")
    report = tmp_path / "report"
    code = evaluate(tmp_path / "pred", tmp_path / "gt", "--protocol", "fbms", "-o", report, *option)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {option[0].lstrip('-')}: " in err
    assert not report.exists()


def test_help_states_the_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"at most {MAX_TOLERANCE_FRACTION}" in text and f"at most {MAX_TOLERANCE_PIXELS}" in text
    assert f"1 to {MAX_WORKERS}" in text
    assert "--sequences" in text and "motion.json" in text
