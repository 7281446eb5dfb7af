"""Mask PNG reading and writing: palette, label round trips, binary and colour masks, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.masks import (
    DAVIS_PALETTE,
    list_masks,
    read_mask,
    resize_mask,
    write_mask,
)


def test_davis_palette_known_colours() -> None:
    assert DAVIS_PALETTE.shape == (256, 3) and DAVIS_PALETTE.dtype == np.uint8
    assert DAVIS_PALETTE[0].tolist() == [0, 0, 0]
    assert DAVIS_PALETTE[1].tolist() == [128, 0, 0]
    assert DAVIS_PALETTE[2].tolist() == [0, 128, 0]
    assert DAVIS_PALETTE[3].tolist() == [128, 128, 0]
    assert DAVIS_PALETTE[4].tolist() == [0, 0, 128]
    assert DAVIS_PALETTE[8].tolist() == [64, 0, 0]
    assert DAVIS_PALETTE[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in DAVIS_PALETTE.tolist()}) == 256


def test_write_read_round_trip_is_indexed_png(tmp_path: Path) -> None:
    labels = np.arange(12 * 7).reshape(12, 7) % 5
    write_mask(tmp_path / "a.png", labels)
    with Image.open(tmp_path / "a.png") as image:
        assert image.mode == "P"
        palette = np.array((image.getpalette() or [])[:15]).reshape(5, 3)
    assert palette.tolist() == DAVIS_PALETTE[:5].tolist()
    back = read_mask(tmp_path / "a.png")
    assert back.dtype == np.int64 and back.shape == (12, 7)
    np.testing.assert_array_equal(back, labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temporary left


def test_write_accepts_torch_and_bool(tmp_path: Path) -> None:
    write_mask(tmp_path / "t.png", torch.tensor([[0, 3], [2, 1]]))
    np.testing.assert_array_equal(read_mask(tmp_path / "t.png"), [[0, 3], [2, 1]])
    write_mask(tmp_path / "b.png", np.array([[True, False]]))
    np.testing.assert_array_equal(read_mask(tmp_path / "b.png"), [[1, 0]])


@settings(max_examples=25, deadline=None)
@given(
    labels=hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=9), elements=st.integers(0, 254)
    )
)
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, labels: np.ndarray) -> None:
    path = tmp_path_factory.mktemp("masks") / "m.png"
    write_mask(path, labels)
    np.testing.assert_array_equal(read_mask(path), labels)


def test_binary_0_255_reads_as_0_1(tmp_path: Path) -> None:
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 3:6] = 255
    cv2.imwrite(str(tmp_path / "bin.png"), mask)
    cv2.imwrite(str(tmp_path / "bin.bmp"), mask)
    for name in ("bin.png", "bin.bmp"):
        np.testing.assert_array_equal(read_mask(tmp_path / name), mask // 255)


def test_grey_labels_are_kept(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2], [3, 255, 7]], np.uint8)  # not binary: 255 stays 255
    cv2.imwrite(str(tmp_path / "g.png"), labels)
    np.testing.assert_array_equal(read_mask(tmp_path / "g.png"), labels)
    wide = np.array([[0, 300], [1000, 2]], np.uint16)
    cv2.imwrite(str(tmp_path / "w.png"), wide)
    np.testing.assert_array_equal(read_mask(tmp_path / "w.png"), wide)


def test_one_bit_png(tmp_path: Path) -> None:
    Image.fromarray(np.array([[True, False], [False, True]])).save(tmp_path / "one.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "one.png"), [[1, 0], [0, 1]])


def test_rgb_palette_colours_map_to_indices(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2], [3, 20, 255]])
    rgb = DAVIS_PALETTE[labels]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), labels)
    Image.fromarray(np.dstack([rgb, np.full(labels.shape, 255, np.uint8)])).save(
        tmp_path / "rgba.png"
    )
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), labels)


def test_rgb_other_colours_are_numbered_black_first(tmp_path: Path) -> None:
    rgb = np.array([[[0, 0, 0], [10, 200, 30]], [[255, 255, 255], [10, 200, 30]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    # packed values: black 0 < (10, 200, 30) < white
    np.testing.assert_array_equal(read_mask(tmp_path / "c.png"), [[0, 1], [2, 1]])


def test_grey_rgb_reads_as_grey(tmp_path: Path) -> None:
    grey = np.array([[0, 255], [255, 0]], np.uint8)
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "g.png"), [[0, 1], [1, 0]])


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.png"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="bad.png.*cannot decode"):
        read_mask(tmp_path / "bad.png")


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\[0, 255\]"):
        write_mask(tmp_path / "a.png", np.array([[0, 256]]))
    with pytest.raises(InputError, match=r"\[0, 255\]"):
        write_mask(tmp_path / "a.png", np.array([[-1, 2]]))
    with pytest.raises(ShapeError):
        write_mask(tmp_path / "a.png", np.zeros((2, 2, 2), int))
    with pytest.raises(InputError, match="integers"):
        write_mask(tmp_path / "a.png", np.zeros((2, 2), float))
    with pytest.raises(InputError, match="does not exist"):
        write_mask(tmp_path / "nowhere" / "a.png", np.zeros((2, 2), int))
    assert not (tmp_path / "a.png").exists()


def test_list_masks_natural_order_and_errors(tmp_path: Path) -> None:
    for name in ("f10.png", "f2.png", "f1.bmp", "notes.txt", "x.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert [s for s, _ in list_masks(tmp_path)] == ["f1", "f2", "f10"]
    (tmp_path / "f2.bmp").write_bytes(b"")
    with pytest.raises(InputError, match="same stem"):
        list_masks(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        list_masks(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mask images"):
        list_masks(tmp_path / "empty")


def test_natural_key() -> None:
    from motionlayers.io.listing import natural_key

    names = ["a10", "a2", "a1b", "b", "a1", "10", "2"]
    assert sorted(names, key=natural_key) == ["2", "10", "a1", "a1b", "a2", "a10", "b"]


def test_resize_mask_nearest_keeps_labels() -> None:
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    up = resize_mask(labels, 4, 6)
    assert up.shape == (4, 6) and up.dtype == np.uint8
    np.testing.assert_array_equal(up[:2, :3], 0)
    np.testing.assert_array_equal(up[2:, 3:], 3)
    big = np.array([[0, 70000]], np.int64)
    assert set(np.unique(resize_mask(big, 3, 5)).tolist()) == {0, 70000}
    assert resize_mask(labels, 2, 2) is labels


def test_mask_beyond_the_bound_is_refused_before_decoding(tmp_path: Path) -> None:
    """A mask 9000 px wide (longer than `MAX_SIDE`) is refused from its header, by the stated
    bound; Pillow alone would decode it."""
    path = tmp_path / "big.png"
    Image.new("L", (9000, 1)).save(path)
    with pytest.raises(InputError, match=r"big\.png: mask of 9000x1 is longer than the maximum"):
        read_mask(path)
