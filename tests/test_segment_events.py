"""``motionlayers segment`` on event recordings: every output, window options, bad inputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motionlayers.cli.main import main
from motionlayers.errors import InputError
from motionlayers.events.recording import write_synthetic_recording
from motionlayers.io import read_events, read_mask, write_events
from motionlayers.methods.evlayerseg import EVLayerSegMethod, export_weights
from motionlayers.pipeline.segmentation import segment_source as segment_events
from motionlayers.pipeline.sources import is_event_input

W, H = 32, 24
TINY_NET = dict(width=4, depth=3, residual_blocks=1, flow_convs=1, hidden=[16], pool=2)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rec") / "scene"
    write_synthetic_recording(folder, seed=1, duration_s=0.04, fps_render=500, sensor_size=(W, H))
    return folder / "events.npz"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET, events_per_pixel=1.0)
    return export_weights(model, tmp_path_factory.mktemp("w") / "tiny.pt")


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "windows.csv") as handle:
        return list(csv.DictReader(handle))


def test_segment_writes_every_output(recording: Path, weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = segment_events(recording, out, checkpoint=weights, progress=False)
    events = read_events(recording)
    count = -(-len(events) // (W * H))  # default window: events_per_pixel (1) x W x H
    assert result.frames == count and result.layers == 2 and result.events == len(events)
    rows = _rows(out)
    assert [int(r["index"]) for r in rows] == list(range(count))
    assert sum(int(r["events"]) for r in rows) == len(events)
    assert all(int(r["t_start_us"]) < int(r["t_end_us"]) for r in rows)
    masks = sorted((out / "masks").glob("*.png"))
    assert [m.name for m in masks] == [f"{i:05d}.png" for i in range(count)]
    labels = read_mask(masks[0])
    assert labels.shape == (H, W) and labels.max() < 2
    motion = json.loads((out / "motion.json").read_text())
    assert motion["sensor_size"] == [W, H] and len(motion["frames"]) == count
    layer = motion["frames"][0]["layers"][0]
    assert np.asarray(layer["theta_px_per_s"]).shape == (2, 3)
    assert sum(lay["events"] for lay in motion["frames"][0]["layers"]) == int(rows[0]["events"])
    assert (out / "overlay.mp4").stat().st_size > 0
    assert "windows" in result.summary()


def test_cli_dispatches_event_files_and_duration_windows(
    recording: Path, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    text = tmp_path / "scene.txt"
    write_events(text, read_events(recording))
    assert is_event_input(text) and is_event_input(recording) and not is_event_input(tmp_path)
    out = tmp_path / "out"
    args = ["segment", str(text), "-o", str(out), "--checkpoint", str(weights)]
    assert main([*args, "--window-us", "10000", "--no-progress"]) == 0
    assert "segmented" in capsys.readouterr().out
    rows = _rows(out)
    assert all(int(r["t_end_us"]) - int(r["t_start_us"]) == 10000 for r in rows)
    assert len(list((out / "masks").glob("*.png"))) == len(rows)
    assert main([*args, "--window-events", "300", "--no-progress", "--layers", "2"]) == 0
    assert all(int(r["events"]) <= 300 for r in _rows(out))
    assert json.loads((out / "motion.json").read_text())["refine_iterations"] == 10
    refined = read_mask(out / "masks" / "00000.png")
    assert main([*args, "--window-events", "300", "--no-progress", "--refine", "0"]) == 0
    assert json.loads((out / "motion.json").read_text())["refine_iterations"] == 0
    assert read_mask(out / "masks" / "00000.png").shape == refined.shape


def test_bad_inputs_fail_clearly_and_leave_no_output(
    recording: Path, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    out = tmp_path / "out"
    base = ["-o", str(out), "--checkpoint", str(weights), "--no-progress"]
    assert main(["segment", str(tmp_path / "missing.npz"), *base]) == 1
    assert "missing.npz" in capsys.readouterr().err
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(recording.read_bytes()[: recording.stat().st_size // 2])
    with pytest.raises(InputError):
        segment_events(truncated, out, checkpoint=weights, progress=False)
    with pytest.raises(InputError, match="K=2"):
        segment_events(recording, out, checkpoint=weights, layers=3, progress=False)
    with pytest.raises(InputError, match="--refine"):
        segment_events(recording, out, checkpoint=weights, refine_iterations=-1)
    with pytest.raises(InputError, match="not both"):
        segment_events(recording, out, checkpoint=weights, window_us=10, window_events=10)
    with pytest.raises(InputError, match="em segments flow pairs, not an event recording"):
        segment_events(recording, out, method="em", progress=False)
    from motionlayers.methods import registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert main(["segment", str(recording), "-o", str(out), "--no-progress"]) == 1
    assert "no evlayerseg weights are installed" in capsys.readouterr().err
    assert not out.exists()


def test_a_stopped_event_run_resumes_where_it_stopped(
    recording: Path, weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows are kept as they finish: after a failure at the fourth window, the next run
    segments only the windows left and writes the same outputs as an uninterrupted run."""
    reference = tmp_path / "reference"
    segment_events(recording, reference, checkpoint=weights, window_events=200, progress=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    original = EVLayerSegMethod.segment_window
    calls: list[int] = []

    def failing(self, window, iterations):
        calls.append(len(window))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, window, iterations)

    monkeypatch.setattr(EVLayerSegMethod, "segment_window", failing)
    with pytest.raises(KeyboardInterrupt):
        segment_events(recording, out, checkpoint=weights, window_events=200, progress=False)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["notes.txt"]
    monkeypatch.setattr(EVLayerSegMethod, "segment_window", original)
    result = segment_events(recording, out, checkpoint=weights, window_events=200, progress=False)
    assert result.resumed == 3 and "resumed" in result.summary()
    for name in ("windows.csv", "motion.json"):
        expected = (reference / name).read_text().replace(str(reference), str(out))
        assert (out / name).read_text() == expected
    for mask in (reference / "masks").iterdir():
        np.testing.assert_array_equal(read_mask(out / "masks" / mask.name), read_mask(mask))
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".motionlayers-resume")]


