"""Prophesee / Metavision ``.raw`` files: an ASCII header, then EVT 2.0 or EVT 3.0 binary words.

Header: lines ``"% key value"`` until the first line that does not start with ``"% "`` (or
after ``"% end"``). The geometry comes from ``"% geometry WxH"`` or ``"% format
EVT3;height=H;width=W"``; older files have neither and need ``sensor_size``. The encoding comes
from ``"% format EVT2|EVT3"`` or ``"% evt 2.0|3.0"``.

Decoding is vectorised: the decoder state ("the last TIME_HIGH seen", "the current y", "the
current vector base x") is recovered for every word at once with cumulative sums over word types.

Time origin: the camera's own clock as encoded in the words (not shifted to start at zero), with
wrap-arounds of the time counter unrolled (EVT 2.0: 34 bits, EVT 3.0: 24 bits). Events before the
first TIME_HIGH word (EVT 3.0: also before the first row address) have no defined time or row and
are dropped. Trigger and vendor-specific words are skipped. Little-endian words are assumed (the
default of every Prophesee sensor).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from motionlayers.errors import InputError
from motionlayers.io.event_container import Events
from motionlayers.io.event_formats._common import SizeArg, assemble, read_bytes, resolve_sensor_size

__all__ = ["read_raw", "parse_raw_header"]

# Substrings of a header's plugin name -> usual sensor size, used only in error hints.
_PLUGIN_HINTS = (
    ("gen41", "1280x720"),
    ("imx636", "1280x720"),
    ("gen4", "1280x720"),
    ("gen31", "640x480"),
    ("gen3", "640x480"),
    ("genx320", "320x320"),
)


def parse_raw_header(data: np.ndarray) -> tuple[dict[str, str], int]:
    """The header's ``{key: value}`` and the offset of the first data byte.

    Args:
        data: ``(n_bytes,)`` uint8, the whole file.
    """
    header: dict[str, str] = {}
    raw = data[: 1 << 16].tobytes()  # a header is a few hundred bytes; cap the search
    position = 0
    while raw.startswith(b"% ", position):
        end = raw.find(b"\n", position)
        if end < 0:
            end = len(raw) - 1
        line = raw[position + 2 : end].decode("ascii", errors="replace").strip()
        position = end + 1
        key, _, value = line.partition(" ")
        if key == "end":
            break
        header[key] = value.strip()
    return header, position


def _geometry(header: dict[str, str]) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", header.get("geometry", ""))
    if match:
        return int(match[1]), int(match[2])
    fields = dict(part.split("=", 1) for part in header.get("format", "").split(";") if "=" in part)
    if "width" in fields and "height" in fields:
        return int(fields["width"]), int(fields["height"])
    if "Width" in header and "Height" in header:
        return int(header["Width"]), int(header["Height"])
    return None


def _encoding(header: dict[str, str]) -> str:
    name = header.get("format", "").split(";")[0].strip().upper()
    if not name and "evt" in header:
        name = "EVT" + header["evt"].replace(".0", "").replace(".", "")
    return name


def _size_hint(header: dict[str, str]) -> str:
    plugin = header.get("plugin_name", "").lower()
    for key, size in _PLUGIN_HINTS:
        if key in plugin:
            return f"its plugin '{header['plugin_name']}' suggests a {size} sensor"
    return ""


def read_raw(path: str | Path, sensor_size: SizeArg = None) -> Events:
    """Read a Prophesee ``.raw`` file (EVT 2.0 or EVT 3.0 encoding) into `Events`."""
    data = read_bytes(path)
    header, offset = parse_raw_header(data)
    if not header:
        raise InputError(path, "not a Prophesee RAW file (no '% ...' header lines)")
    size = resolve_sensor_size(path, _geometry(header), sensor_size, _size_hint(header))
    encoding = _encoding(header)
    payload = data[offset:]
    if encoding == "EVT2":
        t, x, y, p = _decode_evt2(path, payload)
    elif encoding == "EVT3":
        t, x, y, p = _decode_evt3(path, payload)
    else:
        raise InputError(
            path, f"unsupported RAW encoding {encoding or '(none given)'}; supported: EVT2, EVT3"
        )
    return assemble(path, t, x, y, p, size)


def _unwrap(values: np.ndarray, period: int) -> np.ndarray:
    """``values`` (int64) with a ``period`` added after every backwards jump of over half of it."""
    if values.size < 2:
        return values
    wraps = np.concatenate([[0], np.cumsum(np.diff(values) < -(period // 2))])
    return values + period * wraps


def _words(path: str | Path, payload: np.ndarray, width: int) -> np.ndarray:
    if payload.size % width:
        raise InputError(
            path,
            f"data ends inside a {8 * width}-bit word ({payload.size} bytes after the header, "
            f"not a multiple of {width}): the file is truncated",
        )
    return payload.view(np.dtype(f"<u{width}")).astype(np.int64)


def _last_index(is_kind: np.ndarray) -> np.ndarray:
    """For every word, the rank among words of a kind of the last one at or before it (-1: none)."""
    return np.cumsum(is_kind) - 1


def _bit_tables() -> tuple[np.ndarray, np.ndarray]:
    """Popcount of every 12-bit mask, and the offset of its n-th set bit (``(4096, 12)``)."""
    masks = np.arange(1 << 12)
    bits = (masks[:, None] >> np.arange(12)) & 1
    order = np.argsort(1 - bits, axis=1, kind="stable")  # set bits first, by increasing offset
    return bits.sum(axis=1), order.astype(np.int64)


_POPCOUNT, _NTH_BIT = _bit_tables()


def _take(values: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``values[rank]``, with 0 where ``rank`` is -1 (no such word yet)."""
    padded = np.concatenate([values, np.zeros(1, dtype=values.dtype)])
    return padded[np.where(rank >= 0, rank, values.size)]


