"""The one segmentation path: a method registered from here segments end to end, every input
kind goes through it, an option that does not apply is an error, the stream equals the whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import motionlayers
from motionlayers.errors import InputError
from motionlayers.io import read_mask, write_flow
from motionlayers.methods.registry import (
    METHODS,
    MethodEntry,
    get_method,
    register_method,
    unregister_method,
)
from motionlayers.pipeline.segmentation import segment_source
from motionlayers.pipeline.sources import FlowSample
from motionlayers.pipeline.stream import smooth_stream, volume_stream
from motionlayers.postprocess import Linker, smooth_masks

SIZE = (32, 48)


def _frames(count: int = 5, height: int = 64, width: int = 96) -> list[np.ndarray]:
    """A textured background moving left by 1 px per frame, a textured square moving right by
    3 px per frame."""
    import cv2

    rng = np.random.default_rng(0)
    noise = rng.random((height, width + 4 * count)).astype(np.float32)
    texture = (cv2.GaussianBlur(noise, (0, 0), 2.0) * 255 * 3 - 255).clip(0, 255).astype(np.uint8)
    frames = []
    for t in range(count):
        frame = np.repeat(texture[:, t : t + width, None], 3, axis=2).copy()
        square = texture[::-1, ::-1][:24, :24, None] // 2 + 100
        frame[20:44, 20 + 3 * t : 44 + 3 * t] = square
        frames.append(frame)
    return frames


def _square_predictor(layers: int, device: str = "cpu", weights: Path | None = None):
    """Layer 1 where the flow is fast (the moving square), layer 0 elsewhere."""

    def predict(flow: torch.Tensor) -> torch.Tensor:
        speed = flow.norm(dim=1).flatten(1)
        middle = (speed.min(1).values + speed.max(1).values) / 2
        return (flow.norm(dim=1) > middle[:, None, None]).long()

    return predict


@pytest.fixture
def square_method():
    entry = register_method(
        MethodEntry("test-square", "flow-pair", "fast pixels", _square_predictor, layers=2)
    )
    yield entry
    unregister_method("test-square")


def test_a_method_registered_here_segments_a_video_end_to_end(square_method, tmp_path: Path):
    """The proof of the registry: one entry, no other module touched."""
    result = segment_source(_frames(), tmp_path / "out", "test-square", size=SIZE, progress=False)
    assert result.frames == 5 and result.method == "test-square"
    masks = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert [p.stem for p in masks] == [f"{i:05d}" for i in range(5)]
    labels = read_mask(masks[2])
    assert labels.shape == (64, 96)
    assert labels[30, 35] == 1 and labels[5, 80] == 0  # the square is the foreground
    assert (tmp_path / "out" / "overlay.mp4").stat().st_size > 0
    assert "test-square" in motionlayers.available_methods()


def test_the_methods_command_lists_every_method(square_method, capsys):
    from motionlayers.cli.main import main

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name, entry in METHODS.items():
        assert name in out and entry.input in out
    assert "em-default.pt" in out and "K=2" in out


def test_an_unknown_method_lists_the_valid_ones():
    with pytest.raises(InputError, match="valid: bdmm, classical-em, em, evlayerseg"):
        get_method("nope")


def test_k_is_resolved_once_with_clear_errors():
    assert get_method("em").layers == 2 and get_method("em", layers=4).layers == 4
    assert get_method("classical-em").layers == 4
    with pytest.raises(InputError, match="no em model for K=3 ships"):
        get_method("em", layers=3)
    with pytest.raises(InputError, match="takes no checkpoint"):
        get_method("robust-layers", checkpoint="x.pt")


def test_iter_segment_on_a_three_frame_generator():
    frames = _frames(3)
    results = list(
        motionlayers.iter_segment(iter(frames), "test-square", size=SIZE, progress=False)
        if "test-square" in METHODS
        else motionlayers.iter_segment(iter(frames), size=SIZE, progress=False)
    )
    assert [r.stem for r in results] == ["00000", "00001", "00002"]
    for r in results:
        assert r.labels.shape == (64, 96) and r.labels.dtype == np.uint8
        assert r.theta.shape[1:] == (2, 6) and r.soft is None
        assert np.isclose(r.areas.sum(), 1)


def test_segment_returns_the_whole_segmentation_and_equals_the_files(tmp_path: Path):
    frames = _frames(4)
    seg = motionlayers.segment(frames, size=SIZE, progress=False, soft=True)
    assert seg.labels.shape == (4, 64, 96) and seg.soft is not None
    assert seg.soft.shape[:2] == (4, seg.layers) and seg.soft.shape[2:] == SIZE
    assert (seg.background == 0).all() and seg.foreground.dtype == bool
    segment_source(frames, tmp_path / "out", size=SIZE, progress=False)
    for t, stem in enumerate(seg.stems):
        assert (read_mask(tmp_path / "out" / "masks" / f"{stem}.png") == seg.labels[t]).all()


def test_every_flow_input_kind_goes_through_the_one_path(tmp_path: Path):
    import cv2

    frames = _frames(4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.png"), frame)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"FFV1"), 10, (96, 64))
    for frame in frames:
        writer.write(frame)
    writer.release()
    flows = tmp_path / "flows"
    flows.mkdir()
    for t in range(4):
        flow = np.zeros((32, 48, 2), np.float32)
        flow[10:20, 10:20, 0] = 3.0
        write_flow(flows / f"{t:05d}.flo", flow)

    class Capture:  # a cv2.VideoCapture-like source
        def __init__(self):
            self.frames = iter(frames)

        def read(self):
            frame = next(self.frames, None)
            return frame is not None, frame

    for source in (folder, video, flows, frames, np.stack(frames), Capture()):
        seg = motionlayers.segment(source, size=SIZE, progress=False)
        assert len(seg) == 4, source
    flow_seg = motionlayers.segment(flows, size=SIZE, progress=False)
    assert flow_seg.labels.shape == (4, 32, 48)  # flow files: their own resolution


@pytest.mark.parametrize(
    ("option", "value", "applies"),
    [
        ("window_us", 1000, "events"),
        ("refine_iterations", 3, "events"),
        ("sensor_size", "64x64", "events"),
    ],
)
def test_an_event_option_on_a_video_is_an_error(option, value, applies):
    with pytest.raises(InputError, match=f"does not apply to frames.*{applies}"):
        motionlayers.segment(_frames(3), size=SIZE, progress=False, **{option: value})


def test_frame_options_on_flow_files_are_errors(tmp_path: Path):
    for t in range(2):
        write_flow(tmp_path / f"{t}.flo", np.zeros((16, 16, 2), np.float32))
    for option in ("snap_radius", "colour_weight", "flow_backend"):
        with pytest.raises(InputError, match="does not apply to a folder of flow files"):
            motionlayers.segment(tmp_path, progress=False, **{option: 0.0})


def test_a_method_of_another_input_kind_is_an_error():
    with pytest.raises(InputError, match="evlayerseg segments event windows.*methods for"):
        motionlayers.segment(_frames(3), "evlayerseg", progress=False)


def test_dataset_options_outside_a_dataset_are_errors(tmp_path: Path):
    with pytest.raises(InputError, match="--workers: applies to a folder of sequences"):
        segment_source(_frames(3), tmp_path / "o", workers=2, size=SIZE, progress=False)


def _samples(count: int, seed: int = 0) -> list[FlowSample]:
    rng = torch.Generator().manual_seed(seed)
    return [
        FlowSample(t, f"{t:05d}", torch.randn(2, 12, 16, generator=rng), None, (12, 16))
        for t in range(count)
    ]


@pytest.mark.parametrize(("radius", "block"), [(1, 1), (1, 3), (2, 2), (3, 8), (0, 4)])
def test_streamed_smoothing_equals_the_whole_video(radius: int, block: int):
    samples = _samples(9)
    masks = torch.softmax(torch.randn(9, 3, 12, 16, generator=torch.Generator().manual_seed(1)), 1)
    flows = torch.stack([s.flow for s in samples])
    whole = smooth_masks(masks, radius, flows)
    blocks = list(smooth_stream(zip(samples, masks), radius, block))
    streamed = torch.cat([rows for _, rows in blocks])
    assert [s.index for b, _ in blocks for s in b] == list(range(9))
    assert torch.allclose(streamed, whole, atol=1e-5)


def test_streamed_linking_undoes_known_permutations():
    """Frames whose channels come in shuffled orders are linked back to the first frame's."""
    base = torch.softmax(torch.randn(3, 10, 10, generator=torch.Generator().manual_seed(2)) * 5, 0)
    orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [2, 1, 0]]
    link = Linker()
    for order in orders:
        assert torch.equal(link(base[order]), base)


