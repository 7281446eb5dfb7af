"""Flow backends, the registry, frame reading, iteration over videos and folders, resizing."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.flow import (
    FlowBackend,
    available_backends,
    from_tensor,
    get_backend,
    iter_flows,
    oversampled_size,
    register_backend,
    resize_flow,
    to_tensor,
)
from motionlayers.io import iter_frames, list_frames, read_frames, read_image, write_flow

SHIFT = (3, 2)  # (u, v) in pixels


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture ``(H, W, 3)`` uint8 BGR that flow methods can track."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def shifted_pair(height: int = 96, width: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Two frames where everything moves by SHIFT: frame1[y + v, x + u] = frame0[y, x]."""
    u, v = SHIFT
    big = texture(height + 10, width + 10)
    return big[5 : 5 + height, 5 : 5 + width], big[5 - v : 5 - v + height, 5 - u : 5 - u + width]


def write_frames(folder: Path, count: int = 4, ext: str = ".png") -> list[np.ndarray]:
    """Frames of a texture drifting by SHIFT per frame, named frame1, frame2, ..., frame10."""
    folder.mkdir(parents=True, exist_ok=True)
    u, v = SHIFT
    big = texture(64 + 4 * count, 80 + 4 * count)
    frames = []
    for t in range(count):
        y0, x0 = 3 * count - v * t, 3 * count - u * t
        frame = np.ascontiguousarray(big[y0 : y0 + 64, x0 : x0 + 80])
        cv2.imwrite(str(folder / f"frame{t + 1}{ext}"), frame)
        frames.append(frame)
    return frames


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


# --- backends -----------------------------------------------------------------------------------


def test_registry_names_and_unknown():
    assert {"dis-medium", "dis-fast", "dis-fine", "farneback", "precomputed", "raft"} <= set(
        available_backends()
    )
    with pytest.raises(InputError, match="^flow backend: unknown 'nope'; valid: dis-fast, dis-fin"):
        get_backend("nope")
    backend = get_backend("farneback")
    assert get_backend(backend) is backend
    with pytest.raises(InputError, match="bad options"):
        get_backend("farneback", nonsense=1)
    with pytest.raises(InputError, match="^dis setting: unknown 'nonsense'; valid: coarsest_sc"):
        get_backend("dis-fast", nonsense=1)


def test_register_backend():
    class Zero(FlowBackend):
        name = "zero"

        def compute(self, gray0, gray1):
            return np.zeros((*gray0.shape, 2))

    register_backend("zero-test", Zero)
    try:
        flow = get_backend("zero-test")(*shifted_pair())
        assert flow.dtype == np.float32 and flow.shape == (96, 128, 2) and not flow.any()
    finally:
        from motionlayers.flow import BACKENDS

        BACKENDS.pop("zero-test")


@pytest.mark.parametrize(
    "name, atol",
    [("dis-medium", 0.05), ("dis-fast", 0.25), ("dis-fine", 0.05), ("farneback", 0.05)],
)
def test_backend_recovers_translation(name, atol):
    frame0, frame1 = shifted_pair()
    original = frame0.copy()
    flow = get_backend(name)(frame0, frame1)
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), SHIFT, atol=atol)
    np.testing.assert_array_equal(frame0, original)