def _decode_evt2(
    path: str | Path, payload: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """EVT 2.0: 32-bit words, type in bits 31-28 (0 CD_OFF, 1 CD_ON, 8 TIME_HIGH)."""
    words = _words(path, payload, 4)
    kind = words >> 28
    is_high = kind == 8
    highs = _unwrap(words[is_high] & 0x0FFFFFFF, 1 << 28)
    high_rank = _last_index(is_high)
    cd = np.flatnonzero((kind <= 1) & (high_rank >= 0))
    cd_words = words[cd]
    t = (highs[high_rank[cd]] << 6) | ((cd_words >> 22) & 0x3F)
    x = (cd_words >> 11) & 0x7FF
    y = cd_words & 0x7FF
    p = np.where(kind[cd] == 1, 1, -1).astype(np.int8)
    return t, x, y, p


def _evt3_clock(
    kind: np.ndarray, value: np.ndarray, highs: np.ndarray, high_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The time base after each TIME_HIGH / TIME_LOW word, and each word's last such rank.

    TIME_HIGH sets the time to ``high << 12``; TIME_LOW replaces its low 12 bits. The time base
    never goes backwards: IMX636 sensors sometimes send a TIME_LOW a few microseconds behind the
    one before it (right after a TIME_HIGH); the clock then holds until it catches up, as the
    reference decoders do.
    """
    is_clock = (kind == 6) | (kind == 8)
    index = np.flatnonzero(is_clock & (high_rank >= 0))
    base = highs[high_rank[index]] << 12
    clock = np.where(kind[index] == 6, base | value[index], base)
    clock = np.maximum.accumulate(clock) if clock.size else clock
    rank = np.cumsum(is_clock & (high_rank >= 0)) - 1
    return clock, rank


def _decode_evt3(
    path: str | Path, payload: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """EVT 3.0: 16-bit words, type in bits 15-12.

    0 ADDR_Y (y), 2 ADDR_X (one event: x, polarity), 3 VECT_BASE_X (base x, polarity),
    4 VECT_12 / 5 VECT_8 (validity masks of 12 / 8 pixels from the base x, which then advances
    by 12 / 8), 6 TIME_LOW and 8 TIME_HIGH (the low and high 12 bits of a 24-bit time base).
    """
    words = _words(path, payload, 2)
    kind = words >> 12
    value = words & 0xFFF

    def state(code: int) -> tuple[np.ndarray, np.ndarray]:
        is_kind = kind == code
        return value[is_kind], _last_index(is_kind)

    rows, row_rank = state(0)
    highs, high_rank = state(8)
    highs = _unwrap(highs, 1 << 12)
    clock, clock_rank = _evt3_clock(kind, value, highs, high_rank)
    bases, base_rank = state(3)
    # The base x advances by 12 / 8 after each vector word since the last VECT_BASE_X.
    advance = np.where(kind == 4, 12, np.where(kind == 5, 8, 0))
    advanced = np.cumsum(advance) - advance  # total advance of the words before each word
    base_at = advanced[np.flatnonzero(kind == 3)]

    single, vector = kind == 2, (kind == 4) | (kind == 5)
    known = (row_rank >= 0) & (high_rank >= 0)
    emitting = np.flatnonzero((single & known) | (vector & known & (base_rank >= 0)))
    is_single = single[emitting]
    word = value[emitting]
    base_rank_e = base_rank[emitting]
    base_word = _take(bases, base_rank_e)
    vector_base = (base_word & 0x7FF) + advanced[emitting] - _take(base_at, base_rank_e)
    start_x = np.where(is_single, word & 0x7FF, vector_base)
    polarity = np.where(is_single, word >> 11, base_word >> 11) & 1
    mask = np.where(is_single, 1, np.where(kind[emitting] == 4, word, word & 0xFF))

    # Expand each word's mask into events: file order, then increasing x within a vector.
    counts = _POPCOUNT[mask]
    which = np.repeat(np.arange(emitting.size), counts)
    nth = np.arange(which.size) - np.repeat(np.cumsum(counts) - counts, counts)
    offset = _NTH_BIT[mask[which], nth]
    t = clock[clock_rank[emitting]][which]
    x = start_x[which] + offset
    y = (rows[row_rank[emitting]] & 0x7FF)[which]
    p = np.where(polarity[which] == 1, 1, -1).astype(np.int8)
    return t, x, y, p