@pytest.mark.parametrize(("volume", "stride"), [(3, 1), (4, 4), (5, 3)])
def test_volumes_cover_every_frame_once_with_the_central_masks(volume: int, stride: int):
    """A volume method whose masks encode each flow's frame index gets every frame's own mask."""
    entry = MethodEntry(
        "test-volume",
        "flow-volume",
        "index",
        lambda **_: None,
        layers=2,
        volume=volume,
        stride=stride,
    )

    def predictor(volumes: torch.Tensor) -> torch.Tensor:  # (B, 2, T, h, w) -> (B, K, T, h, w)
        first = volumes[:, :1].clamp(0, 1)
        return torch.cat([first, 1 - first], dim=1)

    from motionlayers.methods.registry import Method

    method = Method(entry, 2, predictor, None)
    samples = [FlowSample(t, str(t), torch.full((2, 4, 4), t / 10), None, (4, 4)) for t in range(7)]
    out = list(volume_stream(samples, method, batch_size=2))
    assert [s.index for s, _ in out] == list(range(7))
    for sample, mask in out:
        assert torch.allclose(mask[0], torch.full((4, 4), sample.index / 10))


def test_a_camera_stopped_by_ctrl_c_keeps_what_it_recorded(tmp_path: Path):
    frames = _frames(4)

    class Camera:  # a live capture: the user's Ctrl-C arrives while frame 5 is awaited
        def __init__(self):
            self.count = 0

        def read(self):
            if self.count == len(frames):
                raise KeyboardInterrupt
            self.count += 1
            return True, frames[self.count - 1]

    result = segment_source(Camera(), tmp_path / "out", size=SIZE, progress=False)
    assert result.frames == 4  # every frame read before the Ctrl-C
    stems = sorted(p.stem for p in (tmp_path / "out" / "masks").iterdir())
    assert stems == [f"{i:05d}" for i in range(4)]
    assert (tmp_path / "out" / "motion.json").is_file()


