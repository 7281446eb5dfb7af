"""``motionlayers synth flow`` and ``motionlayers demo`` via the real entry point; viz panels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motionlayers.cli import main as cli_main
from motionlayers.io import DAVIS_PALETTE, read_image, read_mask
from motionlayers.viz import color_flow, color_labels, side_by_side

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _only_our_commands(monkeypatch):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("demo", "synth"))


def test_synth_flow_writes_davis_layout(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = [
        "synth",
        "flow",
        "-o",
        str(out),
        "--count",
        "2",
        "--layers",
        "3",
        "--seed",
        "5",
        "--frame-size",
        "48x32",
        "--frames",
        "2",
        "--no-progress",
    ]
    assert cli_main.main(argv) == 0
    assert str(out) in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 5 and meta["mode"] == "flow" and len(meta["sequences"]) == 2
    assert len(list((out / "Flows").glob("*/*.flo"))) == 4
    masks = sorted((out / "Annotations").glob("*/*.png"))
    assert len(masks) == 4 and read_mask(masks[0]).shape == (32, 48)
    assert not (out / "JPEGImages").exists()


def test_synth_flow_frames_mode(tmp_path):
    out = tmp_path / "frames"
    argv = [
        "synth",
        "flow",
        "-o",
        str(out),
        "--count",
        "1",
        "--frame-size",
        "48x32",
        "--mode",
        "frames",
        "--no-progress",
    ]
    assert cli_main.main(argv) == 0
    assert len(list((out / "JPEGImages" / "synth0000").glob("*.jpg"))) == 2


def test_synth_errors_and_help(tmp_path, capsys):
    bad = ["synth", "flow", "-o", str(tmp_path / "x"), "--size", "big", "--no-progress"]
    assert cli_main.main(bad) == 1
    assert "--size" in capsys.readouterr().err
    assert cli_main.main(["synth"]) == 2
    assert not (tmp_path / "x").exists()


def test_demo_writes_panels(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli_main.main(["demo", "-o", str(out), "--count", "2", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    panels = sorted(out.glob("*.png"))
    assert [p.name for p in panels] == ["demo00.png", "demo01.png"]
    assert str(panels[0]) in printed
    height, width, _ = read_image(panels[0]).shape
    assert height > 128 and width > 4 * 224  # caption band; frame, DIS, exact flow, labels


def test_viz_panels():
    labels = np.array([[0, 1], [2, 3]])
    np.testing.assert_array_equal(color_labels(labels), DAVIS_PALETTE[labels])
    flow = np.zeros((2, 3, 4), dtype=np.float32)
    flow[0] = 1.0
    assert color_flow(flow).shape == (3, 4, 3)
    np.testing.assert_array_equal(color_flow(flow), color_flow(flow.transpose(1, 2, 0)))
    panel = side_by_side([np.zeros((4, 3, 3), np.uint8), np.zeros((4, 5), np.uint8)], gap=2)
    assert panel.shape == (4, 10, 3)
    assert side_by_side([np.zeros((4, 3, 3), np.uint8)], ["a"]).shape[0] == 4 + 18
