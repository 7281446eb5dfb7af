"""Label masks on disk: indexed PNGs with the DAVIS palette (label 0 first, black).

In memory a mask is a label map ``(H, W)`` int64 in ``[0, K)``; on disk it is an 8-bit indexed
(palette) PNG whose pixel values are the labels, so any viewer shows the DAVIS colours and any
reader gets the labels back unchanged.

`read_mask` accepts what benchmarks ship, all as ``(H, W)`` int64 labels:

- indexed PNGs (DAVIS-2017 annotations, our own outputs): the palette indices;
- grey PNGs/BMPs (8 or 16 bits, or 1-bit): the grey values, except that a binary mask whose
  values are ``{0, 255}`` (DAVIS-2016, SegTrackV2) reads as ``{0, 1}``; the same holds for any
  mode, so a mask holding only 0 and 255 is always read as binary;
- colour (RGB) PNGs: grey ones (R = G = B everywhere) as grey; otherwise, when every colour is a
  DAVIS palette colour, its palette index; otherwise the distinct colours numbered by their packed
  value ``R << 16 | G << 8 | B``, black first (so black is 0 when present). An alpha channel is
  ignored.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.frames import open_bounded_image
from motionlayers.io.listing import list_by_stem

MASK_EXTENSIONS = (".png", ".bmp")
"""Lossless image extensions a mask folder may hold (case-insensitive)."""


def davis_palette(n: int = 256) -> np.ndarray:
    """The DAVIS (PASCAL VOC) colour map: ``(n, 3)`` uint8 RGB, index 0 black, 1 dark red, ...

    Colour ``i`` spreads the bits of ``i`` over the channels, three at a time, from the most
    significant bit of each channel down; the 256 colours are distinct.
    """
    index = np.arange(n, dtype=np.int64)
    colours = np.zeros((n, 3), dtype=np.int64)
    for shift in range(8):
        bits = index >> (3 * shift)
        for channel in range(3):
            colours[:, channel] |= ((bits >> channel) & 1) << (7 - shift)
    return colours.astype(np.uint8)


DAVIS_PALETTE = davis_palette()
"""``(256, 3)`` uint8 RGB: the palette written into every mask PNG."""

_PACKED_PALETTE = (
    DAVIS_PALETTE[:, 0].astype(np.int64) << 16
    | DAVIS_PALETTE[:, 1].astype(np.int64) << 8
    | DAVIS_PALETTE[:, 2].astype(np.int64)
)
_PALETTE_ORDER = np.argsort(_PACKED_PALETTE)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask image as ``(H, W)`` int64 labels (see the module docstring for the rules)."""
    return read_mask_compact(path).astype(np.int64)


def read_mask_compact(path: str | Path) -> np.ndarray:
    """Like `read_mask` but in the smallest unsigned dtype that holds the labels (uint8 mostly).

    Evaluation reads thousands of masks; keeping them in uint8 saves memory and time.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist" if not path.exists() else "not a file")
    try:
        with open_bounded_image(path, "mask") as image:  # refused from its header if too large
            image.load()
            labels = _labels_from_image(image, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise InputError(path, f"cannot decode mask image ({error})") from error
    return _binary_to_01(labels)


def write_mask(path: str | Path, labels: np.ndarray | torch.Tensor) -> None:
    """Write ``(H, W)`` integer labels in ``[0, 255]`` as an indexed PNG, atomically.

    The DAVIS palette is embedded, so label 0 shows black, 1 dark red, 2 green, and so on.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ShapeError(f"{path}: expected labels of shape (H, W), got {labels.shape}")
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(path, f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise InputError(
            path,
            f"labels must lie in [0, 255] for an indexed PNG, got [{labels.min()}, {labels.max()}]",
        )
    image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="P")
    image.putpalette(DAVIS_PALETTE.reshape(-1).tolist())
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=1)  # fast; labels compress well anyway


def list_masks(folder: str | Path) -> list[tuple[str, Path]]:
    """List the mask images (``.png``, ``.bmp``) of ``folder`` as ``(stem, path)``, natural order.

    Raises:
        InputError: the folder is missing or holds no mask image, or two masks share a stem.
    """
    return list_by_stem(folder, MASK_EXTENSIONS, "mask images")


def _labels_from_image(image: Image.Image, path: Path) -> np.ndarray:
    mode = image.mode
    if mode in ("P", "PA"):
        return np.asarray(image.getchannel(0) if mode == "PA" else image)
    if mode == "1":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("L", "LA"):
        return np.asarray(image.getchannel(0) if mode == "LA" else image)
    if mode.startswith("I"):
        values = np.asarray(image)
        if values.size and values.min() < 0:
            raise InputError(path, "mask holds negative values")
        return _compact(values.astype(np.int64))
    if mode in ("RGB", "RGBA"):
        return _labels_from_rgb(np.asarray(image)[..., :3])
    raise InputError(path, f"unsupported image mode {mode!r} for a mask")


def _labels_from_rgb(rgb: np.ndarray) -> np.ndarray:
    red, green, blue = (rgb[..., c] for c in range(3))
    if np.array_equal(red, green) and np.array_equal(red, blue):
        return np.ascontiguousarray(red)
    packed = red.astype(np.int64) << 16 | green.astype(np.int64) << 8 | blue.astype(np.int64)
    colours, inverse = np.unique(packed, return_inverse=True)
    position = np.searchsorted(_PACKED_PALETTE, colours, sorter=_PALETTE_ORDER)
    position = np.minimum(position, len(_PALETTE_ORDER) - 1)
    index = _PALETTE_ORDER[position]
    if np.array_equal(_PACKED_PALETTE[index], colours):
        labels = index[inverse]
    else:  # not a palette image: number the colours, black (packed 0) first when present
        labels = inverse
    return _compact(labels.reshape(packed.shape))


def _compact(labels: np.ndarray) -> np.ndarray:
    top = int(labels.max()) if labels.size else 0
    if top < 256:
        return labels.astype(np.uint8)
    if top < 65536:
        return labels.astype(np.uint16)
    return labels.astype(np.int64)


def _binary_to_01(labels: np.ndarray) -> np.ndarray:
    """Map a ``{0, 255}`` mask to ``{0, 1}``; leave any other label map unchanged."""
    if labels.size == 0 or labels.max() != 255:
        return labels
    foreground = labels == 255
    if np.count_nonzero(labels) != np.count_nonzero(foreground):
        return labels
    return foreground.view(np.uint8)


def resize_mask(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``(H, W)`` labels to ``(height, width)`` by nearest neighbour (labels unchanged).

    Uses OpenCV's ``INTER_NEAREST`` (source pixel ``floor(i * H / height)``, as PyTorch's
    ``nearest``); the dtype is kept (int64 goes through int32).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ShapeError(f"labels: expected shape (H, W), got {labels.shape}")
    if labels.shape == (height, width):
        return labels
    work = labels
    if labels.dtype == np.bool_:
        work = labels.view(np.uint8)
    elif labels.dtype not in (np.uint8, np.uint16, np.int16, np.int32):
        work = labels.astype(np.int32)
    out = cv2.resize(work, (width, height), interpolation=cv2.INTER_NEAREST)
    return out.astype(labels.dtype, copy=False)