def test_max_frames_stops_early(tmp_path: Path):
    seg = motionlayers.segment(_frames(5), size=SIZE, progress=False, max_frames=3)
    assert seg.stems == ["00000", "00001", "00002"]


def test_a_folder_of_frames_and_flows_is_an_error(tmp_path: Path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), _frames(1)[0])
    write_flow(tmp_path / "a.flo", np.zeros((8, 8, 2), np.float32))
    with pytest.raises(InputError, match="both flow files .* and frames"):
        motionlayers.segment(tmp_path, progress=False)


def test_precomputed_flows_segment_every_frame(tmp_path: Path):
    """``flow`` writes T - 1 forward flows; ``segment --flow precomputed:FOLDER`` still gives
    every one of the T frames its mask (the last takes the previous flow)."""
    import cv2

    frames = _frames(4)
    folder, flows = tmp_path / "frames", tmp_path / "flows"
    folder.mkdir()
    flows.mkdir()
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.png"), frame)
        if t < 3:
            write_flow(flows / f"{t:05d}.flo", np.full((64, 96, 2), 1.0, np.float32))
    seg = motionlayers.segment(
        folder, flow_backend=f"precomputed:{flows}", size=SIZE, progress=False
    )
    assert len(seg) == 4


def test_cli_rejects_options_that_do_not_apply(tmp_path: Path, capsys):
    import cv2

    from motionlayers.cli.main import main

    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (96, 64))
    for frame in _frames(3):
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    assert main(["segment", str(video), "-o", str(out), "--window-us", "5000"]) == 1
    err = capsys.readouterr().err
    assert "--window-us: does not apply to a video (it applies to events)" in err
    assert not out.exists()