def test_grey_and_bgr_give_the_same_flow():
    frame0, frame1 = shifted_pair()
    backend = get_backend("dis-fast")
    gray0 = cv2.cvtColor(frame0, cv2.COLOR_BGR2GRAY)
    gray1 = cv2.cvtColor(frame1, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(backend(frame0, frame1), backend(gray0, gray1[:, :, None]))


def test_backend_bad_frames():
    frame0, frame1 = shifted_pair()
    backend = get_backend("dis-fast")
    with pytest.raises(ShapeError, match="differ in size"):
        backend(frame0, frame1[:-1])
    with pytest.raises(InputError, match="uint8"):
        backend(frame0.astype(np.float32), frame1)
    with pytest.raises(ShapeError, match=r"\(H, W, 3\)"):
        backend(frame0[:, :, :2], frame1[:, :, :2])


def test_dis_states_its_smallest_frames():
    """OpenCV DIS needs 8 px a side and 12 on the longer one: smaller frames are an InputError
    that says so, not cv2.error; frames at the bound work."""
    backend = get_backend("dis-medium")
    for height, width in [(8, 12), (12, 8)]:
        frame = texture(height, width)
        assert backend(frame, frame).shape == (height, width, 2)
    for height, width in [(2, 2), (11, 11), (7, 40)]:
        frame = texture(height, width)
        with pytest.raises(InputError, match=rf"^dis-medium flow: frames of {width}x{height} are"):
            backend(frame, frame)
    with pytest.raises(InputError, match=r"^working size: frames of 6x6 .* at least 8 px"):
        backend.check_size(6, 6, "working size")
    get_backend("farneback")(texture(2, 2), texture(2, 2))  # Farneback has no minimum


def test_precomputed_backend(tmp_path):
    flow = np.random.default_rng(0).normal(size=(6, 8, 2)).astype(np.float32)
    write_flow(tmp_path / "a.flo", flow)
    write_flow(tmp_path / "b.npy", flow * 2)
    (tmp_path / "notes.txt").write_text("ignored")
    frame = np.zeros((6, 8, 3), np.uint8)
    backend = get_backend(f"precomputed:{tmp_path}")
    np.testing.assert_array_equal(backend(frame, frame, stem="a"), flow)
    np.testing.assert_array_equal(
        get_backend("precomputed", folder=tmp_path)(frame, frame, "b"), flow * 2
    )
    with pytest.raises(InputError, match="no flow file for frame 'c'"):
        backend(frame, frame, stem="c")
    with pytest.raises(InputError, match="needs the stem"):
        backend(frame, frame)
    with pytest.raises(InputError, match="does not exist"):
        get_backend("precomputed", folder=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no flow files"):
        get_backend("precomputed", folder=tmp_path / "empty")


class Recorder(FlowBackend):
    """Zero flow; records what `compute` and `compute_pairs` receive."""

    name = "recorder"

    def __init__(self, colour: bool = False, batch_size: int = 1):
        self.colour, self.batch_size = colour, batch_size
        self.images: list[np.ndarray] = []
        self.batches: list[int] = []

    def compute(self, image0, image1):
        self.images.append(image0)
        return np.full((*image0.shape[:2], 2), float(len(self.images)))

    def compute_pairs(self, frames0, frames1, stems=None):
        self.batches.append(len(frames0))
        return super().compute_pairs(frames0, frames1, stems)


def test_colour_backends_receive_bgr_and_grey_backends_grey():
    frame0, frame1 = shifted_pair()
    original = frame0.copy()
    colour, grey = Recorder(colour=True), Recorder()
    colour(frame0, frame1), grey(frame0, frame1)
    np.testing.assert_array_equal(colour.images[0], frame0)  # BGR unchanged
    np.testing.assert_array_equal(grey.images[0], cv2.cvtColor(frame0, cv2.COLOR_BGR2GRAY))
    gray = cv2.cvtColor(frame0, cv2.COLOR_BGR2GRAY)
    colour(gray, gray[:, :, None])
    assert colour.images[1].shape == (96, 128, 3)
    assert all((colour.images[1][:, :, c] == gray).all() for c in range(3))
    np.testing.assert_array_equal(frame0, original)
    with pytest.raises(ShapeError, match="differ in size"):
        colour(frame0, frame1[:-1])
    with pytest.raises(InputError, match="uint8"):
        colour(frame0.astype(np.float32), frame1)
    with pytest.raises(ShapeError, match=r"\(H, W, 3\)"):
        colour(frame0[:, :, :2], frame1[:, :, :2])


def test_compute_pairs_default_and_checks():
    frame0, frame1 = shifted_pair()
    backend = get_backend("dis-fast")
    flows = backend.compute_pairs([frame0, frame1], [frame1, frame0])
    np.testing.assert_array_equal(flows[0], backend(frame0, frame1))
    np.testing.assert_array_equal(flows[1], backend(frame1, frame0))
    assert backend.compute_pairs([], []) == []
    with pytest.raises(ShapeError, match="1 first frames for 2 second frames"):
        backend.compute_pairs([frame0], [frame1, frame0])
    with pytest.raises(ShapeError, match="differ in size"):
        backend.compute_pairs([frame0], [frame1[:-1]])
    with pytest.raises(ShapeError, match="pairs of one batch differ in size"):
        backend.prepare_pairs([frame0, frame0[:-1]], [frame1, frame1[:-1]])


def test_dis_settings_override_the_preset():
    from motionlayers.defaults import DIS_FINE_SETTINGS
    from motionlayers.flow import DISBackend

    medium = DISBackend("medium")._dis
    backend = get_backend(
        "dis-medium",
        patch_size=12,
        finest_scale=0,
        variational_alpha=10.0,
        spatial_propagation=False,
    )
    dis = backend._dis
    assert (dis.getPatchSize(), dis.getFinestScale(), dis.getPatchStride()) == (
        12,
        0,
        medium.getPatchStride(),
    )
    assert dis.getVariationalRefinementAlpha() == 10.0 and not dis.getUseSpatialPropagation()
    assert (backend.min_side, backend.min_long_side) == (12, 18)  # OpenCV: 12x17 and up
    backend(texture(12, 18), texture(12, 18))
    with pytest.raises(InputError, match="needs at least 12 px on each side and 18 px"):
        backend(texture(12, 16), texture(12, 16))
    fine = get_backend("dis-fine")
    assert fine.name == "dis-fine" and fine.settings == dict(DIS_FINE_SETTINGS)
    assert fine._dis.getFinestScale() == dict(DIS_FINE_SETTINGS).get("finest_scale", 1)
    assert get_backend("dis-fine", finest_scale=2)._dis.getFinestScale() == 2  # user wins
    for key, value in [
        ("patch_size", 0),
        ("patch_size", 8.5),
        ("finest_scale", -1),
        ("variational_alpha", float("nan")),
        ("mean_normalization", 1),
        ("gradient_descent_iterations", True),
        ("patch_stride", "3"),
    ]:
        with pytest.raises(InputError, match=f"^{key}: expected"):
            get_backend("dis-medium", **{key: value})
    with pytest.raises(InputError, match="unknown DIS preset 'slow'"):
        DISBackend("slow")


def test_value_prefixes(tmp_path):
    write_flow(tmp_path / "a.flo", np.zeros((6, 8, 2), np.float32))
    assert get_backend(f"precomputed:{tmp_path}").folder == tmp_path
    with pytest.raises(InputError, match="'precomputed:' names no folder"):
        get_backend("precomputed:")
    with pytest.raises(InputError, match="unknown 'dis-fast:x'"):
        get_backend("dis-fast:x")  # a backend without a value option
    seen = {}

    def factory(path=None, extra=0):
        seen.update(path=path, extra=extra)
        return Recorder()

    register_backend("value-test", factory, value_option="path")
    try:
        get_backend("value-test:some/where:1", extra=2)
        assert seen == {"path": "some/where:1", "extra": 2}
    finally:
        from motionlayers.flow import BACKENDS
        from motionlayers.flow.backends import VALUE_OPTIONS

        BACKENDS.pop("value-test"), VALUE_OPTIONS.pop("value-test")


# --- frames -------------------------------------------------------------------------------------


def test_list_frames_natural_order(tmp_path):
    for name in ["frame10.png", "frame2.jpg", "frame1.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert [stem for stem, _ in list_frames(tmp_path)] == ["frame1", "frame2", "frame10"]
    (tmp_path / "frame2.png").write_bytes(b"")
    with pytest.raises(InputError, match="same stem"):
        list_frames(tmp_path)


def test_folder_and_video_frames(tmp_path):
    frames = write_frames(tmp_path / "frames", count=3)
    stems, array = read_frames(tmp_path / "frames")
    assert stems == ["frame1", "frame2", "frame3"]
    np.testing.assert_array_equal(array, np.stack(frames))
    write_video(tmp_path / "clip.avi", frames)
    stems, array = read_frames(tmp_path / "clip.avi", size=(32, 40))
    assert stems == ["00000", "00001", "00002"] and array.shape == (3, 32, 40, 3)


def test_frames_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        iter_frames(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no image frames"):
        iter_frames(tmp_path / "empty")
    (tmp_path / "garbage.avi").write_bytes(b"garbage" * 10)
    with pytest.raises(InputError, match="cannot be opened as a video"):
        iter_frames(tmp_path / "garbage.avi")
    writer = cv2.VideoWriter(
        str(tmp_path / "empty.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24)
    )
    writer.release()
    with pytest.raises(InputError, match="no frames"):
        iter_frames(tmp_path / "empty.avi")
    frames = write_frames(tmp_path / "bad")
    with pytest.raises(InputError, match="single image"):
        iter_frames(tmp_path / "bad" / "frame1.png")
    (tmp_path / "bad" / "frame3.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="frame3.png: cannot decode image"):
        list(iter_frames(tmp_path / "bad"))
    cv2.imwrite(str(tmp_path / "bad" / "frame3.png"), frames[0][:10])
    with pytest.raises(InputError, match="differs from the first frame"):
        list(iter_frames(tmp_path / "bad"))


def png_header(width: int, height: int) -> bytes:
    """A grey PNG that declares ``width x height`` but holds one row of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = chunk(b"IDAT", zlib.compress(bytes(width + 1)))
    return b"\x89PNG\r\n\x1a\n" + header + data + chunk(b"IEND", b"")


def test_frames_beyond_the_bound_are_refused_from_their_header(tmp_path, monkeypatch):
    """An 8000x8000 frame is refused before it is decoded (OpenCV is never asked), a Pillow
    "decompression bomb" too, without Pillow's warning."""
    write_frames(tmp_path / "frames", count=2)
    (tmp_path / "frames" / "frame3.png").write_bytes(png_header(8000, 8000))
    (tmp_path / "huge.png").write_bytes(png_header(100_000, 100_000))
    frames = iter_frames(tmp_path / "frames")
    next(frames), next(frames)
    monkeypatch.setattr(cv2, "imread", None)
    with pytest.raises(InputError, match=r"frame3\.png: image of 8000x8000 \(64.0 Mpx\) is larger"):
        next(frames)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"huge\.png: image declares more pixels than"):
            read_image(tmp_path / "huge.png")


def test_resize_target_and_video_size_are_bounded(tmp_path):
    write_video(tmp_path / "clip.avi", write_frames(tmp_path / "frames", count=2))
    with pytest.raises(InputError, match=r"^working size: 100000x100000 \(10000.0 Mpx\) is larger"):
        iter_frames(tmp_path / "clip.avi", size=(100_000, 100_000))
    big = [np.zeros((4100, 4100, 3), np.uint8)] * 2
    write_video(tmp_path / "big.avi", big)
    with pytest.raises(InputError, match=r"big\.avi: video frame of 4100x4100 .* larger"):
        iter_frames(tmp_path / "big.avi")


def test_video_readers_say_nothing_on_stderr(tmp_path, capfd):
    """OpenCV's AVI parser prints to file descriptor 2 for a truncated file; the one line of
    the error is all a user sees."""
    write_video(tmp_path / "clip.avi", write_frames(tmp_path / "frames", count=3))
    data = (tmp_path / "clip.avi").read_bytes()
    (tmp_path / "clip.avi").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="cannot be opened as a video"):
        iter_frames(tmp_path / "clip.avi")
    assert capfd.readouterr().err == ""


# --- iteration ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_iter_flows(tmp_path, kind):
    frames = write_frames(tmp_path / "frames", count=4)
    source = tmp_path / "frames"
    if kind == "video":
        source = tmp_path / "clip.avi"
        write_video(source, frames)
    items = list(iter_flows(source, progress=False))
    stems = ["frame1", "frame2", "frame3"] if kind == "folder" else ["00000", "00001", "00002"]
    assert [stem for stem, _, _ in items] == stems
    for _, frame0, flow in items:
        assert frame0.shape == (64, 80, 3) and flow.shape == (64, 80, 2)
        assert flow.dtype == np.float32
        np.testing.assert_allclose(
            np.median(flow[12:-12, 12:-12].reshape(-1, 2), 0), SHIFT, atol=0.25
        )


@pytest.mark.parametrize("name", ["dis-medium", "dis-fast", "farneback"])
def test_iter_flows_equals_the_backend_pair_by_pair(tmp_path, name):
    frames = write_frames(tmp_path / "frames", count=4)
    items = list(iter_flows(tmp_path / "frames", name, progress=False))
    backend = get_backend(name)
    for (_, frame0, flow), first, second in zip(items, frames[:-1], frames[1:], strict=True):
        np.testing.assert_array_equal(frame0, first)
        np.testing.assert_array_equal(flow, backend(first, second))


def test_iter_flows_batches_lazily(tmp_path):
    write_frames(tmp_path / "frames", count=6)
    single = list(iter_flows(tmp_path / "frames", Recorder(), progress=False))
    backend = Recorder(batch_size=2)
    flows = iter_flows(tmp_path / "frames", backend, progress=False)
    assert backend.batches == []
    first = next(flows)
    assert backend.batches == [2]  # one batch computed, the rest not yet
    items = [first, *flows]
    assert backend.batches == [2, 2, 1]
    for (stem, frame, flow), (stem1, frame1, flow1) in zip(items, single, strict=True):
        assert stem == stem1
        np.testing.assert_array_equal(frame, frame1)
        np.testing.assert_array_equal(flow, flow1)
    write_frames(tmp_path / "one", count=1)
    with pytest.raises(InputError, match="at least two frames"):
        list(iter_flows(tmp_path / "one", Recorder(batch_size=4), progress=False))


def test_iter_flows_working_size_and_precomputed(tmp_path):
    write_frames(tmp_path / "frames", count=3)
    items = list(iter_flows(tmp_path / "frames", "dis-fast", size=(32, 40), progress=False))
    assert all(f.shape == (32, 40, 2) for _, _, f in items)
    # Precomputed flow at full size is brought to the working size, vectors rescaled.
    (tmp_path / "flows").mkdir()
    for stem in ["frame1", "frame2"]:
        write_flow(tmp_path / "flows" / f"{stem}.flo", np.full((64, 80, 2), 4.0, np.float32))
    backend = get_backend("precomputed", folder=tmp_path / "flows")
    items = list(iter_flows(tmp_path / "frames", backend, size=(32, 40), progress=False))
    assert len(items) == 2
    np.testing.assert_allclose(items[0][2], 2.0)


def test_iter_flows_oversampled(tmp_path):
    # Flow computed on 64x80 frames for a 32x40 working size: the shift halves, frames shrink.
    write_frames(tmp_path / "frames", count=3)
    items = list(
        iter_flows(tmp_path / "frames", "dis-medium", size=(32, 40), oversample=2, progress=False)
    )
    assert len(items) == 2
    for _stem, frame, flow in items:
        assert frame.shape == (32, 40, 3) and flow.shape == (32, 40, 2)
        inner = flow[8:-8, 8:-8].reshape(-1, 2)
        np.testing.assert_allclose(np.median(inner, 0), np.array(SHIFT) / 2, atol=0.15)
    assert oversampled_size((32, 40), 2) == (64, 80) and oversampled_size(None, 2) is None
    with pytest.raises(InputError, match="oversample"):
        oversampled_size((32, 40), 0)


def test_iter_flows_errors(tmp_path):
    write_frames(tmp_path / "one", count=1)
    with pytest.raises(InputError, match="flow backend: unknown"):
        iter_flows(tmp_path / "one", backend="nope")
    with pytest.raises(InputError, match="does not exist"):
        iter_flows(tmp_path / "missing")
    with pytest.raises(InputError, match="at least two frames"):
        list(iter_flows(tmp_path / "one", progress=False))


# --- resizing and layout ------------------------------------------------------------------------


def test_resize_flow_scales_vectors():
    flow = np.zeros((10, 20, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.0, 2.0
    resized = resize_flow(flow, 20, 10)
    assert resized.shape == (20, 10, 2) and resized.dtype == np.float32
    np.testing.assert_allclose(resized[..., 0], 0.5)
    np.testing.assert_allclose(resized[..., 1], 4.0)
    assert (flow[..., 0] == 1).all()  # input untouched


def test_resize_flow_numpy_matches_torch_and_keeps_a_linear_field():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(12, 16, 2)).astype(np.float32)
    batch = torch.from_numpy(np.stack([flow, 2 * flow])).permute(0, 3, 1, 2)
    resized = resize_flow(batch, 7, 25)
    assert resized.shape == (2, 2, 7, 25)
    np.testing.assert_allclose(from_tensor(resized[:1]), resize_flow(flow, 7, 25), atol=1e-6)
    np.testing.assert_allclose(resized[1], 2 * resized[0], atol=1e-5)
    # A flow that grows linearly with x (pixel centres): u = x. Doubling the grid keeps u = x'.
    xs = np.arange(8, dtype=np.float32)
    linear = np.stack([np.tile(xs, (4, 1)), np.zeros((4, 8), np.float32)], axis=2)
    doubled = resize_flow(linear, 8, 16)
    inner = doubled[:, 1:-1, 0]  # bilinear clamps at the borders
    np.testing.assert_allclose(inner, np.tile(np.arange(1, 15) - 0.5, (8, 1)), atol=1e-5)


def test_resize_flow_bad_shapes():
    with pytest.raises(ShapeError):
        resize_flow(np.zeros((4, 5, 3), np.float32), 2, 2)
    with pytest.raises(ShapeError):
        resize_flow(torch.zeros(1, 3, 4, 5), 2, 2)
    with pytest.raises(ShapeError):
        resize_flow(np.zeros((4, 5, 2), np.float32), 0, 2)


def test_tensor_layout_round_trip():
    flow = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    tensor = to_tensor(flow)
    assert tensor.shape == (1, 2, 5, 7) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor[0, 0].numpy(), flow[..., 0])  # channel 0 = u
    np.testing.assert_array_equal(from_tensor(tensor), flow)
    np.testing.assert_array_equal(from_tensor(tensor[0]), flow)
    with pytest.raises(ShapeError):
        from_tensor(torch.zeros(2, 2, 5, 7))
