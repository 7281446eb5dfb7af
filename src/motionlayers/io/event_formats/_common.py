"""Helpers shared by the event readers: sensor size, polarity and time conversions, assembly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.event_container import Events, parse_sensor_size

SizeArg = tuple[int, int] | str | None


def resolve_sensor_size(
    path: str | Path,
    in_file: tuple[int, int] | None,
    given: SizeArg,
    hint: str = "",
) -> tuple[int, int]:
    """The sensor ``(W, H)``: the file's own geometry, else ``given``; both must agree.

    Raises:
        InputError: the file has no geometry and none was given, or the two disagree.
    """
    asked = None if given is None else parse_sensor_size(given)
    if in_file is not None and asked is not None and tuple(in_file) != asked:
        raise InputError(
            path,
            f"sensor_size (W, H) = {asked} disagrees with the file's own geometry {tuple(in_file)}",
        )
    if in_file is not None:
        return parse_sensor_size(in_file, str(path))
    if asked is None:
        extra = f" ({hint})" if hint else ""
        raise InputError(
            path,
            "the file does not store the sensor geometry; pass sensor_size=(W, H) "
            f"(on the command line: --sensor-size WxH){extra}",
        )
    return asked


def polarity_pm1(path: str | Path, p: np.ndarray) -> np.ndarray:
    """``(N,)`` int8 in {-1, +1} from polarities stored as {0, 1}, {False, True} or {-1, +1}."""
    values = np.asarray(p)
    if values.size == 0:
        return np.zeros(0, dtype=np.int8)
    low, high = values.min(), values.max()
    if low >= 0 and high <= 1 and np.all((values == 0) | (values == 1)):
        return np.where(values > 0, 1, -1).astype(np.int8)
    if np.all((values == 1) | (values == -1)):
        return values.astype(np.int8)
    raise InputError(path, f"polarity must be 0/1 or -1/+1, got values in [{low}, {high}]")


def seconds_to_us(t_seconds: np.ndarray) -> np.ndarray:
    """``(N,)`` int64 microseconds, rounded to the nearest, from float seconds."""
    return np.rint(np.asarray(t_seconds, dtype=np.float64) * 1e6).astype(np.int64)


def assemble(
    path: str | Path,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    sensor_size: tuple[int, int],
) -> Events:
    """Validated `Events` from freshly decoded arrays (owned by the reader, never the caller's).

    Timestamps that go backwards (rare, from some cameras' firmware) are put in order by a stable
    sort, so that events with equal times keep their order in the file. Any validation problem
    becomes an `InputError` naming ``path``.
    """
    t = np.asarray(t)
    if len(t) > 1 and bool(np.any(t[1:] < t[:-1])):
        order = np.argsort(t, kind="stable")
        t, x, y, p = t[order], np.asarray(x)[order], np.asarray(y)[order], np.asarray(p)[order]
    try:
        return Events(t=t, x=x, y=y, p=p, sensor_size=sensor_size)
    except (InputError, ShapeError) as error:
        raise InputError(path, str(error)) from None


def read_bytes(path: str | Path) -> np.ndarray:
    """The whole file as a ``(n_bytes,)`` uint8 array, with a clear error when unreadable."""
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
