"""Binary event readers (.es, Prophesee .raw EVT 2.0 / 3.0, AEDAT4) on fake files made here.

The encoders below are small and written from the format specifications; for .es a byte-by-byte
reference decoder checks the vectorised one on streams full of overflow and reset bytes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from motionlayers.errors import InputError
from motionlayers.io import Events, read_events, write_events

# ---------------------------------------------------------------- Event Stream (.es)


def es_header(
    kind: int, width: int, height: int, version: tuple[int, int, int] = (2, 0, 0)
) -> bytes:
    return b"Event Stream" + bytes([*version, kind]) + np.array([width, height], "<u2").tobytes()


def es_encode_dvs(
    t: list[int], x: list[int], y_file: list[int], on: list[int], resets: set[int]
) -> bytes:
    """DVS body; five reset bytes are put before the events whose index is in ``resets``."""
    out, previous = bytearray(), 0
    for i, (ti, xi, yi, oi) in enumerate(zip(t, x, y_file, on)):
        if i in resets:
            out += bytes([0xFE] * 5)
        delta = ti - previous
        previous = ti
        out += bytes([0xFF] * (delta // 127))
        out += bytes([(delta % 127) << 1 | oi, xi & 0xFF, xi >> 8, yi & 0xFF, yi >> 8])
    return bytes(out)


def es_reference_decode(body: bytes, kind: int) -> list[tuple[int, int, int, int]]:
    """Byte-by-byte state machine of the specification: (t, x, y_file, polarity bit) per event."""
    events, t, i = [], 0, 0
    while i < len(body):
        byte = body[i]
        if kind == 1 and byte >= 0xFE:
            t += 127 if byte == 0xFF else 0
            i += 1
            continue
        if kind == 2 and byte >= 0xFC:
            t += 63 * (byte & 3)
            i += 1
            continue
        t += byte >> 1 if kind == 1 else byte >> 2
        x = body[i + 1] | body[i + 2] << 8
        y = body[i + 3] | body[i + 4] << 8
        if kind == 1:
            events.append((t, x, y, byte & 1))
        elif byte & 1 == 0:  # ATIS: keep change detections, drop exposure measurements
            events.append((t, x, y, byte >> 1 & 1))
        i += 5
    return events


def random_dvs(
    seed: int, n: int = 400, width: int = 600, height: int = 300
) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0, 1, 126, 127, 128, 254, 1000], n)
    # Low bytes of 0xFE / 0xFF in x and y look like overflow / reset bytes in the wrong phase.
    x = rng.choice([0, 1, 254, 255, 510, 511, 599], n)
    y = rng.choice([0, 254, 255, 299], n)
    on = rng.integers(0, 2, n)
    return {"t": np.cumsum(gaps).tolist(), "x": x.tolist(), "y": y.tolist(), "on": on.tolist()}


@pytest.mark.parametrize("seed", range(5))
def test_es_dvs_matches_the_byte_by_byte_reference(tmp_path: Path, seed: int) -> None:
    ev = random_dvs(seed)
    resets = set(np.random.default_rng(seed).choice(400, 20).tolist())
    body = es_encode_dvs(ev["t"], ev["x"], ev["y"], ev["on"], resets)
    path = tmp_path / "dvs.es"
    path.write_bytes(es_header(1, 600, 300) + body)
    got = read_events(path)
    ref = es_reference_decode(body, 1)
    assert got.t.tolist() == [e[0] for e in ref] == ev["t"]
    assert got.x.tolist() == [e[1] for e in ref] == ev["x"]
    assert got.y.tolist() == [299 - e[2] for e in ref]  # the file's y axis points up
    assert got.p.tolist() == [1 if e[3] else -1 for e in ref]
    assert got.sensor_size == (600, 300)


def test_es_atis_keeps_change_detections(tmp_path: Path) -> None:
    # (delta, x, y, polarity, is_threshold_crossing); 0xFD / 0xFE add 63 / 126 us, 0xFC resets.
    rows = [(3, 1, 2, 1, 0), (0, 4, 0, 0, 1), (5, 2, 2, 0, 0), (62, 3, 1, 1, 0)]
    body = bytearray()
    for k, (delta, x, y, pol, tc) in enumerate(rows):
        if k == 2:
            body += bytes([0xFD, 0xFC, 0xFE])
        body += bytes([delta << 2 | pol << 1 | tc, x, 0, y, 0])
    path = tmp_path / "atis.es"
    path.write_bytes(es_header(2, 5, 3) + bytes(body))
    got = read_events(path)
    assert got.t.tolist() == [3, 3 + 189 + 5, 3 + 189 + 5 + 62]
    assert (
        got.x.tolist() == [1, 2, 3] and got.y.tolist() == [0, 0, 1] and got.p.tolist() == [1, -1, 1]
    )
    assert [(e[0], e[1]) for e in es_reference_decode(bytes(body), 2)] == [
        (3, 1),
        (197, 2),
        (259, 3),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Event Strean\x02\x00\x00\x01\x05\x00\x03\x00", "magic"),
        (b"Event Stream\x01\x00\x00\x01\x05\x00\x03\x00", "version 1.0.0"),
        (b"Event Stream\x02\x00\x00\x00", "generic"),
        (b"Event Stream\x02\x00\x00\x04\x05\x00\x03\x00", "color"),
        (b"Event Stream\x02\x00\x00\x01\x05\x00", "truncated"),
        (
            b"Event Stream\x02\x00\x00\x01\x05\x00\x03\x00" + b"\x02\x01\x00\x01\x00\x02\x01",
            "inside an event",
        ),
        (b"Event Stream\x02\x00\x00\x01\x05\x00\x03\x00" + b"\x02\x07\x00\x01\x00", r"\[0, 5\)"),
    ],
)
def test_es_corrupt(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.es"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_events(path)
    assert info.value.source == str(path)


def test_es_sensor_size_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "a.es"
    write_events(path, Events(t=[0], x=[1], y=[2], p=[1], sensor_size=(5, 3)))
    assert read_events(path, sensor_size="5x3").sensor_size == (5, 3)
    with pytest.raises(InputError, match="disagrees"):
        read_events(path, sensor_size=(3, 5))


def test_es_writer_matches_the_reference_encoder(tmp_path: Path) -> None:
    ev = random_dvs(7)
    path = tmp_path / "w.es"
    events = Events(
        t=ev["t"],
        x=ev["x"],
        y=[299 - v for v in ev["y"]],
        p=[1 if o else -1 for o in ev["on"]],
        sensor_size=(600, 300),
    )
    write_events(path, events)
    expected = es_header(1, 600, 300) + es_encode_dvs(ev["t"], ev["x"], ev["y"], ev["on"], set())
    assert path.read_bytes() == expected


# ---------------------------------------------------------------- Prophesee EVT 2.0


def raw_header(lines: list[str]) -> bytes:
    return "".join(f"% {line}\n" for line in lines).encode()


def evt2_encode(t: list[int], x: list[int], y: list[int], on: list[int]) -> bytes:
    words, high = [], None
    for ti, xi, yi, oi in zip(t, x, y, on):
        if ti >> 6 != high:
            high = ti >> 6
            words.append(8 << 28 | (high & 0x0FFFFFFF))
        words.append(oi << 28 | (ti & 63) << 22 | xi << 11 | yi)
    return np.array(words, "<u4").tobytes()


def test_evt2_with_time_high_wrap_and_other_words(tmp_path: Path) -> None:
    start = (1 << 34) - 150  # the 34-bit clock wraps during the recording
    t = [start, start + 3, start + 100, start + 200, start + 5000]
    x, y, on = [0, 639, 5, 6, 7], [0, 479, 1, 2, 3], [1, 0, 1, 1, 0]
    body = evt2_encode(t, x, y, on)
    trigger = np.array([10 << 28 | 1], "<u4").tobytes()
    early_cd = np.array([1 << 28 | 3 << 11 | 4], "<u4").tobytes()  # before any TIME_HIGH
    path = tmp_path / "a.raw"
    path.write_bytes(
        raw_header(["evt 2.0", "geometry 640x480"]) + early_cd + body[:8] + trigger + body[8:]
    )
    got = read_events(path)
    assert got.t.tolist() == t and got.x.tolist() == x and got.y.tolist() == y
    assert got.p.tolist() == [1, -1, 1, 1, -1] and got.sensor_size == (640, 480)


def test_raw_header_geometry_forms_and_missing_geometry(tmp_path: Path) -> None:
    body = evt2_encode([10], [3], [2], [1])
    path = tmp_path / "a.raw"
    path.write_bytes(raw_header(["format EVT2;height=4;width=5", "end"]) + body)
    assert read_events(path).sensor_size == (5, 4)
    path.write_bytes(raw_header(["evt 2.0", "plugin_name hal_plugin_gen3_fx3"]) + body)
    with pytest.raises(InputError, match="--sensor-size WxH") as info:
        read_events(path)
    assert "640x480" in str(info.value) and info.value.source == str(path)
    assert read_events(path, sensor_size=(5, 4)).t.tolist() == [10]
    path.write_bytes(raw_header(["format EVT21", "geometry 5x4"]) + body)
    with pytest.raises(InputError, match="EVT21"):
        read_events(path)
    path.write_bytes(raw_header(["geometry 5x4"]) + body)
    with pytest.raises(InputError, match="none given"):
        read_events(path)


@pytest.mark.parametrize(("version", "cut"), [("2.0", 2), ("3.0", 1)])
def test_raw_truncated_word(tmp_path: Path, version: str, cut: int) -> None:
    path = tmp_path / "cut.raw"
    body = evt2_encode([10, 20], [3, 4], [2, 2], [1, 0])
    path.write_bytes(raw_header([f"evt {version}", "geometry 640x480"]) + body[:-cut])
    with pytest.raises(InputError, match="truncated") as info:
        read_events(path)
    assert info.value.source == str(path)


# ---------------------------------------------------------------- Prophesee EVT 3.0


def evt3_encode(
    events: list[tuple[int, int, int, int]], rng: np.random.Generator
) -> tuple[bytes, list]:
    """Words for (t, y, on, xs) groups; singles or vectors at random. Returns bytes, events."""
    words, expected = [], []
    high = low = row = None
    for t, y, on, xs in events:
        if t >> 12 != high:
            high = t >> 12
            words.append(8 << 12 | (high & 0xFFF))
            low = None
        if t & 0xFFF != low:
            low = t & 0xFFF
            words.append(6 << 12 | low)
        if y != row:
            row = y
            words.append(y)
        xs = sorted(xs)
        if len(xs) == 1 and rng.random() < 0.5:
            words.append(2 << 12 | on << 11 | xs[0])
        else:
            words.append(3 << 12 | on << 11 | xs[0])
            position = xs[0]
            while position <= xs[-1]:
                width = 12 if rng.random() < 0.5 else 8
                mask = sum(1 << (x - position) for x in xs if position <= x < position + width)
                words.append((4 if width == 12 else 5) << 12 | mask)
                position += width
        expected += [(t, x, y, 1 if on else -1) for x in xs]
    return np.array(words, "<u2").tobytes(), expected


def random_evt3_groups(rng: np.random.Generator, count: int, start: int) -> list:
    groups, t = [], start
    for _ in range(count):
        t += int(rng.choice([0, 1, 7, 4095, 5000]))
        base = int(rng.integers(0, 1200))
        xs = sorted(set((base + rng.integers(0, 40, int(rng.integers(1, 10)))).tolist()))
        groups.append((t, int(rng.integers(0, 720)), int(rng.integers(0, 2)), xs))
    return groups


@pytest.mark.parametrize("seed", range(4))
def test_evt3_singles_vectors_and_wrap(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = (1 << 24) - 20_000 if seed % 2 else 123  # odd seeds cross the 24-bit wrap
    body, expected = evt3_encode(random_evt3_groups(rng, 300, start), rng)
    path = tmp_path / "a.raw"
    path.write_bytes(raw_header(["evt 3.0", "format EVT3;height=720;width=1280"]) + body)
    got = read_events(path)
    assert list(zip(got.t.tolist(), got.x.tolist(), got.y.tolist(), got.p.tolist())) == expected


def test_evt3_clock_never_goes_back_and_early_words_are_dropped(tmp_path: Path) -> None:
    words = [
        2 << 12 | 5,  # an event before any time or row: dropped
        8 << 12 | 0x001,
        6 << 12 | 0x010,
        2 << 12 | 1 << 11 | 5,  # before any row: dropped
        0 << 12 | 3,  # y = 3
        2 << 12 | 1 << 11 | 5,  # t = 0x1010
        8 << 12 | 0x001,
        6 << 12 | 0x01B,
        6 << 12 | 0x013,  # low steps back: the clock holds
        2 << 12 | 6,  # t = 0x101B
        6 << 12 | 0x01C,  # the clock moves on
        4 << 12 | 0b101,  # a vector before any VECT_BASE_X: dropped
        3 << 12 | 1 << 11 | 20,
        5 << 12 | 0b1000_0001,  # x = 20 and 27
        10 << 12 | 1,
        0xE << 12,
        0xF << 12 | 7,  # trigger, others, continued: skipped
    ]
    path = tmp_path / "a.raw"
    path.write_bytes(raw_header(["evt 3.0", "geometry 64x8"]) + np.array(words, "<u2").tobytes())
    got = read_events(path)
    assert got.t.tolist() == [0x1010, 0x101B, 0x101C, 0x101C]
    assert got.x.tolist() == [5, 6, 20, 27] and got.y.tolist() == [3, 3, 3, 3]
    assert got.p.tolist() == [1, -1, 1, 1]


# ---------------------------------------------------------------- AEDAT4


def aedat4_io_header(description: str, data_position: int = -1) -> bytes:
    text = description.encode()
    out = bytearray(36)
    out[0:4] = (16).to_bytes(4, "little")  # root table at 16
    out[4:14] = np.array([10, 20, 4, 8, 16], "<u2").tobytes()  # vtable: 3 fields
    out[16:20] = (12).to_bytes(4, "little", signed=True)  # table -> vtable at 4
    out[20:24] = (0).to_bytes(4, "little")  # compression: none
    out[24:32] = data_position.to_bytes(8, "little", signed=True)
    out[32:36] = (4).to_bytes(4, "little")  # description string at 36
    return bytes(out) + len(text).to_bytes(4, "little") + text + b"\0"


def aedat4_event_packet(t: list[int], x: list[int], y: list[int], on: list[int]) -> bytes:
    structs = np.zeros(
        len(t), [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("_", "V3")]
    )
    structs["t"], structs["x"], structs["y"], structs["on"] = t, x, y, on
    head = bytearray(32)
    head[4:8] = (16).to_bytes(4, "little")  # root table at 4 + 16 = 20
    head[8:12] = b"EVTS"
    head[12:18] = np.array([6, 8, 4], "<u2").tobytes()  # vtable: 1 field at +4
    head[20:24] = (8).to_bytes(4, "little", signed=True)  # table -> vtable at 12
    head[24:28] = (4).to_bytes(4, "little")  # vector at 28
    head[28:32] = len(t).to_bytes(4, "little")
    body = bytes(head) + structs.tobytes()
    return (len(body) - 4).to_bytes(4, "little") + body[4:]


DESCRIPTION = (
    '<dv version="2.0"><node name="outInfo" path="/mainModule/output/">'
    '<node name="0" path="/mainModule/output/0/">'
    '<attr key="typeIdentifier" type="string">EVTS</attr>'
    '<node name="info" path="/mainModule/output/0/info/">'
    '<attr key="sizeX" type="int">7</attr><attr key="sizeY" type="int">5</attr></node></node>'
    '<node name="1" path="/mainModule/output/1/">'
    '<attr key="typeIdentifier" type="string">IMUS</attr></node></node></dv>'
)


def aedat4_file(packets: list[tuple[int, bytes]], data_table: bytes = b"") -> bytes:
    body = b"".join(s.to_bytes(4, "little") + len(p).to_bytes(4, "little") + p for s, p in packets)
    position = -1
    if data_table:
        header_size = len(aedat4_io_header(DESCRIPTION, 0))
        position = 14 + 4 + header_size + len(body)
    header = aedat4_io_header(DESCRIPTION, position)
    return b"#!AER-DAT4.0\r\n" + len(header).to_bytes(4, "little") + header + body + data_table


def test_aedat4_uncompressed(tmp_path: Path) -> None:
    t0 = 1_700_000_000_000_000
    packets = [
        (0, aedat4_event_packet([t0, t0 + 5], [1, 6], [0, 4], [1, 0])),
        (1, b"imu packet bytes, skipped"),
        (0, aedat4_event_packet([t0 + 9], [3], [2], [1])),
    ]
    path = tmp_path / "a.aedat4"
    path.write_bytes(aedat4_file(packets, data_table=b"file data table, not packets"))
    got = read_events(path)
    assert got.t.tolist() == [t0, t0 + 5, t0 + 9] and got.x.tolist() == [1, 6, 3]
    assert (
        got.y.tolist() == [0, 4, 2] and got.p.tolist() == [1, -1, 1] and got.sensor_size == (7, 5)
    )
    with pytest.raises(InputError, match="event streams: \\[0\\]"):
        read_events(path, stream=1)
    path.write_bytes(aedat4_file(packets)[:-3])
    with pytest.raises(InputError, match="truncated"):
        read_events(path)
    path.write_bytes(b"#!AER-DAT3.1\r\n" + b"\0" * 40)
    with pytest.raises(InputError, match="AEDAT4"):
        read_events(path)


def test_aedat4_compressed_without_the_codec_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lz4", None)  # as if the optional package were missing
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    data = bytearray(aedat4_file([(0, b"\x04\x22\x4d\x18 compressed")]))
    data[18 + 20] = 1  # IOHeader compression field: LZ4
    path = tmp_path / "lz4.aedat4"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="install the optional package 'lz4'"):
        read_events(path)


# ---------------------------------------------------------------- speed: no loop per event


def test_decoders_are_vectorised(tmp_path: Path) -> None:
    n = 1_000_000
    rng = np.random.default_rng(0)
    events = Events(
        t=np.cumsum(rng.integers(0, 300, n)),
        x=rng.integers(0, 640, n),
        y=rng.integers(0, 480, n),
        p=rng.choice([-1, 1], n),
        sensor_size=(640, 480),
    )
    write_events(tmp_path / "big.es", events)
    # EVT 3.0 blocks [TIME_HIGH, TIME_LOW, ADDR_Y, VECT_BASE_X, VECT_12]: 12 events per block.
    blocks = n // 12
    t = np.arange(blocks) * 3
    words = np.stack(
        [
            8 << 12 | (t >> 12 & 0xFFF),
            6 << 12 | (t & 0xFFF),
            t % 720,
            3 << 12 | (t % 1200),
            np.full(blocks, 4 << 12 | 0xFFF),
        ],
        axis=1,
    ).astype("<u2")
    (tmp_path / "big.raw").write_bytes(
        raw_header(["evt 3.0", "geometry 1280x720"]) + words.tobytes()
    )
    for name, count in (("big.es", n), ("big.raw", 12 * blocks)):
        start = time.perf_counter()
        got = read_events(tmp_path / name)
        elapsed = time.perf_counter() - start
        assert len(got) == count
        assert elapsed < 3.0, f"{name}: {elapsed:.2f} s for {count} events"


def test_block_automaton_matches_a_plain_loop() -> None:
    from motionlayers.io.event_formats.event_stream import _states_before

    rng = np.random.default_rng(3)
    for m, block in ((10, 4), (1000, 4), (5000, 8), (70_000, 64)):
        step = rng.integers(0, 5, (m, 5)).astype(np.int8)
        expected, state = [], 2
        for row in step:
            expected.append(state)
            state = int(row[state])
        assert _states_before(step, start=2, block=block).tolist() == expected
