"""The one canonical event record that every reader returns and every consumer takes.

Convention:
    - ``t``: ``(N,)`` int64, microseconds, non-decreasing. The origin is whatever the source file
      encodes (a recording's own clock, not shifted to zero); see each reader for its origin.
    - ``x``: ``(N,)`` int32, column index in ``[0, W)``, growing to the right.
    - ``y``: ``(N,)`` int32, row index in ``[0, H)``, growing downwards (image convention, origin at
      the top-left pixel).
    - ``p``: ``(N,)`` int8, ``+1`` for an ON event (brighter), ``-1`` for an OFF event (darker).
    - ``sensor_size``: ``(W, H)`` = (width, height), in this order everywhere in this module.
      Note that it is the reverse of an image array's ``(H, W)`` shape.

An `Events` never changes: its arrays are read-only views, and every method returns a new
`Events` (sharing memory with this one where it can) instead of modifying anything. The arrays of
a caller are never written to (not even their ``writeable`` flag).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from motionlayers.errors import InputError, ShapeError
from motionlayers.limits import (
    MAX_SENSOR_PIXELS,
    MAX_WINDOWS,
    MIN_WINDOW_EVENTS,
    MIN_WINDOW_US,
    check_pixels,
)

__all__ = ["Events", "check_windows", "parse_sensor_size"]


def parse_sensor_size(value: object, name: str = "sensor_size") -> tuple[int, int]:
    """Return ``(W, H)`` from a pair of positive ints or a ``"WxH"`` string such as ``"640x480"``.

    Raises:
        InputError: ``value`` is not two positive integers, or the sensor has more than
            `motionlayers.limits.MAX_SENSOR_PIXELS` (windows are rendered as ``(H, W)`` images).
    """
    pair: object = value
    if isinstance(value, str):
        pair = value.lower().replace(",", "x").split("x")
    try:
        width, height = (int(v) for v in pair)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InputError(name, f"expected (W, H) or 'WxH' such as 640x480, got {value!r}") from None
    if width <= 0 or height <= 0:
        raise InputError(name, f"width and height must be positive, got {width}x{height}")
    check_pixels(name, width, height, MAX_SENSOR_PIXELS, "a sensor", "")
    return width, height


def check_windows(events: Events, window_events: int | None, window_us: int | None) -> int:
    """The number of windows ``events`` is cut into, by ``window_events`` events each or by
    ``window_us`` microseconds (exactly one of them given), once both are within bounds.

    Raises:
        InputError: named after ``--window-events`` / ``--window-us``: not positive, shorter
            than `MIN_WINDOW_EVENTS` / `MIN_WINDOW_US`, or more than `MAX_WINDOWS` windows.
    """
    if window_events is not None and window_us is not None:
        raise InputError("--window-us", "give --window-events or --window-us, not both")
    name, value, least, unit = (
        ("--window-us", window_us, MIN_WINDOW_US, "us")
        if window_us is not None
        else ("--window-events", window_events, MIN_WINDOW_EVENTS, "events")
    )
    if value is None:
        raise InputError("--window-events", "give --window-events or --window-us")
    if value <= 0:
        raise InputError(name, f"must be positive, got {value}")
    if value < least:
        raise InputError(name, f"{value} is too short: a window must hold at least {least} {unit}")
    if window_us is not None:
        count = events.duration_us // window_us + 1 if len(events) else 0
        span = f"the {events.duration_us / 1e6:.3g} s recording"
    else:
        count = -(-len(events) // value)
        span = f"the {len(events)} events"
    if count > MAX_WINDOWS:
        raise InputError(
            name,
            f"{value} cuts {span} into {count} windows, more than the maximum of "
            f"{MAX_WINDOWS}; use longer windows",
        )
    return count


def _readonly(array: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only view of ``array`` as ``dtype`` (a copy only when the dtype differs)."""
    view: np.ndarray = np.asarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False, repr=False)
