"""HDF5 event files: the DSEC layout (and any x/y/t/p group) and the MVSEC layout.

DSEC (``events.h5``): datasets ``events/x``, ``events/y`` (uint16), ``events/p`` (0/1),
``events/t`` (microseconds relative to ``t_offset``), and at the root ``t_offset`` (int64,
microseconds) and ``ms_to_idx`` (not needed to read everything). Compressed with Blosc/zstd
filters from ``hdf5plugin``, imported with ``h5py`` (both come with the extra ``hdf5``). Time
origin: ``t + t_offset``, the absolute clock that DSEC's image and flow timestamps use. The files
carry no geometry (DSEC's cameras are 640x480), so ``sensor_size`` is required unless the file or
group has ``width`` and ``height`` attributes.

MVSEC (``*_data.hdf5``): ``davis/left/events`` (or ``davis/right/events``) of shape ``(N, 4)``
holding rows ``[x, y, t (seconds), p (-1/+1)]``. Time origin: the recording's ROS clock. No
geometry in the file (the DAVIS 346 is 346x260): ``sensor_size`` is required.

``group`` chooses the HDF5 group (or ``(N, 4)`` dataset) explicitly, e.g. ``"davis/right"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from motionlayers.errors import InputError
from motionlayers.io.event_container import Events
from motionlayers.io.event_formats._common import (
    SizeArg,
    assemble,
    polarity_pm1,
    resolve_sensor_size,
    seconds_to_us,
)

try:  # the optional extra `hdf5`; read_hdf5 says what to install when it is missing
    import h5py
    import hdf5plugin  # noqa: F401  (registers the Blosc / zstd filters DSEC files need)
except ImportError:
    h5py = None

HDF5_EXTRA = "reading HDF5 events needs h5py and hdf5plugin: pip install 'motionlayers[hdf5]'"

__all__ = ["read_hdf5"]

_XYTP = ("x", "y", "t", "p")
_MVSEC = ("davis/left/events", "davis/right/events")


def read_hdf5(path: str | Path, sensor_size: SizeArg = None, group: str | None = None) -> Events:
    """Read a DSEC-style (``x, y, t, p`` datasets) or MVSEC HDF5 file into `Events`."""
    if h5py is None:
        raise InputError(path, HDF5_EXTRA)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise InputError(path, f"not a readable HDF5 file: {error}") from None
    with handle:
        kind, node = _find(path, handle, group)
        try:
            if kind == "xytp":
                return _read_xytp(path, handle, node, sensor_size)
            return _read_mvsec(path, node, sensor_size)
        except OSError as error:  # a compression filter missing, or a truncated dataset
            raise InputError(path, f"cannot read the event datasets: {error}") from None


def _find(path: str | Path, handle: h5py.File, group: str | None) -> tuple[str, Any]:
    """("xytp", group) or ("rows", (N, 4) dataset) for the events in the file."""
    partial = ""
    for name in [group] if group else ["events", "/", *_MVSEC]:
        node = handle.get(name)
        if isinstance(node, h5py.Group):
            missing = [k for k in _XYTP if not isinstance(node.get(k), h5py.Dataset)]
            if not missing:
                return "xytp", node
            if len(missing) < len(_XYTP):
                partial = f"; group {node.name!r} lacks the dataset(s) {', '.join(missing)}"
            node = node.get("events")  # "davis/left" -> "davis/left/events"
        if isinstance(node, h5py.Dataset) and node.ndim == 2 and node.shape[1] == 4:
            return "rows", node
    if group:
        raise InputError(
            path, f"{group!r} holds neither x/y/t/p datasets nor (N, 4) events{partial}"
        )
    found: list[str] = []
    handle.visit(lambda name: None if len(found) >= 20 else found.append(name))
    raise InputError(
        path,
        "no events found: expected datasets events/{x,y,t,p} (DSEC) or davis/left/events "
        f"(MVSEC){partial}; the file holds {found}",
    )


def _geometry(*nodes: Any) -> tuple[int, int] | None:
    for node in nodes:
        if "width" in node.attrs and "height" in node.attrs:
            try:
                return int(node.attrs["width"]), int(node.attrs["height"])
            except (TypeError, ValueError):
                raise InputError(
                    node.file.filename, f"'{node.name}' width / height attributes are not integers"
                ) from None
    return None


def _numbers(path: str | Path, dataset: Any, ndim: int) -> np.ndarray:
    """The values of ``dataset`` once it is known to hold ``ndim``-D numbers (not a scalar, not
    strings), so that the readers never meet what they cannot convert."""
    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != ndim:
        shape = getattr(dataset, "shape", None)
        what = "a scalar" if shape == () else f"shape {shape}"
        raise InputError(path, f"'{dataset.name}' must be a {ndim}-D dataset, got {what}")
    if dataset.dtype.kind not in "biuf":
        raise InputError(path, f"'{dataset.name}' must hold numbers, got dtype {dataset.dtype}")
    return np.asarray(dataset[()])


def _read_xytp(path: str | Path, handle: Any, node: Any, sensor_size: SizeArg) -> Events:
    size = resolve_sensor_size(
        path, _geometry(node, handle), sensor_size, "DSEC's event cameras are 640x480"
    )
    x, y, t, p = (_numbers(path, node[k], 1) for k in _XYTP)
    if t.size and not np.issubdtype(t.dtype, np.integer):
        raise InputError(path, f"'{node.name}/t' must hold integer microseconds, got {t.dtype}")
    t = t.astype(np.int64)
    if "t_offset" in handle:
        offset = _numbers(path, handle["t_offset"], 0)
        if not np.issubdtype(offset.dtype, np.integer):
            raise InputError(path, f"'t_offset' must be integer microseconds, got {offset.dtype}")
        t = t + int(offset)
    return assemble(path, t, x, y, polarity_pm1(path, p), size)


def _read_mvsec(path: str | Path, node: Any, sensor_size: SizeArg) -> Events:
    size = resolve_sensor_size(path, None, sensor_size, "MVSEC's DAVIS 346 is 346x260")
    events = _numbers(path, node, 2)
    x, y, t, p = events.T
    return assemble(path, seconds_to_us(t), x, y, polarity_pm1(path, p), size)
