"""Optical-flow files: Middlebury ``.flo``, KITTI/DSEC 16-bit ``.png``, ``.pfm``, ``.npy/.npz``.

In memory a flow read from or written to a file is a NumPy array ``(H, W, 2)`` float32, channel 0
= u (along x, columns), channel 1 = v (along y, rows), in pixels; `motionlayers.flow.to_tensor`
turns it into the package's ``(1, 2, H, W)`` tensor convention.

Unknown flow: KITTI/DSEC PNGs carry a valid flag per pixel; in the other formats a pixel whose
u or v has magnitude >= 1e9 is unknown (the Middlebury ground-truth convention). `read_flow`
returns 0 at unknown pixels; `read_flow_with_valid` also returns the boolean valid mask.

Every reader raises `InputError` naming the file and the problem (missing file, unknown extension,
bad magic or header, truncated or oversized data, wrong shape, empty flow, NaN or inf). Readers
check the size a header declares against the bytes present and against
`motionlayers.limits.MAX_FRAME_PIXELS` before they read the data, so a file cannot make them
allocate more than that. Every writer writes atomically (`atomic_path`): the file is complete or
absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import torch

from motionlayers.defaults import FLOW_FORMATS
from motionlayers.errors import InputError, ShapeError, check_finite
from motionlayers.io.atomic import atomic_path
from motionlayers.io.frames import image_size
from motionlayers.io.numpy_arrays import ArrayHeader, load_npy, load_npz, npz_keys
from motionlayers.limits import check_pixels

FLO_MAGIC = np.float32(202021.25)
FLO_UNKNOWN = 1e9  # Middlebury: |u| or |v| at least this means "unknown flow"
KITTI_SCALE = 64.0
KITTI_OFFSET = 2.0**15
KITTI_MAX = (65535 - KITTI_OFFSET) / KITTI_SCALE  # largest |u|, |v| a KITTI PNG can store
_PFM_HEADER = re.compile(rb"^(PF|Pf)\s+(\d+)\s+(\d+)\s+([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s")


def read_flow(path: str | Path) -> np.ndarray:
    """Read a flow file; the format comes from the extension (see `FLOW_FORMATS`).

    Returns:
        flow ``(H, W, 2)`` float32, u first, in pixels; 0 where the file marks flow unknown
        (KITTI valid flag 0; elsewhere |u| or |v| >= 1e9). `read_flow_with_valid` gives the mask.

    ``.npy``: an array ``(H, W, 2)``, or ``(2, H, W)`` (then transposed); when the last axis has
    size 2 the array is taken as ``(H, W, 2)``. ``.npz``: the array under key ``flow``, or the
    only array of the archive, with the same layouts. ``.pfm``: three channels (u, v, ignored).
    """
    return read_flow_with_valid(path)[0]


def read_flow_with_valid(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a flow file and its valid mask.

    Returns:
        flow ``(H, W, 2)`` float32 (0 where invalid) and valid ``(H, W)`` bool.
    """
    path = _existing_file(path)
    fmt = _format_of(path)
    if fmt == "png":
        return read_kitti_flow(path)
    try:
        if fmt == "flo":
            flow = _read_flo(path)
        elif fmt == "pfm":
            flow = _read_pfm(path)
        else:
            flow = _read_numpy(path, fmt)
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    check_finite(torch.from_numpy(flow), str(path))
    valid = (np.abs(flow) < FLO_UNKNOWN).all(axis=2)
    flow[~valid] = 0.0
    return flow, valid


