"""Flow files: round trips for every format, and every kind of corrupt input."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionlayers.errors import InputError, ShapeError
from motionlayers.io import (
    FLOW_FORMATS,
    numpy_arrays,
    read_flow,
    read_flow_with_valid,
    read_kitti_flow,
    write_flow,
    write_kitti_flow,
)


def random_flow(height: int = 7, width: int = 11, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(height, width, 2)) * 20).astype(np.float32)


def raises_naming(path: Path, match: str):
    """Expect an InputError whose message starts with the file and states the problem."""
    return pytest.raises(InputError, match=rf"^{re.escape(str(path))}: .*{match}")


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["flo", "pfm", "npy", "npz"])
def test_round_trip_exact(tmp_path, fmt):
    flow = random_flow()
    original = flow.copy()
    path = tmp_path / f"f.{fmt}"
    write_flow(path, flow)
    back = read_flow(path)
    assert back.dtype == np.float32 and back.shape == (7, 11, 2)
    np.testing.assert_array_equal(back, flow)
    np.testing.assert_array_equal(flow, original)  # input untouched
    assert [p.name for p in tmp_path.iterdir()] == [f"f.{fmt}"]  # no temporary left behind


def test_round_trip_kitti_within_a_64th(tmp_path):
    flow = random_flow()
    path = tmp_path / "f.png"
    write_flow(path, flow)
    back, valid = read_flow_with_valid(path)
    assert back.dtype == np.float32 and back.shape == flow.shape
    assert valid.all()
    assert np.abs(back - flow).max() <= 1 / 64
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint16 and image.shape == (7, 11, 3)
    # KITTI layout (RGB on disk, BGR in OpenCV): red = u, green = v, blue = valid flag.
    np.testing.assert_array_equal(image[:, :, 0], 1)
    np.testing.assert_array_equal(image[:, :, 2], np.round(flow[:, :, 0] * 64 + 2**15))


def test_kitti_valid_mask_and_zero_at_invalid(tmp_path):
    flow = random_flow()
    valid = np.random.default_rng(1).random((7, 11)) > 0.3
    path = tmp_path / "f.png"
    write_kitti_flow(path, flow, valid)
    back, mask = read_kitti_flow(path)
    np.testing.assert_array_equal(mask, valid)
    assert np.abs(back[valid] - flow[valid]).max() <= 1 / 64
    assert (back[~valid] == 0).all()
    np.testing.assert_array_equal(read_flow(path), back)


def test_kitti_out_of_range(tmp_path):
    flow = np.zeros((3, 4, 2), np.float32)
    flow[1, 1, 0] = 600
    with raises_naming(tmp_path / "f.png", "KITTI PNG range"):
        write_flow(tmp_path / "f.png", flow)
    assert not list(tmp_path.iterdir())


def test_flo_layout_and_unknown_values(tmp_path):
    flow = random_flow(3, 5)
    flow[0, 0] = (1e10, 0.0)  # Middlebury ground truth: unknown flow
    path = tmp_path / "f.flo"
    path.write_bytes(struct.pack("<fii", 202021.25, 5, 3) + flow.astype("<f4").tobytes())
    back, valid = read_flow_with_valid(path)
    assert not valid[0, 0] and valid.sum() == 14
    assert (back[0, 0] == 0).all()
    np.testing.assert_array_equal(back[valid], flow[valid])


def test_pfm_big_endian_bottom_to_top_three_channels(tmp_path):
    flow = random_flow(4, 6)
    rgb = np.concatenate([flow, np.full((4, 6, 1), 7.0, np.float32)], axis=2)
    path = tmp_path / "f.pfm"
    path.write_bytes(b"PF\n6 4\n1.0\n" + rgb[::-1].astype(">f4").tobytes())
    np.testing.assert_array_equal(read_flow(path), flow)


@pytest.mark.parametrize("layout", ["hw2", "2hw"])
def test_npy_layouts(tmp_path, layout):
    flow = random_flow(5, 9)
    array = flow if layout == "hw2" else flow.transpose(2, 0, 1)
    np.save(tmp_path / "f.npy", array.astype(np.float64))
    np.testing.assert_array_equal(read_flow(tmp_path / "f.npy"), flow)


def test_npz_single_array_and_flow_key(tmp_path):
    flow = random_flow()
    np.savez(tmp_path / "single.npz", anything=flow)
    np.savez(tmp_path / "keyed.npz", flow=flow, other=np.zeros(3))
    np.testing.assert_array_equal(read_flow(tmp_path / "single.npz"), flow)
    np.testing.assert_array_equal(read_flow(tmp_path / "keyed.npz"), flow)


def test_upper_case_extension(tmp_path):
    write_flow(tmp_path / "f.FLO", random_flow())
    np.testing.assert_array_equal(read_flow(tmp_path / "f.FLO"), random_flow())


# --- corrupt input ------------------------------------------------------------------------------


def test_missing_file_and_folder(tmp_path):
    with raises_naming(tmp_path / "nope.flo", "does not exist"):
        read_flow(tmp_path / "nope.flo")
    (tmp_path / "dir.flo").mkdir()
    with raises_naming(tmp_path / "dir.flo", "not a file"):
        read_flow(tmp_path / "dir.flo")


def test_unknown_extension(tmp_path):
    path = tmp_path / "f.xyz"
    path.write_bytes(b"1234")
    with raises_naming(path, "unknown flow format '.xyz'"):
        read_flow(path)
    with raises_naming(path, "unknown flow format"):
        write_flow(path, random_flow())


def flo_bytes(flow: np.ndarray, magic: float = 202021.25) -> bytes:
    height, width = flow.shape[:2]
    return struct.pack("<fii", magic, width, height) + flow.astype("<f4").tobytes()


@pytest.mark.parametrize(
    "case, match",
    [
        ("magic", "bad .flo magic"),
        ("truncated", "needs 616 data bytes, found 600"),
        ("oversized", "needs 616 data bytes, found 620"),
        ("header", "truncated .flo"),
        ("size", "invalid .flo size"),
        ("nan", "non-finite"),
        ("inf", "non-finite"),
    ],
)
def test_corrupt_flo(tmp_path, case, match):
    flow = random_flow()
    data = flo_bytes(flow)
    if case == "magic":
        data = flo_bytes(flow, magic=1.0)
    elif case == "truncated":
        data = data[:-16]
    elif case == "oversized":
        data = data + b"\0" * 4
    elif case == "header":
        data = data[:8]
    elif case == "size":
        data = struct.pack("<fii", 202021.25, -3, 7) + data[12:]
    elif case in ("nan", "inf"):
        flow[2, 3, 1] = np.nan if case == "nan" else np.inf
        data = flo_bytes(flow)
    path = tmp_path / "f.flo"
    path.write_bytes(data)
    with raises_naming(path, match):
        read_flow(path)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"P6\n6 4\n255\n" + bytes(72), "bad PFM header"),
        (b"Pf\n6 4\n-1\n" + bytes(96), "single-channel"),
        (b"PF\n6 4\n-1\n" + bytes(100), "needs 288 data bytes, found 100"),
        (b"PF\n6 4\n0\n" + bytes(288), "invalid PFM header"),
        (b"PF\n6 4\n-1\n" + np.full(72, np.nan, "<f4").tobytes(), "non-finite"),
    ],
)
def test_corrupt_pfm(tmp_path, data, match):
    path = tmp_path / "f.pfm"
    path.write_bytes(data)
    with raises_naming(path, match):
        read_flow(path)


def test_corrupt_kitti(tmp_path):
    path = tmp_path / "eight_bit.png"
    cv2.imwrite(str(path), np.zeros((4, 5, 3), np.uint8))
    with raises_naming(path, "expected 16-bit, 3 channels, got uint8"):
        read_flow(path)
    write_flow(tmp_path / "good.png", random_flow())
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes((tmp_path / "good.png").read_bytes()[:40])
    with raises_naming(truncated, "cannot decode PNG"):
        read_flow(truncated)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((4, 5, 3), np.float32), r"expected a flow array \(H, W, 2\) or \(2, H, W\)"),
        (np.zeros((4, 5), np.float32), "expected a flow array"),
        (np.array([[["a", "b"]]]), "unsupported dtype"),
        (np.full((3, 4, 2), np.inf), "non-finite"),
    ],
)
def test_corrupt_npy(tmp_path, array, match):
    path = tmp_path / "f.npy"
    np.save(path, array)
    with raises_naming(path, match):
        read_flow(path)


def test_npy_garbage_and_pickled(tmp_path):
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy at all")
    with raises_naming(garbage, "not a NumPy .npy array"):
        read_flow(garbage)
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with raises_naming(pickled, "Python objects"):
        read_flow(pickled)


def test_corrupt_npz(tmp_path):
    ambiguous = tmp_path / "ambiguous.npz"
    np.savez(ambiguous, a=random_flow(), b=random_flow())
    with raises_naming(ambiguous, r"no array named 'flow' and 2 arrays \(a, b\)"):
        read_flow(ambiguous)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 broken zip")
    with raises_naming(garbage, "not a readable .npz archive"):
        read_flow(garbage)


# --- what a header declares is checked before the data is read ---------------------------------


def npy_with_header(shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """An ``.npy`` whose header declares ``shape`` float32, followed by ``data`` only."""
    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + data


def test_npy_header_claiming_74_gib_is_refused_before_allocating(tmp_path, monkeypatch):
    path = tmp_path / "f.npy"
    path.write_bytes(npy_with_header((100_000, 100_000, 2), b"\0" * 64))

    def read_data(*args):
        raise AssertionError("the data was read")

    monkeypatch.setattr(numpy_arrays, "_read_data", read_data)
    with raises_naming(path, r"flow of 100000x100000 .*larger than the maximum of 16.8 Mpx"):
        read_flow(path)


def test_npy_truncated_within_the_bound(tmp_path):
    path = tmp_path / "f.npy"
    path.write_bytes(npy_with_header((4, 5, 2), b"\0" * 100))
    with raises_naming(
        path, r"truncated: the header declares 160 bytes of data, the file holds 100"
    ):
        read_flow(path)


def test_npz_bomb_is_refused_from_the_member_header(tmp_path):
    """A member that declares a huge flow is refused before it is inflated; one whose zip size
    disagrees with its header is corrupt."""
    path = tmp_path / "f.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("flow.npy", npy_with_header((30_000, 30_000, 2), bytes(1 << 20)))
    with raises_naming(path, r"flow of 30000x30000 .*maximum"):
        read_flow(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("flow.npy", npy_with_header((4, 5, 2), bytes(1 << 20)))
    with pytest.raises(InputError, match=r"\(array 'flow'\): corrupt: the header declares 160"):
        read_flow(path)


@pytest.mark.parametrize("shape", [(0, 5, 2), (4, 0, 2), (2, 0, 5)])
def test_empty_flow_is_an_error(tmp_path, shape):
    path = tmp_path / "f.npy"
    np.save(path, np.zeros(shape, np.float32))
    with raises_naming(path, "empty flow array"):
        read_flow(path)
    np.savez(tmp_path / "f.npz", flow=np.zeros(shape, np.float32))
    with raises_naming(tmp_path / "f.npz", "empty flow array"):
        read_flow(tmp_path / "f.npz")


@pytest.mark.parametrize("fmt", ["flo", "pfm"])
def test_flo_and_pfm_headers_beyond_the_bound(tmp_path, fmt):
    path = tmp_path / f"f.{fmt}"
    if fmt == "flo":
        path.write_bytes(struct.pack("<fii", 202021.25, 9000, 9000) + bytes(64))
    else:
        path.write_bytes(b"PF\n9000 9000\n-1\n" + bytes(64))
    with raises_naming(path, r"flow of 9000x9000 \(81.0 Mpx\) is larger than the maximum"):
        read_flow(path)


def test_kitti_png_beyond_the_bound_is_refused_from_its_header(tmp_path):
    path = tmp_path / "f.png"
    image = np.zeros((2, 9000, 3), np.uint16)  # 9000 px wide: longer than MAX_SIDE
    cv2.imwrite(str(path), image)
    with raises_naming(path, r"flow of 9000x2 is longer than the maximum of 8192 px a side"):
        read_flow(path)


# --- writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FLOW_FORMATS)
def test_write_rejects_non_finite_and_leaves_nothing(tmp_path, fmt):
    flow = random_flow()
    flow[0, 0, 0] = np.nan
    with raises_naming(tmp_path / f"f.{fmt}", "non-finite"):
        write_flow(tmp_path / f"f.{fmt}", flow)
    assert not list(tmp_path.iterdir())


def test_write_bad_shape_and_missing_folder(tmp_path):
    with pytest.raises(ShapeError, match=r"\(H, W, 2\)"):
        write_flow(tmp_path / "f.flo", np.zeros((2, 4, 5), np.float32))
    with pytest.raises(InputError, match="does not exist"):
        write_flow(tmp_path / "missing" / "f.flo", random_flow())


def test_write_replaces_existing_file(tmp_path):
    path = tmp_path / "f.npy"
    write_flow(path, random_flow(seed=1))
    write_flow(path, random_flow(seed=2))
    np.testing.assert_array_equal(read_flow(path), random_flow(seed=2))