_SEGMENT_THEN_HANG = """
import sys, time
from motionlayers.methods.evlayerseg import EVLayerSegMethod
from motionlayers.pipeline.segmentation import segment_source as segment_events
original = EVLayerSegMethod.segment_window
done = []
def slow(self, window, iterations):
    done.append(1)
    if len(done) == 4:
        print("three windows kept", flush=True)
        time.sleep(60)
    return original(self, window, iterations)
EVLayerSegMethod.segment_window = slow
segment_events(sys.argv[1], sys.argv[2], checkpoint=sys.argv[3], window_events=200,
               progress=False)
"""


def test_a_killed_event_run_resumes_where_it_stopped(
    recording: Path, weights: Path, tmp_path: Path
) -> None:
    """SIGKILL, which nothing can catch: the windows finished before it are kept on disk."""
    out = tmp_path / "out"
    argv = [sys.executable, "-c", _SEGMENT_THEN_HANG, str(recording), str(out), str(weights)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    assert child.stdout is not None and child.stdout.readline().strip() == "three windows kept"
    child.kill()
    child.wait(timeout=30)
    result = segment_events(recording, out, checkpoint=weights, window_events=200, progress=False)
    assert result.resumed == 3 and len(list((out / "masks").iterdir())) == result.frames
    assert not [p for p in out.iterdir() if p.name.startswith(".motionlayers-") and p.is_dir()]


def test_the_python_api_segments_events_through_the_same_path(
    recording: Path, weights: Path, tmp_path: Path
) -> None:
    import motionlayers

    common = dict(checkpoint=weights, window_events=200, refine_iterations=0, progress=False)
    seg = motionlayers.segment(recording, **common)
    assert seg.labels.shape[1:] == (H, W) and seg.windows is not None
    assert seg.windows.shape == (len(seg), 3) and seg.windows[:, 2].sum() == len(
        read_events(recording)
    )
    assert (seg.background == 0).all() and seg.theta.shape[1:] == (2, 2, 3)
    segment_events(recording, tmp_path / "out", **common)
    for t, stem in enumerate(seg.stems):
        assert (read_mask(tmp_path / "out" / "masks" / f"{stem}.png") == seg.labels[t]).all()
    assert (tmp_path / "out" / "foreground" / "00000.png").is_file()
    for option, value in (("size", (32, 32)), ("snap_radius", 0.1), ("flow_backend", "dis-fast")):
        with pytest.raises(InputError, match="does not apply to an event recording"):
            motionlayers.segment(recording, **common, **{option: value})
