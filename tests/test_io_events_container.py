"""The canonical `Events` record: conversion, validation, immutability, slicing and windows."""

from __future__ import annotations

import re

import numpy as np
import pytest

from motionlayers.errors import InputError, ShapeError
from motionlayers.io import Events, parse_sensor_size
from motionlayers.io.event_container import check_windows


def make(n: int = 10, size: tuple[int, int] = (8, 4)) -> Events:
    t = np.arange(n, dtype=np.int64) * 10
    return Events(
        t=t,
        x=np.arange(n) % size[0],
        y=np.arange(n) % size[1],
        p=(-1) ** np.arange(n),
        sensor_size=size,
    )


def test_dtypes_shapes_and_sensor_order() -> None:
    ev = Events(
        t=np.array([0, 5, 5, 9], np.uint64),
        x=np.array([0, 7, 1, 2], np.uint16),
        y=np.array([0, 3, 1, 0], np.uint16),
        p=np.array([1, -1, 1, 1], np.int64),
        sensor_size=(8, 4),
    )
    assert (ev.t.dtype, ev.x.dtype, ev.y.dtype, ev.p.dtype) == (
        np.int64,
        np.int32,
        np.int32,
        np.int8,
    )
    assert len(ev) == 4 and ev.sensor_size == (8, 4)
    assert (ev.width, ev.height) == (8, 4)  # (W, H): x < W = 8, y < H = 4
    assert ev.duration_us == 9
    assert "W=8" in repr(ev) and "H=4" in repr(ev)


def test_lists_and_float_integers_are_accepted() -> None:
    ev = Events(t=[0.0, 1.0], x=[1, 2], y=[0, 0], p=[1.0, -1.0], sensor_size="3x1")
    assert ev.t.tolist() == [0, 1] and ev.p.tolist() == [1, -1] and ev.sensor_size == (3, 1)


def test_empty() -> None:
    ev = Events.empty((5, 6))
    assert len(ev) == 0 and ev.duration_us == 0 and ev.sensor_size == (5, 6)
    assert list(ev.window_by_duration(10)) == [] and list(ev.window_by_count(3)) == []
    assert len(ev.time_window(0, 100)) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("t", [0, 5, 3], "non-decreasing"),
        ("x", [0, 8, 1], "[0, 8)"),
        ("x", [0, -1, 1], "[0, 8)"),
        ("y", [0, 4, 1], "[0, 4)"),
        ("p", [1, 0, -1], "+1 or -1"),
        ("t", [0.0, 0.5, 1.0], "non-integer"),
        ("x", [0.0, np.nan, 1.0], "non-integer"),
    ],
)
def test_validation_errors(field: str, value: list[float], message: str) -> None:
    arrays = {"t": [0, 1, 2], "x": [0, 1, 2], "y": [0, 1, 2], "p": [1, 1, -1]}
    arrays[field] = value
    with pytest.raises(InputError, match=re.escape(message)):
        Events(**arrays, sensor_size=(8, 4))


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match="one length"):
        Events(t=[0, 1], x=[0], y=[0, 0], p=[1, 1], sensor_size=(2, 2))
    with pytest.raises(ShapeError, match=r"\(N,\)"):
        Events(t=[[0, 1]], x=[0, 1], y=[0, 0], p=[1, 1], sensor_size=(2, 2))


@pytest.mark.parametrize("size", [(0, 4), (4, -1), "4by3", (1, 2, 3), None])
def test_bad_sensor_size(size: object) -> None:
    with pytest.raises(InputError, match="sensor_size"):
        parse_sensor_size(size)


def test_sensor_size_is_bounded() -> None:
    assert parse_sensor_size("2048x2048") == (2048, 2048)
    with pytest.raises(InputError, match=r"^--sensor-size: a sensor of 100000x100000 .*maximum"):
        parse_sensor_size("100000x100000", "--sensor-size")
    with pytest.raises(InputError, match=r"a sensor of 9000x10 is longer than the maximum"):
        Events.empty((9000, 10))


def test_non_numeric_arrays_are_input_errors() -> None:
    with pytest.raises(InputError, match=r"^events.x: expected numbers, got dtype <U1"):
        Events(t=[0, 1], x=["a", "b"], y=[0, 0], p=[1, 1], sensor_size=(4, 4))


