"""NumPy event files: plain ``.npz`` (read and written) and the EVIMO / EVIMO2 layouts.

Plain ``.npz`` (as the ``*.decoded.npz`` reference files): arrays ``t`` (integer microseconds),
``x``, ``y`` (columns, rows from the top-left), ``p`` (0/1 or -1/+1), and optionally scalars
``width`` and ``height``. Written with t int64, x and y uint16, p int8 in {0, 1}.

EVIMO and EVIMO2v1 (one ``.npz`` per sequence): ``events`` of shape ``(N, 4)`` holding rows
``[t (seconds), x, y, p (0/1)]``; the geometry is the ``(H, W)`` of the ``mask`` (or ``depth``,
``classical``) frames, read from the array header only.

EVIMO2v2 (one folder per sequence): ``dataset_events_t.npy`` (``(N,)`` seconds),
``dataset_events_xy.npy`` (``(N, 2)`` x, y), ``dataset_events_p.npy`` (``(N,)`` 0/1); the geometry
is the ``(H, W)`` of the first frame in ``dataset_mask.npz`` (or ``dataset_depth.npz``,
``dataset_classical.npz``). ``dataset_info.npz`` is not opened: its ``meta`` needs unpickling,
which can run code from the file. EVIMO2's Samsung camera has the opposite polarity convention to
Prophesee; polarities are kept as stored.

Time origin: the file's own (EVIMO times are seconds since the sequence start).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.event_container import Events
from motionlayers.io.event_formats._common import (
    SizeArg,
    assemble,
    polarity_pm1,
    resolve_sensor_size,
    seconds_to_us,
)
from motionlayers.io.numpy_arrays import ArrayHeader, load_npy, load_npz, npz_keys

__all__ = ["read_npz", "read_evimo2_folder", "write_npz", "EVIMO2_FILES"]

EVIMO2_FILES = ("dataset_events_t.npy", "dataset_events_xy.npy", "dataset_events_p.npy")
_FRAME_KEYS = ("mask", "depth", "classical")


def _npz_member_shape(path: str | Path, prefix: str) -> tuple[int, ...] | None:
    """Shape of the first ``prefix*.npy`` array in an ``.npz``, read from its header alone."""
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".npy"))
        if not names:
            return None
        with archive.open(names[0]) as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape = np.lib.format.read_array_header_1_0(handle)[0]
            else:
                shape = np.lib.format.read_array_header_2_0(handle)[0]
    return tuple(int(s) for s in shape)


def _frame_geometry(path: str | Path, prefixes: tuple[str, ...]) -> tuple[int, int] | None:
    """(W, H) from the trailing ``(H, W)`` of the first frame array found."""
    for prefix in prefixes:
        shape = _npz_member_shape(path, prefix)
        if shape is not None and len(shape) >= 2:
            return shape[-1], shape[-2]
    return None


def read_npz(path: str | Path, sensor_size: SizeArg = None) -> Events:
    """Read a plain event ``.npz`` or an EVIMO / EVIMO2v1 sequence ``.npz`` into `Events`.

    Each array's header is checked (numbers, the expected number of dimensions, its declared
    size matching the archive) before its data is read (`motionlayers.io.numpy_arrays`).
    """
    keys = set(npz_keys(path))
    if {"t", "x", "y", "p"} <= keys:
        return _read_plain(path, keys, sensor_size)
    if "events" in keys:
        events = _load(path, "events", 2)
        if events.shape[1] != 4:
            raise InputError(path, f"EVIMO 'events' must be (N, 4), got {events.shape}")
        size = resolve_sensor_size(path, _frame_geometry(path, _FRAME_KEYS), sensor_size)
        t, x, y, p = events.T
        return assemble(path, seconds_to_us(t), x, y, polarity_pm1(path, p), size)
    raise InputError(
        path,
        f"no event arrays: expected t, x, y, p (or EVIMO's 'events'), found {sorted(keys)}",
    )


def _numbers(path: str | Path, key: str, ndim: int | None) -> Callable[[ArrayHeader], None]:
    """A header check: numbers, in ``ndim`` dimensions (None: a single value)."""

    def check(header: ArrayHeader) -> None:
        if header.dtype.kind not in "biuf":
            raise InputError(path, f"'{key}' must hold numbers, got dtype {header.dtype}")
        if ndim is None and int(np.prod(header.shape)) != 1:
            raise InputError(path, f"'{key}' must be a single value, got shape {header.shape}")
        if ndim is not None and len(header.shape) != ndim:
            raise InputError(path, f"'{key}' must have {ndim} dimension(s), got {header.shape}")

    return check


def _load(path: str | Path, key: str, ndim: int | None) -> np.ndarray:
    """Array ``key`` of an ``.npz``, its header checked by `_numbers` before it is read."""
    return load_npz(path, key, _numbers(path, key, ndim))


def _read_plain(path: str | Path, keys: set[str], sensor_size: SizeArg) -> Events:
    geometry = None
    if "width" in keys and "height" in keys:
        geometry = (int(_load(path, "width", None).item()), int(_load(path, "height", None).item()))
    size = resolve_sensor_size(path, geometry, sensor_size)
    t = _load(path, "t", 1)
    if t.size and not np.issubdtype(t.dtype, np.integer):
        raise InputError(path, f"'t' must hold integer microseconds, got {t.dtype}")
    x, y, p = (_load(path, k, 1) for k in ("x", "y", "p"))
    return assemble(path, t.astype(np.int64), x, y, polarity_pm1(path, p), size)


def read_evimo2_folder(path: str | Path, sensor_size: SizeArg = None) -> Events:
    """Read an EVIMO2v2 sequence folder (``dataset_events_*.npy``) into `Events`."""
    folder = Path(path)
    missing = [name for name in EVIMO2_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(folder, f"not an EVIMO2v2 sequence folder: missing {', '.join(missing)}")
    geometry = None
    for name in ("dataset_mask.npz", "dataset_depth.npz", "dataset_classical.npz"):
        if (folder / name).is_file():
            geometry = _frame_geometry(folder / name, ("mask_", "depth_", "classical_"))
            if geometry is not None:
                break
    size = resolve_sensor_size(folder, geometry, sensor_size)
    t, xy, p = (
        load_npy(folder / name, _numbers(folder / name, name, ndim))
        for name, ndim in zip(EVIMO2_FILES, (1, 2, 1))
    )
    if xy.shape[1] != 2:
        raise InputError(folder / EVIMO2_FILES[1], f"expected shape (N, 2), got {xy.shape}")
    return assemble(
        folder,
        seconds_to_us(t.reshape(-1)),
        xy[:, 0],
        xy[:, 1],
        polarity_pm1(folder, p.reshape(-1)),
        size,
    )


def write_npz(path: str | Path, events: Events) -> None:
    """Write `Events` as a plain ``.npz`` like the ``*.decoded.npz`` files (p stored as 0/1)."""
    coord = np.uint16 if max(events.sensor_size) <= 1 << 16 else np.int32
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            t=events.t.astype(np.int64),
            x=events.x.astype(coord),
            y=events.y.astype(coord),
            p=(events.p > 0).astype(np.int8),
            width=np.int64(events.width),
            height=np.int64(events.height),
        )
