"""The segmentation pipeline and ``motionlayers segment`` on tiny synthetic videos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from motionlayers.cli.main import main
from motionlayers.defaults import DEFAULT_METHOD
from motionlayers.errors import InputError
from motionlayers.io import read_mask
from motionlayers.methods.em import EMMethod, export_weights
from motionlayers.methods.registry import (
    METHODS,
    MethodEntry,
    get_method,
    register_method,
    unregister_method,
)
from motionlayers.pipeline import segment_source

HEIGHT, WIDTH, FRAMES = 48, 64, 5
FAST_EM = {"initialisations": 2, "iterations": 4, "irls": 2}


@pytest.fixture(autouse=True)
def _few_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def synthetic_frames(frames: int = FRAMES) -> list[np.ndarray]:
    """Two textured squares moving in opposite directions over a textured, panning background."""
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(
        rng.integers(0, 255, (HEIGHT + 20, WIDTH, 3), dtype=np.uint8), (0, 0), 1.5
    )
    tex1 = cv2.GaussianBlur(rng.integers(0, 255, (14, 14, 3), dtype=np.uint8), (0, 0), 1.0)
    tex2 = cv2.GaussianBlur(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8), (0, 0), 1.0)
    images = []
    for t in range(frames):
        image = bg[10 - t : 10 - t + HEIGHT].copy()
        image[10:24, 6 + 3 * t : 20 + 3 * t] = tex1
        image[28:40, 46 - 3 * t : 58 - 3 * t] = tex2
        images.append(image)
    return images


def write_video(path: Path, frames: int = FRAMES) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (WIDTH, HEIGHT))
    for image in synthetic_frames(frames):
        writer.write(image)
    writer.release()
    return path


def check_outputs(out: Path, stems: list[str], size: tuple[int, int], layers: int) -> None:
    for folder in ("masks", "foreground", "flow"):
        assert sorted(p.stem for p in (out / folder).iterdir()) == stems
    for stem in stems:
        labels = read_mask(out / "masks" / f"{stem}.png")
        assert labels.shape == size and labels.max() < layers
        foreground = cv2.imread(str(out / "foreground" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        assert foreground.shape == size and set(np.unique(foreground)) <= {0, 255}
    capture = cv2.VideoCapture(str(out / "overlay.mp4"))
    ok, frame = capture.read()
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert ok and frame.shape[:2] == size and count == len(stems)
    record = json.loads((out / "motion.json").read_text())
    assert [f["stem"] for f in record["frames"]] == stems
    first = record["frames"][0]
    assert len(first["layers"]) == layers and np.shape(first["layers"][0]["theta"]) == (2, 6)
    assert abs(sum(layer["area"] for layer in first["layers"]) - 1) < 1e-5
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folder


def test_segment_video_writes_every_output(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi")
    result = segment_source(
        video,
        tmp_path / "out",
        method="classical-em",
        layers=3,
        size=(24, 32),
        progress=False,
        **FAST_EM,
    )
    stems = [f"{t:05d}" for t in range(FRAMES)]
    check_outputs(tmp_path / "out", stems, (HEIGHT, WIDTH), 3)
    assert result.frames == FRAMES and "segmented 5 frames" in result.summary()
    record = json.loads((tmp_path / "out" / "motion.json").read_text())
    assert record["snap_radius"] == pytest.approx(0.1) and record["temporal_radius"] == 1
    assert record["colour_weight"] == pytest.approx(0.5)
    assert record["border_limit"] == pytest.approx(1.0) and record["hole_fraction"] == 0.2


def test_snapping_changes_only_boundaries_and_can_be_switched_off(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi")
    common = dict(method="robust-layers", layers=3, size=(24, 32), progress=False)
    segment_source(video, tmp_path / "plain", snap_radius=0.0, **common)  # type: ignore[arg-type]
    segment_source(video, tmp_path / "snap", snap_radius=0.1, **common)  # type: ignore[arg-type]
    plain = read_mask(tmp_path / "plain" / "masks" / "00002.png")
    snapped = read_mask(tmp_path / "snap" / "masks" / "00002.png")
    assert 0.6 < (plain == snapped).mean() < 1.0  # boundaries move, layers stay
    assert json.loads((tmp_path / "plain" / "motion.json").read_text())["snap_radius"] == 0.0
    with pytest.raises(InputError, match="snap.radius"):
        segment_source(video, tmp_path / "bad", snap_radius=2.0, **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="temporal.radius"):
        segment_source(video, tmp_path / "bad", temporal_radius=-1, **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="colour.weight"):
        segment_source(video, tmp_path / "bad", colour_weight=-1, **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="border.limit"):
        segment_source(video, tmp_path / "bad", border_limit=-1, **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="hole.fraction"):
        segment_source(video, tmp_path / "bad", hole_fraction=2, **common)  # type: ignore[arg-type]
    assert not (tmp_path / "bad").exists()


def test_segment_frames_folder_through_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, image in enumerate(synthetic_frames()):
        cv2.imwrite(str(folder / f"im{t}.png"), image)
    code = main(
        [
            "segment",
            str(folder),
            "-o",
            str(tmp_path / "out"),
            "--method",
            "robust-layers",
            "--layers",
            "3",
            "--working-size",
            "32x24",
            "--foreground-rule",
            "largest",
            "--colour-weight",
            "0",
            "--border-limit",
            "0",
            "--hole-fraction",
            "0.5",
            "--no-progress",
        ]
    )
    assert code == 0 and "segmented 5 frames" in capsys.readouterr().out
    check_outputs(tmp_path / "out", [f"im{t}" for t in range(FRAMES)], (HEIGHT, WIDTH), 3)
    record = json.loads((tmp_path / "out" / "motion.json").read_text())
    assert record["colour_weight"] == 0.0 and record["border_limit"] == 0.0
    assert record["hole_fraction"] == 0.5


def test_segment_with_a_trained_network_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    weights = export_weights(EMMethod(layers=3, net={"depth": 2, "width": 4}), tmp_path / "k3.pt")
    video = write_video(tmp_path / "clip.avi")
    args = ["segment", str(video), "-o", str(tmp_path / "out"), "--working-size", "32x24"]
    assert main([*args, "--checkpoint", str(weights), "--no-progress"]) == 0
    assert "with em" in capsys.readouterr().out
    check_outputs(tmp_path / "out", [f"{t:05d}" for t in range(FRAMES)], (HEIGHT, WIDTH), 3)
    # The network's K is fixed by training: asking for another K is a clear error, no output.
    code = main([*args[:3], str(tmp_path / "out2"), "--checkpoint", str(weights), "--layers", "2"])
    assert code == 1 and "K=3" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_shipped_model_segments_a_moving_square() -> None:
    flow = torch.zeros(2, 2, 128, 224)
    flow[:, 0] = 1.0  # camera pan
    flow[:, :, 40:90, 60:130] = torch.tensor([-4.0, 2.0]).view(2, 1, 1)
    masks = get_method("em")(flow).masks
    assert masks.shape[:2] == (2, 2)
    labels = masks.argmax(1)
    inside, outside = labels[:, 45:85, 65:125], labels[:, 100:, :]
    assert (inside == inside[0, 0, 0]).float().mean() > 0.9
    assert (outside != inside[0, 0, 0]).float().mean() > 0.9


def test_segment_flow_folder(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    for t in range(3):  # a square that moves by (3, -1) pixels per frame, as its flow says
        flow = np.zeros((HEIGHT, WIDTH, 2), np.float32)
        flow[10 - t : 30 - t, 10 + 3 * t : 30 + 3 * t] = (3.0, -1.0)
        np.save(folder / f"f{t}.npy", flow)
    segment_source(
        folder, tmp_path / "out", method="robust-layers", layers=2, size=None, progress=False
    )
    check_outputs(tmp_path / "out", ["f0", "f1", "f2"], (HEIGHT, WIDTH), 2)
    labels = read_mask(tmp_path / "out" / "masks" / "f0.png")
    fg = cv2.imread(str(tmp_path / "out" / "foreground" / "f0.png"), cv2.IMREAD_GRAYSCALE)
    assert (fg[10:30, 10:30] == 255).all() and (fg[40:] == 0).all()
    assert len(np.unique(labels)) == 2


class _SquareNet(torch.nn.Module):
    """A stand-in for a trained LightningModule: ``predict_masks(flow) -> (B, K, h, w)``."""

    def predict_masks(self, flow: torch.Tensor) -> torch.Tensor:
        moving = (flow.abs().sum(1, keepdim=True) > 1).float()
        return torch.cat([1 - moving, moving], 1)


def _square_net_factory(layers: int, device: str, weights: Path | None) -> _SquareNet:
    return _SquareNet()


def test_registry_accepts_predict_masks_modules(tmp_path: Path) -> None:
    register_method(
        MethodEntry("square-net", "flow-pair", "test", lambda **_: _SquareNet(), layers=2)
    )
    try:
        method = get_method("square-net")
        flow = torch.zeros(1, 2, 8, 8)
        flow[..., 2:4, 2:4] = 2.0
        masks = method(flow).masks
        assert masks.shape == (1, 2, 8, 8) and masks[0, 1, 2:4, 2:4].eq(1).all()
    finally:
        unregister_method("square-net")
    lazy = MethodEntry(
        "square-net-lazy", "flow-pair", "t", "test_segment:_square_net_factory", layers=2
    )
    register_method(lazy)
    try:
        assert get_method("square-net-lazy")(flow).masks.shape == (1, 2, 8, 8)
        with pytest.raises(ValueError, match="registered already"):
            register_method(lazy)
    finally:
        unregister_method("square-net-lazy")
    with pytest.raises(InputError, match="classical-em"):
        get_method("nope")
    assert DEFAULT_METHOD in METHODS


def test_segment_errors_leave_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="does not exist"):
        segment_source(tmp_path / "missing.avi", out, progress=False)
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError):
        segment_source(corrupt, out, progress=False)
    empty = write_video(tmp_path / "empty.avi", frames=0)
    with pytest.raises(InputError):
        segment_source(empty, out, progress=False)
    single = write_video(tmp_path / "single.avi", frames=1)
    with pytest.raises(InputError, match="two frames"):
        segment_source(single, out, method="robust-layers", progress=False)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["corrupt.avi", "empty.avi", "single.avi"]
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    video = write_video(tmp_path / "clip.avi")
    assert main(["segment", str(video), "-o", str(blocker / "out"), "--no-progress"]) == 1
    assert main(["segment", str(video), "-o", str(out), "--method", "nope"]) == 1
    assert not out.exists()


def test_layers_picks_the_shipped_model_of_that_k() -> None:
    from motionlayers.methods.em import SHIPPED_WEIGHTS

    assert all(path.is_file() for path in SHIPPED_WEIGHTS.values())
    assert get_method("em").predictor.hparams["layers"] == 2
    assert get_method("em", layers=4).predictor.hparams["layers"] == 4
    flow = torch.zeros(1, 2, 64, 96)
    flow[:, 0, 20:44, 30:60] = 4.0
    assert get_method("em", layers=4)(flow).masks.shape == (1, 4, 64, 96)
    with pytest.raises(InputError, match="no em model for K=3 ships"):
        get_method("em", layers=3)


def test_motion_json_describes_the_layers_after_post_processing(tmp_path: Path) -> None:
    """Models in motion.json are fitted to the final layers: when `absorb_explained` hands all
    but the least explained foreground segment back to the background (a huge ratio), the
    emptied layers' models are refitted to no pixels (zero), while without absorption they
    describe their segments."""
    video = write_video(tmp_path / "clip.avi")
    common = dict(method="robust-layers", layers=3, size=(24, 32), progress=False)
    for ratio in (0.0, 1e6):
        out = tmp_path / f"out{ratio:g}"
        segment_source(video, out, explained_ratio=ratio, **common)  # type: ignore[arg-type]
        frame = json.loads((out / "motion.json").read_text())["frames"][2]
        areas = np.array([layer["area"] for layer in frame["layers"]])
        theta = np.array([layer["theta"] for layer in frame["layers"]])
        assert abs(areas.sum() - 1) < 1e-5 and np.isfinite(theta).all()
        foreground = [k for k in range(3) if k != frame["background"]]
        if ratio == 0:
            assert (areas[foreground] > 0).all() and np.abs(theta[foreground]).max() > 0
        else:
            emptied = [k for k in foreground if areas[k] == 0]
            assert emptied and np.abs(theta[emptied]).max() == 0


def test_a_missing_shipped_model_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from motionlayers.methods import registry

    missing = tmp_path / "em-default.pt"
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    video = write_video(tmp_path / "clip.avi")
    assert main(["segment", str(video), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert "no em weights are installed" in error and "motionlayers train em" in error
    assert str(missing) in error and not (tmp_path / "out").exists()