def read_kitti_flow(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI/DSEC 16-bit PNG flow: ``u, v = (value - 2**15) / 64``, flag in channel 3.

    Returns:
        flow ``(H, W, 2)`` float32 (0 where the flag is 0) and valid ``(H, W)`` bool.
    """
    path = _existing_file(path)
    size = image_size(path)
    if size is not None:
        check_pixels(path, *size, what="flow")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(path, "cannot decode PNG (corrupt or truncated)")
    if image.dtype != np.uint16 or image.ndim != 3 or image.shape[2] != 3:
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise InputError(
            path,
            f"not a KITTI flow PNG: expected 16-bit, 3 channels, got {image.dtype} "
            f"with {channels} channel(s)",
        )
    # OpenCV returns BGR: blue = valid flag, green = v, red = u.
    valid = image[:, :, 0] > 0
    flow = (image[:, :, 2:0:-1].astype(np.float32) - KITTI_OFFSET) / KITTI_SCALE
    flow[~valid] = 0.0
    return flow, valid


def write_flow(path: str | Path, flow: np.ndarray) -> None:
    """Write ``flow`` ``(H, W, 2)`` (finite, any float dtype, stored as float32) atomically.

    The format comes from the extension (see `FLOW_FORMATS`). ``.png`` writes KITTI 16-bit with
    every pixel valid (use `write_kitti_flow` for a mask), which rounds to 1/64 px and requires
    ``|u|, |v| <= 511.98``. ``.npy``/``.npz`` store ``(H, W, 2)`` float32 (``.npz`` under key
    ``flow``); ``.pfm`` stores three channels (u, v, 0).
    """
    path = Path(path)
    fmt = _format_of(path)
    flow = _checked_flow(path, flow)
    if fmt == "png":
        write_kitti_flow(path, flow)
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        if fmt == "flo":
            height, width = flow.shape[:2]
            handle.write(FLO_MAGIC.astype("<f4").tobytes())
            handle.write(np.array([width, height], dtype="<i4").tobytes())
            handle.write(flow.astype("<f4").tobytes())
        elif fmt == "pfm":
            height, width = flow.shape[:2]
            rgb = np.zeros((height, width, 3), dtype="<f4")
            rgb[:, :, :2] = flow
            handle.write(f"PF\n{width} {height}\n-1\n".encode("ascii"))
            handle.write(rgb[::-1].tobytes())  # PFM rows run bottom to top
        elif fmt == "npy":
            np.save(handle, flow)
        else:
            np.savez_compressed(handle, flow=flow)


def write_kitti_flow(path: str | Path, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a KITTI/DSEC 16-bit PNG atomically: ``value = round(64 u + 2**15)``, flag channel 3.

    Args:
        flow: ``(H, W, 2)`` finite, ``|u|, |v| <= 511.98`` px where valid.
        valid: ``(H, W)`` bool, default all True; invalid pixels are written as 0 flow, flag 0.
    """
    path = Path(path)
    flow = _checked_flow(path, flow)
    height, width = flow.shape[:2]
    if valid is None:
        valid = np.ones((height, width), dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != (height, width):
        raise ShapeError(f"valid: expected shape ({height}, {width}), got {valid.shape}")
    flow = np.where(valid[:, :, None], flow, 0.0)
    largest = float(np.abs(flow).max(initial=0.0))
    if largest > KITTI_MAX:
        raise InputError(
            path, f"flow reaches {largest:.1f} px, beyond the KITTI PNG range of ±{KITTI_MAX:.2f}"
        )
    image = np.empty((height, width, 3), dtype=np.uint16)
    image[:, :, 0] = valid
    image[:, :, 1:] = np.round(flow[:, :, ::-1] * KITTI_SCALE + KITTI_OFFSET)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise InputError(path, "OpenCV could not write the PNG")


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if not path.is_file():
        raise InputError(path, "is not a file")
    return path


def _format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FLOW_FORMATS:
        known = ", ".join(f".{f}" for f in FLOW_FORMATS)
        raise InputError(path, f"unknown flow format '{path.suffix}' (expected one of {known})")
    return fmt


def _checked_flow(path: Path, flow: np.ndarray) -> np.ndarray:
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ShapeError(f"{path}: flow to write must have shape (H, W, 2), got {flow.shape}")
    if not np.issubdtype(flow.dtype, np.number) or np.iscomplexobj(flow):
        raise InputError(path, f"flow to write has unsupported dtype {flow.dtype}")
    flow = np.ascontiguousarray(flow, dtype=np.float32)
    bad = int((~np.isfinite(flow)).sum())
    if bad:
        raise InputError(path, f"flow to write holds {bad} non-finite value(s) (NaN or inf)")
    return flow


def _check_size(path: Path, width: int, height: int, what: str) -> None:
    """An empty or oversized flow is refused from its header, before its data is read."""
    if width <= 0 or height <= 0:
        raise InputError(path, f"invalid {what} size {width}x{height} (an empty flow)")
    check_pixels(path, width, height, what="flow")


def _read_flo(path: Path) -> np.ndarray:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12:
            raise InputError(path, f"truncated .flo: {len(header)} bytes, header needs 12")
        magic = np.frombuffer(header[:4], dtype="<f4")[0]
        if magic != FLO_MAGIC:
            raise InputError(path, f"bad .flo magic number {float(magic):g} (expected 202021.25)")
        width, height = (int(v) for v in np.frombuffer(header[4:12], dtype="<i4"))
        _check_size(path, width, height, ".flo")
        expected = width * height * 2 * 4
        if size - 12 != expected:
            raise InputError(
                path, f".flo of {width}x{height} needs {expected} data bytes, found {size - 12}"
            )
        data = handle.read(expected)
    return np.frombuffer(data, dtype="<f4").reshape(height, width, 2).astype(np.float32)


def _read_pfm(path: Path) -> np.ndarray:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        match = _PFM_HEADER.match(handle.read(256))
        if match is None:
            raise InputError(path, "bad PFM header (expected 'PF', width, height, scale)")
        if match.group(1) == b"Pf":
            raise InputError(path, "single-channel PFM ('Pf') cannot hold flow; expected 'PF'")
        width, height, scale = int(match.group(2)), int(match.group(3)), float(match.group(4))
        _check_size(path, width, height, "PFM")
        if scale == 0:
            raise InputError(path, "invalid PFM header: scale 0")
        expected = width * height * 3 * 4
        found = size - match.end()
        if found != expected:
            raise InputError(
                path, f"PFM of {width}x{height} needs {expected} data bytes, found {found}"
            )
        handle.seek(match.end())
        data = handle.read(expected)
    dtype = "<f4" if scale < 0 else ">f4"  # negative scale means little-endian
    pixels = np.frombuffer(data, dtype=dtype).reshape(height, width, 3)
    return np.ascontiguousarray(pixels[::-1, :, :2], dtype=np.float32)


def _read_numpy(path: Path, fmt: str) -> np.ndarray:
    """``.npy`` / ``.npz`` flow, its header checked (`_check_flow_header`) before any data."""

    def check(header: ArrayHeader) -> None:
        _check_flow_header(path, header)

    if fmt == "npy":
        array = load_npy(path, check)
    else:
        keys = npz_keys(path)
        if "flow" in keys:
            key = "flow"
        elif len(keys) == 1:
            key = keys[0]
        elif not keys:
            raise InputError(path, "holds no array (an empty archive)")
        else:
            raise InputError(
                path, f"no array named 'flow' and {len(keys)} arrays ({', '.join(keys)})"
            )
        array = load_npz(path, key, check)
    if array.shape[0] == 2 and array.shape[2] != 2:
        array = array.transpose(1, 2, 0)
    return np.ascontiguousarray(array, dtype=np.float32)


def _check_flow_header(path: Path, header: ArrayHeader) -> None:
    """A flow array is numeric (not complex), ``(H, W, 2)`` or ``(2, H, W)``, not empty, and
    within `MAX_FRAME_PIXELS`."""
    dtype, shape = header.dtype, header.shape
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise InputError(path, f"flow array has unsupported dtype {dtype}")
    if len(shape) == 3 and shape[2] == 2:
        height, width = shape[:2]
    elif len(shape) == 3 and shape[0] == 2:
        height, width = shape[1:]
    else:
        raise InputError(path, f"expected a flow array (H, W, 2) or (2, H, W), got {shape}")
    if height == 0 or width == 0:
        raise InputError(path, f"empty flow array of shape {shape}")
    check_pixels(path, width, height, what="flow")