class Events:
    """A time-sorted stream of polarity events from a sensor of ``sensor_size = (W, H)``.

    Args:
        t: ``(N,)`` timestamps in microseconds (int64 after conversion), non-decreasing.
        x: ``(N,)`` columns in ``[0, W)`` (int32 after conversion).
        y: ``(N,)`` rows in ``[0, H)`` (int32 after conversion), origin at the top.
        p: ``(N,)`` polarities, each ``+1`` (ON) or ``-1`` (OFF) (int8 after conversion).
        sensor_size: ``(W, H)``, width first.

    The constructor converts dtypes (copying only when needed), stores read-only views and
    validates everything: equal 1-D lengths (`ShapeError`), integer values, sorted timestamps,
    coordinates inside the sensor and polarities in {-1, +1} (`InputError`).

    Example:
        >>> ev = Events(t=[0, 5, 9], x=[1, 2, 3], y=[0, 0, 1], p=[1, -1, 1], sensor_size=(4, 2))
        >>> len(ev), ev.time_window(0, 6).x.tolist()
        (3, [1, 2])
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    sensor_size: tuple[int, int]

    def __post_init__(self) -> None:
        arrays = {"t": self.t, "x": self.x, "y": self.y, "p": self.p}
        for name, value in arrays.items():
            array = np.asarray(value)
            if array.ndim != 1:
                raise ShapeError(f"events.{name}: expected shape (N,), got {array.shape}")
            if array.size and array.dtype.kind not in "biuf":
                raise InputError(f"events.{name}", f"expected numbers, got dtype {array.dtype}")
            if array.size and not (
                np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
            ):
                if not np.array_equal(array, np.round(array)):
                    raise InputError(f"events.{name}", f"non-integer values ({array.dtype})")
            arrays[name] = array
        lengths = {name: len(a) for name, a in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ShapeError(f"events: t, x, y, p must have one length, got {lengths}")
        width, height = parse_sensor_size(self.sensor_size, "events.sensor_size")
        _check_values(arrays, width, height)
        object.__setattr__(self, "sensor_size", (width, height))
        object.__setattr__(self, "t", _readonly(arrays["t"], np.int64))
        object.__setattr__(self, "x", _readonly(arrays["x"], np.int32))
        object.__setattr__(self, "y", _readonly(arrays["y"], np.int32))
        object.__setattr__(self, "p", _readonly(arrays["p"], np.int8))

    @classmethod
    def _trusted(
        cls, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, size: tuple[int, int]
    ) -> Events:
        """Wrap arrays already known to be canonical and valid (slices of an `Events`)."""
        events = object.__new__(cls)
        for name, value in (("t", t), ("x", x), ("y", y), ("p", p)):
            view = value.view()
            view.flags.writeable = False
            object.__setattr__(events, name, view)
        object.__setattr__(events, "sensor_size", size)
        return events

    def __reduce__(self) -> tuple[type, tuple]:
        """Pickle (e.g. to data-loader workers) through the validating constructor."""
        return (Events, (self.t, self.x, self.y, self.p, self.sensor_size))

    @classmethod
    def empty(cls, sensor_size: tuple[int, int]) -> Events:
        """No events, on a sensor of ``(W, H)``."""
        zeros = np.zeros(0, dtype=np.int64)
        return cls(t=zeros, x=zeros, y=zeros, p=zeros, sensor_size=sensor_size)

    @property
    def width(self) -> int:
        """W, the number of columns."""
        return self.sensor_size[0]

    @property
    def height(self) -> int:
        """H, the number of rows."""
        return self.sensor_size[1]

    @property
    def duration_us(self) -> int:
        """``t[-1] - t[0]`` in microseconds (0 for fewer than two events)."""
        return int(self.t[-1] - self.t[0]) if len(self) else 0

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __repr__(self) -> str:
        span = f", t=[{self.t[0]}, {self.t[-1]}] us" if len(self) else ""
        return f"Events(n={len(self)}, sensor_size=(W={self.width}, H={self.height}){span})"

    def __getitem__(self, index: slice) -> Events:
        """Events ``index`` (a slice with a positive step), sharing memory with this one."""
        if not isinstance(index, slice):
            raise TypeError(f"Events can be sliced by an index range only, got {type(index)}")
        if index.step is not None and index.step <= 0:
            raise ValueError("Events slices need a positive step (time must stay sorted)")
        return Events._trusted(
            self.t[index], self.x[index], self.y[index], self.p[index], self.sensor_size
        )

    def time_window(self, t0: int, t1: int) -> Events:
        """Events with ``t0 <= t < t1`` (microseconds), found by binary search (a view)."""
        start, stop = np.searchsorted(self.t, [t0, t1], side="left")
        return self[int(start) : int(max(start, stop))]

    def window_by_count(self, n: int, drop_last: bool = False) -> Iterator[Events]:
        """Consecutive windows of ``n`` events (views); the last one is shorter unless dropped."""
        if int(n) <= 0:
            raise InputError("n", f"window size must be a positive count, got {n}")
        n = int(n)
        stop = len(self) - len(self) % n if drop_last else len(self)
        for start in range(0, stop, n):
            yield self[start : start + n]

    def window_by_duration(self, duration_us: int, start_us: int | None = None) -> Iterator[Events]:
        """Windows ``[s + k d, s + (k + 1) d)`` covering all events, empty windows included.

        ``s`` is ``start_us`` (default: the first timestamp) and ``d`` is ``duration_us``, so the
        k-th window always starts at ``s + k d``; events before ``s`` are skipped.
        """
        if int(duration_us) <= 0:
            raise InputError("duration_us", f"must be a positive duration, got {duration_us}")
        if not len(self):
            return
        step = int(duration_us)
        origin = int(self.t[0]) if start_us is None else int(start_us)
        count = max(0, (int(self.t[-1]) - origin) // step + 1)
        edges = origin + step * np.arange(count + 1, dtype=np.int64)
        bounds = np.searchsorted(self.t, edges, side="left")
        for k in range(count):
            yield self[int(bounds[k]) : int(bounds[k + 1])]


def _check_values(arrays: dict[str, np.ndarray], width: int, height: int) -> None:
    """Raise `InputError` for unsorted times, coordinates off the sensor or bad polarities."""
    t, x, y, p = arrays["t"], arrays["x"], arrays["y"], arrays["p"]
    if len(t) == 0:
        return
    if len(t) > 1:
        backwards = np.flatnonzero(t[1:] < t[:-1])
        if backwards.size:
            i = int(backwards[0])
            raise InputError(
                "events.t",
                f"timestamps must be non-decreasing; t[{i}]={t[i]} > t[{i + 1}]={t[i + 1]} "
                f"({backwards.size} inversion(s))",
            )
    for name, coord, size in (("x", x, width), ("y", y, height)):
        low, high = coord.min(), coord.max()
        if low < 0 or high >= size:
            axis = "W" if name == "x" else "H"
            raise InputError(
                f"events.{name}",
                f"coordinates must lie in [0, {size}) for sensor_size (W={width}, H={height}); "
                f"got values in [{low}, {high}] ({axis} too small?)",
            )
    bad = (p != 1) & (p != -1)
    if bad.any():
        raise InputError(
            "events.p", f"polarities must be +1 or -1, got {np.unique(p[bad])[:5].tolist()}"
        )
