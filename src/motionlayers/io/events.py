"""Read and write event-camera recordings as the canonical `Events` record.

``read_events(path)`` recognises the format from the file's first bytes, else from its
extension, and returns validated `Events` (t int64 microseconds, x/y int32 with the origin at the
top-left, p int8 +1/-1, ``sensor_size = (W, H)``):

=========  ===========================================  ==========================================
format     files                                        geometry
=========  ===========================================  ==========================================
text       ``t x y p`` lines (ECD, EED, EVIMO, e2vid)   a first line ``W H``, else sensor_size
npz        ``t, x, y, p[, width, height]`` arrays;      width/height; EVIMO: its frame arrays
           EVIMO / EVIMO2v1 ``events`` (N, 4)
evimo2     EVIMO2v2 folder of ``dataset_events_*.npy``  its mask / depth frames, else sensor_size
hdf5       DSEC ``events/{x,y,t,p}`` + ``t_offset``;    sensor_size (DSEC 640x480, MVSEC 346x260)
           MVSEC ``davis/left/events`` (N, 4)
es         Event Stream 2.x, DVS or ATIS                in the header
raw        Prophesee EVT 2.0 / EVT 3.0                  "% geometry" / "% format", else sensor_size
aedat4     iniVation DV (LZ4 / Zstd need an extra)      in the header
=========  ===========================================  ==========================================

A file without geometry needs ``sensor_size=(W, H)`` (``--sensor-size WxH`` on the command
line); it is never guessed from the largest coordinates. Each format module documents its time
origin; no reader shifts times to start at zero.

``write_events(path, events)`` writes ``.npz``, ``.txt`` and ``.es`` (read back identically).
"""

from __future__ import annotations

from pathlib import Path

from motionlayers.errors import InputError
from motionlayers.io.event_container import Events
from motionlayers.io.event_formats import aedat4, event_stream, numpy_files, prophesee, text
from motionlayers.io.event_formats._common import SizeArg

__all__ = ["EVENT_FORMATS", "detect_event_format", "read_events", "write_events"]

EVENT_FORMATS = ("text", "npz", "evimo2", "hdf5", "es", "raw", "aedat4")
_MAGICS = (
    (event_stream.MAGIC, "es"),
    (aedat4.MAGIC, "aedat4"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"PK\x03\x04", "npz"),
    (b"% ", "raw"),
)
_SUFFIXES = {
    ".txt": "text",
    ".csv": "text",
    ".npz": "npz",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".es": "es",
    ".raw": "raw",
    ".aedat4": "aedat4",
}
_WRITERS = {".npz": numpy_files.write_npz, ".txt": text.write_text, ".es": event_stream.write_es}


def detect_event_format(path: str | Path) -> str:
    """The name (one of `EVENT_FORMATS`) of the event format of ``path``.

    Raises:
        InputError: the path does not exist or holds no recognised event format.
    """
    path = Path(path)
    if path.is_dir():
        if (path / numpy_files.EVIMO2_FILES[0]).is_file():
            return "evimo2"
        raise InputError(path, "a folder, but not an EVIMO2v2 sequence (dataset_events_t.npy)")
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.name in numpy_files.EVIMO2_FILES:
        return "evimo2"
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "text"
    raise InputError(path, f"unrecognised event file; readable formats: {', '.join(EVENT_FORMATS)}")


def read_events(
    path: str | Path,
    sensor_size: SizeArg = None,
    *,
    format: str | None = None,
    group: str | None = None,
    stream: int | None = None,
) -> Events:
    """Read an event recording into `Events`.

    Args:
        path: an event file, or an EVIMO2v2 sequence folder.
        sensor_size: ``(W, H)`` or ``"WxH"``; required when the file stores no geometry, and
            checked against the file's geometry when it does.
        format: one of `EVENT_FORMATS` to skip detection.
        group: HDF5 only: the group (or ``(N, 4)`` dataset) holding the events.
        stream: AEDAT4 only: the id of the event stream (default: the lowest).

    Returns:
        `Events` with ``t`` (N,) int64 us, ``x``/``y`` (N,) int32, ``p`` (N,) int8 in {-1, +1}.

    Raises:
        InputError: missing, unreadable, truncated or corrupt file (the message names it), or a
            missing / conflicting ``sensor_size``.
    """
    name = format or detect_event_format(path)
    if name == "text":
        return text.read_text(path, sensor_size)
    if name == "npz":
        return numpy_files.read_npz(path, sensor_size)
    if name == "evimo2":
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        return numpy_files.read_evimo2_folder(folder, sensor_size)
    if name == "hdf5":
        from motionlayers.io.event_formats import hdf5  # h5py is imported only when needed

        return hdf5.read_hdf5(path, sensor_size, group)
    if name == "es":
        return event_stream.read_es(path, sensor_size)
    if name == "raw":
        return prophesee.read_raw(path, sensor_size)
    if name == "aedat4":
        return aedat4.read_aedat4(path, sensor_size, stream)
    raise InputError("format", f"unknown event format {name!r}; known: {', '.join(EVENT_FORMATS)}")


def write_events(path: str | Path, events: Events) -> None:
    """Write `Events` to ``.npz``, ``.txt`` or ``.es`` (chosen by the suffix), atomically.

    ``read_events`` gives back the same arrays and sensor size (``.es`` and ``.txt`` need
    timestamps >= 0).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITERS:
        raise InputError(path, f"cannot write events as {suffix or 'no suffix'}; use .npz .txt .es")
    if not isinstance(events, Events):
        raise InputError("events", f"expected an Events record, got {type(events).__name__}")
    _WRITERS[suffix](path, events)
