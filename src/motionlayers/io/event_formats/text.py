"""Text event files: one event ``t x y p`` per line (ECD, EED, EVIMO ``events.txt``, rpg_e2vid).

Values are separated by white space, or by commas when the first event line has one (the column
order is always t, x, y, p).

Reading:
    - Lines starting with ``#`` are comments. If the first other line holds exactly two integers,
      it is the sensor geometry ``W H`` (the rpg_e2vid convention); otherwise the file has no
      geometry and ``sensor_size`` is required.
    - Time unit, detected from the first event line: a time written with a decimal point or an
      exponent (``0.003811``, as in ECD / EED / EVIMO) is in seconds; a time written as an integer
      is in microseconds. Seconds become microseconds rounded to the nearest. Time origin: the
      file's own.
    - Polarity 0/1 or -1/+1; x and y are columns and rows with the origin at the top-left.

Writing: a first line ``W H`` then ``t x y p`` with t in seconds and exactly six decimals (so a
read gives back the same microseconds) and p in {0, 1}.
"""

from __future__ import annotations

import re
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

__all__ = ["read_text", "write_text"]

_HEADER_LINES = 64  # comments and geometry must come within the first lines
_WRITE_CHUNK = 10_000


def _preamble(path: str | Path) -> tuple[int, tuple[int, int] | None, str | None]:
    """Lines to skip before the events, the geometry if given, and the first event line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line for _, line in zip(range(_HEADER_LINES), handle)]
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None
    skip, geometry = 0, None
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            skip += 1
            continue
        tokens = stripped.replace(",", " ").split()
        if geometry is None and len(tokens) == 2 and all(t.isdigit() for t in tokens):
            geometry = (int(tokens[0]), int(tokens[1]))
            skip += 1
            continue
        return skip, geometry, stripped
    return skip, geometry, None


def read_text(path: str | Path, sensor_size: SizeArg = None) -> Events:
    """Read a ``t x y p`` text file into `Events` (see the module docstring for the rules)."""
    skip, geometry, first = _preamble(path)
    size = resolve_sensor_size(
        path, geometry, sensor_size, "ECD and EED were recorded with a DAVIS240: 240x180"
    )
    if first is None:
        return Events.empty(size)
    delimiter = "," if "," in first else None
    in_seconds = bool(re.search(r"[.eE]", first.split(delimiter)[0]))
    try:
        table = np.loadtxt(
            path,
            dtype=np.float64,
            comments="#",
            delimiter=delimiter,
            skiprows=skip,
            ndmin=2,
            encoding="utf-8",
        )
    except ValueError as error:
        message = str(error)
        row = re.search(r"at row (\d+)", message)
        where = f"line {skip + int(row[1]) + 1}: " if row else ""  # numpy counts rows from 0
        raise InputError(path, f"not a 't x y p' event list: {where}{message}") from None
    if table.shape[1] != 4:
        raise InputError(path, f"expected 4 columns 't x y p', got {table.shape[1]}")
    finite = np.isfinite(table).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise InputError(path, f"line {skip + bad + 1}: NaN or infinite value in {table[bad]}")
    t_column = table[:, 0]
    if in_seconds:
        t = seconds_to_us(t_column)
    else:
        if not np.array_equal(t_column, np.round(t_column)):
            raise InputError(path, "times start as integer microseconds but later have decimals")
        t = t_column.astype(np.int64)
    p = polarity_pm1(path, table[:, 3])
    return assemble(path, t, table[:, 1], table[:, 2], p, size)


def write_text(path: str | Path, events: Events) -> None:
    """Write `Events` as text: ``W H``, then ``t x y p`` lines (t in seconds, 6 decimals)."""
    if len(events) and int(events.t[0]) < 0:
        raise InputError(path, "text files written here need times >= 0; shift them first")
    seconds, micro = np.divmod(events.t, 1_000_000)
    table = np.stack([seconds, micro, events.x, events.y, (events.p > 0).astype(np.int64)], 1)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{events.width} {events.height}\n")
        for start in range(0, len(table), _WRITE_CHUNK):  # one formatting call per chunk
            rows = table[start : start + _WRITE_CHUNK]
            handle.write("%d.%06d %d %d %d\n" * len(rows) % tuple(rows.ravel().tolist()))
