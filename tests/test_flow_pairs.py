"""Image pairs for flow networks: exact flow (backward warping reproduces frame 0), visibility,
determinism, and real-video pairs from small fake frame folders written here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motionlayers.data import SmallObjectPairs, SyntheticFramePairs, VideoFramePairs
from motionlayers.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


def backward_warp(frame1: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Frame 1 ``(C, H, W)`` sampled bilinearly at ``p + flow(p)``: frame 0 where visible."""
    _, h, w = frame1.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    grid = torch.stack([2 * (xs + flow[0]) / (w - 1) - 1, 2 * (ys + flow[1]) / (h - 1) - 1], -1)
    return F.grid_sample(frame1[None], grid[None].float(), align_corners=True)[0]


def warp_error(item: dict, flow: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel mean absolute difference ``(H, W)`` of warped frame 1 and frame 0."""
    flow = item["flow"] if flow is None else flow
    return (backward_warp(item["frame1"], flow) - item["frame0"]).abs().mean(0)


def targets_inside(flow: torch.Tensor) -> torch.Tensor:
    _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    x, y = xs + flow[0], ys + flow[1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def check_item(item: dict, h: int, w: int) -> None:
    assert item["frame0"].shape == item["frame1"].shape == (3, h, w)
    assert item["flow"].shape == (2, h, w) and item["valid"].shape == (h, w)
    for value in item.values():
        assert value.dtype == torch.float32 and torch.isfinite(value).all()
    for key in ("frame0", "frame1"):
        assert 0 <= item[key].min() and item[key].max() <= 1
    assert set(item["valid"].unique().tolist()) <= {0.0, 1.0}


# --- SyntheticFramePairs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_scenes() -> list[dict]:
    data = SyntheticFramePairs(4, 48, 80, seed=3, blur=0, lighting=0, noise=0)
    return [data[i] for i in range(len(data))]


def test_synthetic_items_have_documented_shapes_and_ranges() -> None:
    data = SyntheticFramePairs(2, 40, 56, seed=1, blur=1.0, lighting=0.2, noise=0.05)
    assert len(data) == 2
    for i in range(2):
        check_item(data[i], 40, 56)
    with pytest.raises(IndexError):
        data[2]


def test_synthetic_flow_is_exact(clean_scenes: list[dict]) -> None:
    for item in clean_scenes:
        valid = item["valid"] > 0
        assert valid.float().mean() > 0.3
        error = warp_error(item)[valid]
        # residue: uint8 frames, bicubic rendering vs bilinear warping, anti-aliased edges
        assert error.mean() < 0.012 and error.median() < 0.01
        shifted = warp_error(item, item["flow"] + 0.5)[valid]
        assert error.mean() < 0.5 * shifted.mean()  # sub-pixel: half a pixel off is far worse


def test_synthetic_valid_marks_occlusions_and_motion_out_of_the_frame(
    clean_scenes: list[dict],
) -> None:
    leaving = 0
    for item in clean_scenes:
        inside = targets_inside(item["flow"])
        assert (item["valid"][~inside] == 0).all()
        leaving += int((~inside).sum())
        occluded = inside & (item["valid"] == 0)
        assert occluded.any()
        # occluded pixels are not seen in frame 1: warping does not reproduce them
        error = warp_error(item)
        assert error[occluded].mean() > 3 * error[item["valid"] > 0].mean()
    assert leaving > 0


def test_synthetic_items_are_deterministic_and_photometry_keeps_the_scene() -> None:
    first = SyntheticFramePairs(3, 32, 48, seed=5)
    again = SyntheticFramePairs(3, 32, 48, seed=5)
    for key in ("frame0", "frame1", "flow", "valid"):
        assert torch.equal(first[1][key], again[1][key])
        assert not torch.equal(first[0][key], first[1][key])
    assert not torch.equal(first[1]["flow"], SyntheticFramePairs(3, 32, 48, seed=6)[1]["flow"])
    clean = SyntheticFramePairs(3, 32, 48, seed=5, blur=0, lighting=0, noise=0)[1]
    assert torch.equal(clean["flow"], first[1]["flow"])
    assert torch.equal(clean["valid"], first[1]["valid"])
    assert not torch.equal(clean["frame1"], first[1]["frame1"])


def test_synthetic_motion_is_bounded_by_max_motion() -> None:
    data = SyntheticFramePairs(3, 32, 64, seed=2, layers=(1, 3), max_motion=0.05)
    for i in range(3):
        # + 2 px: the minimum contrast of an object to the background may add a translation
        assert data[i]["flow"].norm(dim=0).max() <= 0.05 * 64 + 2 + 1e-4


@pytest.mark.parametrize(
    "options",
    [{"length": 0}, {"layers": (3, 2)}, {"max_motion": 0.0}, {"blur": 2.0}, {"noise": -1.0}],
)
def test_synthetic_refuses_bad_options(options: dict) -> None:
    arguments = {"length": 2, "height": 32, "width": 32, **options}
    with pytest.raises(InputError):
        SyntheticFramePairs(**arguments)


# --- SmallObjectPairs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_scenes() -> list[dict]:
    data = SmallObjectPairs(4, 96, 112, seed=4, noise=0, gain=0, background_shift=0.5)
    return [data[i] for i in range(len(data))]


def test_small_objects_items_have_documented_shapes_and_ranges() -> None:
    item = SmallObjectPairs(1, 48, 64, objects=(3, 5))[0]
    check_item(item, 48, 64)
    assert item["objects"].shape == (48, 64) and item["objects"].dtype == torch.float32
    assert torch.equal(item["frame0"][0], item["frame0"][2])  # grey, replicated


def test_small_objects_flow_is_exact(small_scenes: list[dict]) -> None:
    for item in small_scenes:
        valid = item["valid"] > 0
        objects = valid & (item["objects"] > 0)
        error = warp_error(item)
        # the ground away from every object (where no edge pixel mixes two layers) is exact
        near = cv2.dilate(item["objects"].numpy(), np.ones((15, 15), np.uint8)) > 0
        far = valid & ~torch.from_numpy(near)
        assert far.any() and error[far].max() < 0.03
        assert error[valid].mean() < 0.012
        # the objects are tracked to a fraction of a pixel
        shifted = warp_error(item, item["flow"] + 0.3)
        assert error[objects].mean() < 0.03
        assert error[objects].mean() < 0.8 * shifted[objects].mean()


def test_small_objects_sizes_and_motions_stay_in_range(small_scenes: list[dict]) -> None:
    h, w = 96, 112
    for item in small_scenes:
        area = float(item["objects"].sum())
        # 10 to 60 objects of ~6 (2x4 ellipse) to 72 (6x12 rectangle) px, some cut or hidden
        assert 10 <= area <= 60 * 72
        speed = item["flow"].norm(dim=0)
        on = item["objects"] > 0
        assert speed[on].min() >= 0.5 - 1e-5 and speed[on].max() <= 6.0 + 1e-5
        assert speed[~on].max() <= 0.5 + 1e-5
        assert torch.unique(speed[~on]).numel() == 1  # one global ground shift
    count = SmallObjectPairs(1, h, w, seed=0, objects=(12, 12), background_shift=0)[0]
    assert float(count["flow"][:, count["objects"] == 0].abs().max()) == 0.0  # static ground


def test_small_objects_valid_marks_occlusions(small_scenes: list[dict]) -> None:
    for item in small_scenes:
        assert (item["valid"][~targets_inside(item["flow"])] == 0).all()
        hidden = targets_inside(item["flow"]) & (item["valid"] == 0)
        assert hidden.any()
        error = warp_error(item)
        assert error[hidden].mean() > 3 * error[item["valid"] > 0].mean()


def test_small_objects_are_deterministic() -> None:
    first, again = SmallObjectPairs(2, 32, 32, seed=9), SmallObjectPairs(2, 32, 32, seed=9)
    for key in ("frame0", "frame1", "flow", "valid", "objects"):
        assert torch.equal(first[0][key], again[0][key])
    assert not torch.equal(first[0]["frame0"], first[1]["frame0"])
    with pytest.raises(InputError):
        SmallObjectPairs(1, 32, 32, shift=(3.0, 1.0))


# --- VideoFramePairs ----------------------------------------------------------------------


def write_frames(folder: Path, count: int, size: tuple[int, int] = (30, 40), seed: int = 0):
    """``count`` PNG frames of a random texture drifting right; pixel (0, 0) pure red."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (size[0], size[1] + count, 3), dtype=np.uint8)
    for t in range(count):
        frame = np.ascontiguousarray(texture[:, count - t : count - t + size[1]])
        frame[:4, :4] = (0, 0, 255)  # BGR red in the top-left corner
        cv2.imwrite(str(folder / f"{t:05d}.png"), frame)


def test_video_pairs_from_a_folder_of_sequences(tmp_path: Path) -> None:
    write_frames(tmp_path / "root" / "bear", 4)
    write_frames(tmp_path / "root" / "cows", 3, seed=1)
    data = VideoFramePairs(tmp_path / "root", (16, 20), gap=1, flip=False)
    assert data.sources == ["bear", "cows"] and len(data) == 3 + 2
    item = data[0]
    assert set(item) == {"frame0", "frame1"}
    for frame in item.values():
        assert frame.shape == (3, 16, 20) and frame.dtype == torch.float32
        assert 0 <= frame.min() and frame.max() <= 1
    assert item["frame0"][0, 0, 0] > 0.9 and item["frame0"][2, 0, 0] < 0.1  # RGB order
    assert not torch.equal(item["frame0"], item["frame1"])
    assert len(VideoFramePairs(tmp_path / "root", (16, 20), gap=2)) == 2 + 1
    only = VideoFramePairs(tmp_path / "root", (16, 20), names=["cows"], flip=False)
    assert only.sources == ["cows"] and torch.equal(only[0]["frame0"], data[3]["frame0"])
    with pytest.raises(InputError, match="unknown"):
        VideoFramePairs(tmp_path / "root", (16, 20), names=["deer"])


def test_video_pairs_flip_both_frames_deterministically(tmp_path: Path) -> None:
    write_frames(tmp_path / "seq", 12)
    plain = VideoFramePairs(tmp_path / "seq", (16, 20), flip=False)
    flipped = VideoFramePairs(tmp_path / "seq", (16, 20), flip=True, seed=3)
    again = VideoFramePairs(tmp_path / "seq", (16, 20), flip=True, seed=3)
    mirrored = 0
    for i in range(len(plain)):
        assert torch.equal(flipped[i]["frame0"], again[i]["frame0"])
        if not torch.equal(flipped[i]["frame0"], plain[i]["frame0"]):
            mirrored += 1
            for key in ("frame0", "frame1"):
                assert torch.equal(flipped[i][key], plain[i][key].flip(-1))
    assert 0 < mirrored < len(plain)


def test_video_pairs_cache_the_resized_frames(tmp_path: Path, monkeypatch) -> None:
    write_frames(tmp_path / "seq", 3)
    cache = tmp_path / "cache"
    first = VideoFramePairs(tmp_path / "seq", (10, 12), cache_dir=cache, flip=False)
    stored = list(cache.glob("*.npy"))
    assert len(stored) == 1 and np.load(stored[0]).shape == (3, 10, 12, 3)
    assert not list(cache.glob(".*"))  # no temporary file left behind

    def no_decoding(*args, **kwargs):
        raise AssertionError("frames decoded again")

    monkeypatch.setattr("motionlayers.data.video_pairs.iter_frames", no_decoding)
    second = VideoFramePairs(tmp_path / "seq", (10, 12), cache_dir=cache, flip=False)
    assert torch.equal(first[1]["frame1"], second[1]["frame1"])
    with pytest.raises(AssertionError):  # another size is another cache entry
        VideoFramePairs(tmp_path / "seq", (8, 12), cache_dir=cache)


def test_video_pairs_refuse_unusable_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        VideoFramePairs(tmp_path / "missing", (16, 16))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        VideoFramePairs(tmp_path / "empty", (16, 16))
    write_frames(tmp_path / "single", 1)
    with pytest.raises(InputError, match="single frame"):
        VideoFramePairs(tmp_path / "single", (16, 16))
    write_frames(tmp_path / "short", 2)
    with pytest.raises(InputError, match="frame"):
        VideoFramePairs(tmp_path / "short", (16, 16), gap=2)
    with pytest.raises(InputError):
        VideoFramePairs(tmp_path / "short", (16, 16), gap=0)


def write_video(path: Path, count: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
    for t in range(count):
        writer.write(np.full((30, 40, 3), 40 * t, np.uint8))
    writer.release()


def test_video_pairs_from_a_video_file(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.avi", 3)
    data = VideoFramePairs(tmp_path / "clip.avi", (12, 16))
    assert data.sources == ["clip.avi"] and len(data) == 2
    assert data[1]["frame1"].mean() > data[1]["frame0"].mean()
    write_video(tmp_path / "still.avi", 1)
    with pytest.raises(InputError, match="1 frame"):
        VideoFramePairs(tmp_path / "still.avi", (12, 16))


# --- ImageTextures ------------------------------------------------------------------------


def test_real_image_textures_keep_the_flow_exact(tmp_path: Path) -> None:
    from motionlayers.data import ImageTextures
    from motionlayers.data.compositing import random_texture

    for name, seed in (("a", 0), ("b", 1)):  # smooth photographs: interpolation stays exact
        (tmp_path / "images" / name).mkdir(parents=True)
        for t in range(6):
            image = random_texture(np.random.default_rng((seed, t)), 60, 80).astype(np.uint8)
            cv2.imwrite(str(tmp_path / "images" / name / f"{t:05d}.png"), image)
    textures = ImageTextures(tmp_path / "images", size=(60, 80), step=2)
    assert len(textures) == 6  # frames 0, 2, 4 of each
    crop = textures.crop(np.random.default_rng(0), 20, 30)
    assert crop.shape == (20, 30, 3) and crop.dtype == np.float32 and 0 <= crop.min()
    again = textures.crop(np.random.default_rng(0), 20, 30)
    np.testing.assert_array_equal(crop, again)
    data = SyntheticFramePairs(3, 48, 80, seed=3, blur=0, lighting=0, noise=0, textures=textures)
    plain = SyntheticFramePairs(3, 48, 80, seed=3, blur=0, lighting=0, noise=0)
    for i in range(3):
        item = data[i]
        torch.testing.assert_close(item["flow"], plain[i]["flow"])  # textures change no motion
        assert not torch.equal(item["frame0"], plain[i]["frame0"])
        valid = item["valid"] > 0
        assert warp_error(item)[valid].median() < 0.01
    with pytest.raises(InputError, match="step"):
        ImageTextures(tmp_path / "images", step=0)
