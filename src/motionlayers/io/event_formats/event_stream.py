"""Event Stream ``.es`` files (version 2.x, DVS and ATIS types), read and written.

Layout (neuromorphic-paris/event_stream, version 2): the 12 ASCII bytes ``"Event Stream"``, the
version as three bytes (major, minor, patch), a type byte (0 generic, 1 DVS, 2 ATIS, 3 display,
4 color), then for DVS / ATIS / color the width and height as little-endian uint16. Each event
is then 5 bytes: byte 0 holds a time delta since the previous event and a polarity, bytes 1-4
hold x and y as little-endian uint16. Between events the byte stream may hold *overflow* bytes
(add the largest delta to the time) and *reset* bytes (no effect).

    DVS:  byte 0 = delta t (bits 7-1) | is_increase (bit 0); 0xFF overflow (+127 us),
          0xFE reset.
    ATIS: byte 0 = delta t (bits 7-2) | polarity (bit 1) | is_threshold_crossing (bit 0);
          0b111111nn adds n * 63 us (nn = 00 is the reset). Only the change-detection events
          (is_threshold_crossing = 0) are kept; exposure measurements are dropped.

Convention: the format's y axis points up (origin at the bottom-left, as in the Paris tools);
readers flip it to our top-left origin (``y = H - 1 - y_file``) and the writer flips it back,
like the faery/loris tools do. Time origin: the file's own (zero plus the encoded deltas).

Decoding is vectorised. Which bytes start an event is a state machine (an overflow / reset
byte moves the 5-byte phase by one); it only changes state at bytes >= 0xFE (ATIS: 0xFC), and
those steps are composed block-wise in numpy instead of taken one Python step per byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.event_container import Events
from motionlayers.io.event_formats._common import SizeArg, assemble, read_bytes, resolve_sensor_size

__all__ = ["read_es", "write_es", "MAGIC"]

MAGIC = b"Event Stream"
_HEADER = len(MAGIC) + 3 + 1 + 4  # magic, version, type, width and height
_TYPES = {0: "generic", 1: "DVS", 2: "ATIS", 3: "display", 4: "color"}
# Per stream type: the smallest non-event byte value, the overflow step in microseconds.
_SPECIAL = {1: (0xFE, 127), 2: (0xFC, 63)}


def read_es(path: str | Path, sensor_size: SizeArg = None) -> Events:
    """Read an Event Stream ``.es`` file (version 2.x, DVS or ATIS events) into `Events`."""
    data = read_bytes(path)
    if data.size < len(MAGIC) or data[: len(MAGIC)].tobytes() != MAGIC:
        raise InputError(path, "not an Event Stream file (the magic bytes 'Event Stream' differ)")
    if data.size < len(MAGIC) + 4:
        raise InputError(path, "truncated Event Stream header")
    major, minor, patch, kind = (int(v) for v in data[len(MAGIC) : len(MAGIC) + 4])
    if major != 2:
        raise InputError(path, f"Event Stream version {major}.{minor}.{patch}; only 2.x is read")
    if kind not in _SPECIAL:
        name = _TYPES.get(kind, f"unknown ({kind})")
        raise InputError(path, f"Event Stream of {name} events; only DVS and ATIS are read")
    if data.size < _HEADER:
        raise InputError(path, "truncated Event Stream header (no width and height)")
    width = int(data[16]) | int(data[17]) << 8
    height = int(data[18]) | int(data[19]) << 8
    size = resolve_sensor_size(path, (width, height), sensor_size)
    t, x, y, p = _decode(path, data[_HEADER:], kind)
    return assemble(path, t, x, y_flip(y, height), p, size)


def y_flip(y: np.ndarray, height: int) -> np.ndarray:
    """Rows between the file's bottom-left origin and our top-left one (its own inverse)."""
    return (height - 1) - y.astype(np.int64)


