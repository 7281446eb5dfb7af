"""AEDAT 4 files (iniVation DV): an own decoder of the header and of the event packets.

Layout: the 14 bytes ``"#!AER-DAT4.0\\r\\n"``, a uint32 length, an ``IOHeader`` flatbuffer of
that length (fields: compression, file data position, an XML description of the streams), then
packets: uint32 stream id, uint32 byte size, and the packet (compressed as the header says).
An event packet is a size-prefixed flatbuffer with identifier ``"EVTS"`` whose one field is a
vector of 16-byte structs ``(int64 timestamp, int16 x, int16 y, bool on, 3 pad bytes)``.

Compression: none is read as is; LZ4 and Zstd packets need the optional packages ``lz4`` or
``zstandard`` (imported only when such a file is read; the error says what to install).

Geometry: ``sizeX`` / ``sizeY`` of the stream's ``info`` node. Time origin: the stored
timestamps (DV writes microseconds since the Unix epoch). Of several event streams the one with
the lowest id is read unless ``stream`` names another. Only event packets are decoded; frames,
IMU and trigger packets are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from motionlayers.errors import InputError
from motionlayers.io.event_container import Events
from motionlayers.io.event_formats._common import SizeArg, assemble, read_bytes, resolve_sensor_size

__all__ = ["read_aedat4", "MAGIC"]

MAGIC = b"#!AER-DAT4.0\r\n"
_EVENT = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")])
_COMPRESSION = {0: "none", 1: "LZ4", 2: "LZ4", 3: "Zstd", 4: "Zstd"}


def _u32(buf: bytes, at: int) -> int:
    return int.from_bytes(buf[at : at + 4], "little")


def _field(buf: bytes, table: int, index: int) -> int:
    """Absolute offset of field ``index`` of the flatbuffer table at ``table`` (0: absent)."""
    vtable = table - int.from_bytes(buf[table : table + 4], "little", signed=True)
    vtable_size = int.from_bytes(buf[vtable : vtable + 2], "little")
    slot = 4 + 2 * index
    if slot + 2 > vtable_size:
        return 0
    offset = int.from_bytes(buf[vtable + slot : vtable + slot + 2], "little")
    return table + offset if offset else 0


def _parse_io_header(buf: bytes) -> tuple[int, int, str]:
    """(compression code, file data position, XML description) of an ``IOHeader`` flatbuffer."""
    table = _u32(buf, 0)
    at = _field(buf, table, 0)
    compression = int.from_bytes(buf[at : at + 4], "little", signed=True) if at else 0
    at = _field(buf, table, 1)
    data_position = int.from_bytes(buf[at : at + 8], "little", signed=True) if at else -1
    at = _field(buf, table, 2)
    description = ""
    if at:
        start = at + _u32(buf, at)
        description = buf[start + 4 : start + 4 + _u32(buf, start)].decode("utf-8", "replace")
    return compression, data_position, description


def _event_streams(description: str) -> dict[int, tuple[int, int] | None]:
    """``{stream id: (W, H) or None}`` for the ``EVTS`` streams of the XML description."""
    streams: dict[int, tuple[int, int] | None] = {}
    root = ElementTree.fromstring(description)
    for out_info in root.iter("node"):
        if out_info.get("name") != "outInfo":
            continue
        for node in out_info.findall("node"):
            attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("attr")}
            if attrs.get("typeIdentifier") != "EVTS" or not (node.get("name") or "").isdigit():
                continue
            info = node.find("node[@name='info']")
            sizes = {} if info is None else {a.get("key"): a.text for a in info.findall("attr")}
            size = None
            if sizes.get("sizeX") and sizes.get("sizeY"):
                size = (int(str(sizes["sizeX"])), int(str(sizes["sizeY"])))
            streams[int(str(node.get("name")))] = size
    return streams


def _decompress(path: str | Path, payload: bytes, compression: int) -> bytes:
    name = _COMPRESSION.get(compression)
    if name == "none":
        return payload
    try:
        if name == "LZ4":
            import lz4.frame  # type: ignore[import-not-found]

            return bytes(lz4.frame.decompress(payload))
        if name == "Zstd":
            import zstandard  # type: ignore[import-not-found]

            return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(payload))
    except ImportError:
        package = "lz4" if name == "LZ4" else "zstandard"
        raise InputError(
            path,
            f"{name}-compressed AEDAT4 file: install the optional package '{package}' "
            "(pip install 'motionlayers[aedat4]')",
        ) from None
    except Exception as error:  # the codecs raise their own error types
        raise InputError(path, f"corrupt {name} packet: {error}") from None
    raise InputError(path, f"unknown AEDAT4 compression code {compression}")


def _packet_events(path: str | Path, buf: bytes) -> np.ndarray:
    """The ``(n,)`` structured events of one size-prefixed ``EVTS`` packet."""
    if len(buf) < 12 or buf[8:12] != b"EVTS":
        raise InputError(path, "an event-stream packet is not an 'EVTS' flatbuffer")
    table = 4 + _u32(buf, 4)
    at = _field(buf, table, 0)
    if not at:
        return np.zeros(0, dtype=_EVENT)
    vector = at + _u32(buf, at)
    count = _u32(buf, vector)
    end = vector + 4 + count * _EVENT.itemsize
    if end > len(buf):
        raise InputError(path, "an event packet is shorter than its element count")
    return np.frombuffer(buf, dtype=_EVENT, count=count, offset=vector + 4)


def read_aedat4(path: str | Path, sensor_size: SizeArg = None, stream: int | None = None) -> Events:
    """Read the events of an AEDAT 4 file into `Events`."""
    data = read_bytes(path).tobytes()
    if not data.startswith(MAGIC):
        raise InputError(path, "not an AEDAT4 file (the magic '#!AER-DAT4.0' differs)")
    start = len(MAGIC) + 4
    header_end = start + _u32(data, len(MAGIC))
    if header_end > len(data):
        raise InputError(path, "truncated AEDAT4 header")
    try:
        compression, data_position, description = _parse_io_header(data[start:header_end])
        streams = _event_streams(description)
    except (ValueError, ElementTree.ParseError) as error:
        raise InputError(path, f"corrupt AEDAT4 header: {error}") from None
    if not streams:
        raise InputError(path, "the AEDAT4 file has no event stream")
    chosen = min(streams) if stream is None else stream
    if chosen not in streams:
        raise InputError(path, f"no event stream {stream}; event streams: {sorted(streams)}")
    size = resolve_sensor_size(path, streams[chosen], sensor_size)

    end = data_position if 0 <= data_position <= len(data) else len(data)
    chunks, position = [], header_end
    while position < end:
        if position + 8 > end:
            raise InputError(path, "the file ends inside a packet header: truncated")
        stream_id, length = _u32(data, position), _u32(data, position + 4)
        payload_end = position + 8 + length
        if payload_end > end:
            raise InputError(path, "the file ends inside a packet: truncated")
        if stream_id == chosen:
            payload = _decompress(path, data[position + 8 : payload_end], compression)
            chunks.append(_packet_events(path, payload))
        position = payload_end
    events = np.concatenate(chunks) if chunks else np.zeros(0, dtype=_EVENT)
    p = np.where(events["on"] != 0, 1, -1).astype(np.int8)
    return assemble(path, events["t"], events["x"], events["y"], p, size)