def test_check_windows_states_its_bounds() -> None:
    events = make(1000)  # t = 0, 10, ..., 9990 us
    assert check_windows(events, None, 1000) == 10
    assert check_windows(events, 100, None) == 10
    bad = [
        ((None, 1), r"^--window-us: 1 is too short: a window must hold at least 1000 us"),
        ((1, None), r"^--window-events: 1 is too short: .* at least 100 events"),
        ((None, 0), r"^--window-us: must be positive"),
        ((100, 1000), r"^--window-us: give --window-events or --window-us, not both"),
        ((None, None), r"^--window-events: give --window-events or --window-us"),
    ]
    for (window_events, window_us), message in bad:
        with pytest.raises(InputError, match=message):
            check_windows(events, window_events, window_us)
    long = Events(t=[0, 10**9], x=[0, 1], y=[0, 1], p=[1, 1], sensor_size=(4, 4))
    with pytest.raises(InputError, match=r"cuts the 1e\+03 s recording into 1000001 windows"):
        check_windows(long, None, 1000)


def test_parse_sensor_size_forms() -> None:
    assert parse_sensor_size("640x480") == (640, 480)
    assert parse_sensor_size("640X480") == (640, 480)
    assert parse_sensor_size((np.int64(346), 260)) == (346, 260)


def test_caller_arrays_are_never_touched() -> None:
    t = np.arange(6, dtype=np.int64)
    x = np.arange(6, dtype=np.int32)
    y = np.zeros(6, dtype=np.int32)
    p = np.ones(6, dtype=np.int8)
    copies = [a.copy() for a in (t, x, y, p)]
    ev = Events(t=t, x=x, y=y, p=p, sensor_size=(6, 1))
    list(ev.window_by_count(4))
    list(ev.window_by_duration(2))
    ev.time_window(1, 3)
    for original, copy in zip((t, x, y, p), copies):
        assert original.flags.writeable  # the caller's flags are not changed
        np.testing.assert_array_equal(original, copy)
    with pytest.raises(ValueError):
        ev.x[0] = 5  # the record's views are read-only
    with pytest.raises(AttributeError):
        ev.t = t  # type: ignore[misc]  # frozen


def test_slicing_gives_read_only_views() -> None:
    ev = make(10)
    part = ev[2:7]
    assert len(part) == 5 and part.t.tolist() == [20, 30, 40, 50, 60]
    assert part.sensor_size == ev.sensor_size
    assert np.shares_memory(part.t, ev.t) and not part.t.flags.writeable
    assert ev[::3].t.tolist() == [0, 30, 60, 90]
    with pytest.raises(ValueError, match="positive step"):
        ev[::-1]
    with pytest.raises(TypeError, match="index range"):
        ev[3]  # type: ignore[call-overload]


def test_time_window_is_half_open() -> None:
    ev = Events(t=[0, 10, 10, 20, 30], x=[0] * 5, y=[0] * 5, p=[1] * 5, sensor_size=(1, 1))
    assert ev.time_window(10, 30).t.tolist() == [10, 10, 20]
    assert ev.time_window(11, 20).t.tolist() == []
    assert ev.time_window(30, 10).t.tolist() == []  # reversed bounds: empty, not an error
    assert ev.time_window(-5, 1000).t.tolist() == ev.t.tolist()


def test_window_by_count() -> None:
    ev = make(10)
    sizes = [len(w) for w in ev.window_by_count(4)]
    assert sizes == [4, 4, 2]
    assert [len(w) for w in ev.window_by_count(4, drop_last=True)] == [4, 4]
    assert np.concatenate([w.t for w in ev.window_by_count(3)]).tolist() == ev.t.tolist()
    with pytest.raises(InputError):
        list(ev.window_by_count(0))


def test_window_by_duration_keeps_a_regular_grid() -> None:
    ev = Events(t=[5, 6, 14, 40], x=[0] * 4, y=[0] * 4, p=[1] * 4, sensor_size=(1, 1))
    windows = list(ev.window_by_duration(10))
    # [5, 15), [15, 25), [25, 35), [35, 45): the empty windows are kept.
    assert [w.t.tolist() for w in windows] == [[5, 6, 14], [], [], [40]]
    windows = list(ev.window_by_duration(10, start_us=0))
    assert [w.t.tolist() for w in windows] == [[5, 6], [14], [], [], [40]]
    assert [w.t.tolist() for w in ev.window_by_duration(10, start_us=10)][0] == [14]
    with pytest.raises(InputError):
        list(ev.window_by_duration(0))


def test_pickle_round_trip_keeps_a_valid_read_only_record() -> None:
    import pickle

    ev = make(5)
    back = pickle.loads(pickle.dumps(ev))
    assert all(np.array_equal(getattr(back, k), getattr(ev, k)) for k in "txyp")
    assert back.sensor_size == ev.sensor_size and not back.t.flags.writeable


def test_public_names() -> None:
    import motionlayers.io as io

    for name in ("Events", "read_events", "write_events", "detect_event_format", "EVENT_FORMATS"):
        assert name in io.__all__ and hasattr(io, name)