def _decode(
    path: str | Path, body: np.ndarray, kind: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    special, step = _SPECIAL[kind]
    starts, skips = _event_starts(path, body, special)
    first = body[starts].astype(np.int64)
    if kind == 1:
        delta, on, keep = first >> 1, first & 1, slice(None)
    else:
        delta, on, keep = first >> 2, (first >> 1) & 1, (first & 1) == 0
    # Time added by the skipped bytes before each event: step * (value - special) per byte.
    skip_time = step * (body[skips].astype(np.int64) - special)
    skip_total = np.concatenate([[0], np.cumsum(skip_time)])
    t = np.cumsum(delta) + skip_total[np.searchsorted(skips, starts)]
    x = body[starts + 1].astype(np.int64) | body[starts + 2].astype(np.int64) << 8
    y = body[starts + 3].astype(np.int64) | body[starts + 4].astype(np.int64) << 8
    p = np.where(on == 1, 1, -1).astype(np.int8)
    return t[keep], x[keep], y[keep], p[keep]


def _event_starts(
    path: str | Path, body: np.ndarray, special: int
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the events' first bytes and of the overflow / reset bytes read between them.

    In the idle state a byte ``>= special`` is a one-byte overflow / reset and any other byte
    starts a five-byte event, so after ``k`` such bytes the idle offsets are those ``= k (mod 5)``.
    A candidate byte (``>= special``) at offset ``c`` is therefore read as overflow / reset iff
    ``c = k (mod 5)`` with ``k`` the number read before it: a five-state automaton over the
    candidates, run by `_states_before` without a Python step per byte.
    """
    n = body.size
    candidates = np.flatnonzero(body >= special)
    phase = (candidates % 5).astype(np.int8)
    states = np.arange(5, dtype=np.int8)
    step = ((states + (states == phase[:, None])) % 5).astype(np.int8)  # (m, 5) transitions
    skips = candidates[_states_before(step) == phase]
    # Events fill the gaps: from each segment start, every fifth byte up to the next skip.
    seg_starts = np.concatenate([[0], skips + 1])
    lengths = np.concatenate([skips, [n]]) - seg_starts
    tail = int(lengths[-1] % 5)
    if tail:
        raise InputError(path, f"the file ends inside an event ({tail} of 5 bytes): truncated")
    counts = lengths // 5
    offsets = np.arange(int(counts.sum()), dtype=np.int64)
    offsets -= np.repeat(np.cumsum(counts) - counts, counts)
    starts = np.repeat(seg_starts, counts) + 5 * offsets
    return starts, skips


def _states_before(step: np.ndarray, start: int = 0, block: int = 64) -> np.ndarray:
    """States of a finite automaton before each of its steps, from ``start``.

    Args:
        step: ``(m, S)`` int8; ``step[j, s]`` is the state after step ``j`` from state ``s``.

    Returns:
        ``(m,)`` int8, the state before each step. Blocks of ``block`` steps are composed into one
        transition table each (``block`` vectorised passes), the block entry states come from the
        same routine on those tables (recursively), then each block is replayed.
    """
    m, size = step.shape
    if m <= 4 * block:
        out = np.empty(m, dtype=np.int8)
        state = start
        for j in range(m):
            out[j] = state
            state = int(step[j, state])
        return out
    blocks = -(-m // block)
    padded = np.empty((blocks * block, size), dtype=np.int8)
    padded[:m] = step
    padded[m:] = np.arange(size, dtype=np.int8)  # identity steps
    tables = padded.reshape(blocks, block, size)
    composed = np.broadcast_to(np.arange(size, dtype=np.int8), (blocks, size)).copy()
    for k in range(block):
        composed = np.take_along_axis(tables[:, k, :], composed, axis=1)
    states = _states_before(composed, start, block).astype(np.intp)
    rows = np.arange(blocks)
    out = np.empty((blocks, block), dtype=np.int8)
    for k in range(block):
        out[:, k] = states
        states = tables[rows, k, states].astype(np.intp)
    return out.reshape(-1)[:m]


def write_es(path: str | Path, events: Events) -> None:
    """Write `Events` as an Event Stream 2.0.0 DVS file (times must be >= 0)."""
    if len(events) and int(events.t[0]) < 0:
        raise InputError(path, "Event Stream times start at zero; shift negative times first")
    width, height = events.sensor_size
    if width > 0xFFFF or height > 0xFFFF:
        raise InputError(path, f"sensor_size {events.sensor_size} does not fit in uint16")
    delta = np.diff(events.t, prepend=np.int64(0))
    overflows = delta // 127
    count = overflows + 5
    out = np.full(int(count.sum()), 0xFF, dtype=np.uint8)
    start = np.cumsum(count) - 5
    y = y_flip(events.y, height)
    out[start] = ((delta % 127) << 1 | (events.p > 0)).astype(np.uint8)
    out[start + 1] = events.x & 0xFF
    out[start + 2] = events.x >> 8
    out[start + 3] = y & 0xFF
    out[start + 4] = y >> 8
    header = MAGIC + bytes([2, 0, 0, 1]) + np.array([width, height], "<u2").tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + out.tobytes())
