"""Layered scenes: exact labels and flows, seeded determinism, the recording writer and CLI."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from motionlayers.cli import main as cli_main
from motionlayers.cli.synth_events import register_events
from motionlayers.errors import InputError
from motionlayers.events.recording import write_synthetic_recording
from motionlayers.events.scenes import (
    LayeredScene,
    SceneLayer,
    random_scene,
    simulate_scene,
    smooth_texture,
)
from motionlayers.io import read_events, read_mask

W, H = 48, 32


def disk_scene() -> LayeredScene:
    """Background with an affine motion; a disk of radius 6 at (15, 12) translating (80, 40)."""
    rng = np.random.default_rng(0)
    background = np.array([[10.0, 4.0, -6.0], [-5.0, 2.0, 3.0]])
    disk = np.array([[80.0, 0.0, 0.0], [40.0, 0.0, 0.0]])
    return LayeredScene(
        [
            SceneLayer(smooth_texture(rng, 64, 96, 2.0, 0.1, 0.5), background),
            SceneLayer(smooth_texture(rng, 32, 32, 2.0, 0.6, 1.0), disk, (15.0, 12.0), 6.0),
        ],
        (W, H),
    )


def background_velocity() -> tuple[np.ndarray, np.ndarray]:
    """(u, v) ``(H, W)`` of the background of `disk_scene`, from the normalised model."""
    ys, xs = np.mgrid[0:H, 0:W]
    xn, yn = (2 * xs + 1) / W - 1, (2 * ys + 1) / H - 1
    return 10.0 + 4.0 * xn - 6.0 * yn, -5.0 + 2.0 * xn + 3.0 * yn


def test_labels_follow_the_exact_translation() -> None:
    scene = disk_scene()
    ys, xs = np.mgrid[0:H, 0:W]
    for t_us in (0, 25_000, 100_000):
        cx, cy = 15.0 + 80.0 * t_us * 1e-6, 12.0 + 40.0 * t_us * 1e-6
        expected = (np.hypot(xs - cx, ys - cy) < 6.0).astype(np.int64)
        np.testing.assert_array_equal(scene.labels_at(t_us), expected)


def test_flow_is_the_visible_layer_velocity() -> None:
    scene = disk_scene()
    labels, flow = scene.labels_at(50_000), scene.flow_at(50_000)
    assert flow.shape == (2, H, W) and flow.dtype == np.float32
    disk = flow[:, labels == 1]
    assert disk.shape[1] > 50
    np.testing.assert_array_equal(disk, np.broadcast_to([[80.0], [40.0]], disk.shape))
    u, v = background_velocity()
    background = labels == 0
    np.testing.assert_allclose(flow[0][background], u[background], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(flow[1][background], v[background], rtol=1e-5, atol=1e-4)


def test_integration_follows_the_velocity_field() -> None:
    # Where a background point seen at pixel p was dt earlier: p - dt v(p) to first order.
    scene = disk_scene()
    dt_us = 100.0
    x0, y0 = scene.source_points(0, dt_us)
    u, v = background_velocity()
    ys, xs = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose((xs - x0) / (dt_us * 1e-6), u, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose((ys - y0) / (dt_us * 1e-6), v, rtol=1e-3, atol=1e-2)
    # The disk (pure translation) moves exactly by t v.
    x1, y1 = scene.source_points(1, 50_000)
    np.testing.assert_allclose(xs - x1, 4.0, atol=1e-9)
    np.testing.assert_allclose(ys - y1, 2.0, atol=1e-9)


def test_frames_composite_by_depth() -> None:
    scene = disk_scene()
    frame, labels = scene.frame_at(10_000), scene.labels_at(10_000)
    assert frame.shape == (H, W) and frame.dtype == np.float32
    assert frame[labels == 1].min() >= 0.6 - 1e-6  # the disk's texture range
    assert frame[labels == 0].max() <= 0.5 + 1e-6


def test_simulate_scene_is_deterministic_by_seed() -> None:
    a = simulate_scene(3, 0.02, 500, (W, H), objects=2)
    b = simulate_scene(3, 0.02, 500, (W, H), objects=2)
    c = simulate_scene(4, 0.02, 500, (W, H), objects=2)
    for name in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(getattr(a[0], name), getattr(b[0], name))
    assert a[3] == b[3] and a[3] != c[3]
    np.testing.assert_array_equal(a[1](10_000), b[1](10_000))
    np.testing.assert_array_equal(a[2](10_000), b[2](10_000))
    events, labels_at, flow_at, meta = a
    assert len(events) > 0 and events.sensor_size == (W, H)
    assert meta["duration_us"] == 20_000 and len(meta["layers"]) == 3
    assert np.asarray(meta["layers"][1]["theta"]).shape == (2, 3)
    assert labels_at(0).max() <= 2 and flow_at(0).shape == (2, H, W)


def test_random_scene_validates() -> None:
    with pytest.raises(InputError):
        random_scene(0, (W, H), objects=9)
    with pytest.raises(InputError):
        simulate_scene(0, duration_s=0.0)
    with pytest.raises(InputError):
        LayeredScene([], (W, H))


def test_writer_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    meta = write_synthetic_recording(
        out,
        seed=5,
        duration_s=0.02,
        fps_render=500,
        sensor_size=(W, H),
        objects=1,
        label_interval_us=5000,
    )
    events, labels_at, _, _ = simulate_scene(5, 0.02, 500, (W, H), 1)
    back = read_events(out / "events.npz")
    np.testing.assert_array_equal(back.t, events.t)
    np.testing.assert_array_equal(back.x, events.x)
    assert back.sensor_size == (W, H)
    assert meta["label_times_us"] == [5000, 10000, 15000, 20000]
    for index, t_us in enumerate(meta["label_times_us"]):
        np.testing.assert_array_equal(
            read_mask(out / "labels" / f"{index:05d}.png"), labels_at(t_us)
        )
    on_disk = json.loads((out / "meta.json").read_text())
    assert on_disk == meta and on_disk["layers"][0]["kind"] == "background"


def test_cli_sub_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="motionlayers")
    synth = parser.add_subparsers(dest="command").add_parser("synth")
    register_events(synth.add_subparsers(dest="kind"))
    out = tmp_path / "many"
    args = parser.parse_args(
        [
            "synth",
            "events",
            "-o",
            str(out),
            "--count",
            "2",
            "--seed",
            "1",
            "--sensor-size",
            "40x30",
            "--duration-ms",
            "10",
            "--fps",
            "400",
        ]
    )
    assert args.func(args) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["00000", "00001"]
    metas = [json.loads((out / name / "meta.json").read_text()) for name in ("00000", "00001")]
    assert [m["seed"] for m in metas] == [1, 2] and metas[0]["sensor_size"] == [40, 30]
    assert "2 recording(s)" in capsys.readouterr().out
    bad = parser.parse_args(["synth", "events", "-o", str(out), "--count", "0"])
    with pytest.raises(InputError):
        bad.func(bad)


def test_real_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    present = tuple(
        name
        for name in cli_main.COMMAND_MODULES
        if importlib.util.find_spec(f"motionlayers.cli.{name}") is not None
    )
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", present)
    if "synth" not in present:
        pytest.skip("motionlayers.cli.synth is not there yet")
    out = tmp_path / "one"
    argv = ["synth", "events", "-o", str(out), "--sensor-size", "32x24", "--duration-ms", "5"]
    assert cli_main.main(argv) == 0
    assert (out / "00000" / "events.npz").is_file()
    assert cli_main.main([*argv[:4], "--objects", "9"]) == 1  # a clear error, not a traceback
