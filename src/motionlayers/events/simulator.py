"""ESIM-style event simulator: rendered intensity frames -> `Events` (Rebecq et al. CoRL 2018).

Each pixel keeps a reference log intensity ``L_ref`` (the level of its last event). Between two
rendered frames the log intensity ``L = log(I + eps)`` is interpolated linearly in time; every
crossing of ``L_ref + j C_on`` (rising) or ``L_ref - j C_off`` (falling), ``j = 1, 2, ...``, is an
event whose timestamp is the interpolated crossing time, and the reference moves to the crossed
level. The thresholds carry per-pixel Gaussian noise (``C + sigma N(0, 1)``, drawn once, at least
``min_threshold``). An event closer than ``refractory_us`` to the previous event emitted at its
pixel is dropped (its level is still crossed, as in ESIM).

Vectorised over pixels; loops run over frames and over the crossing index ``j`` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.event_container import Events

__all__ = ["EventSimulator", "simulate_events"]


class EventSimulator:
    """Stateful simulator for a sensor of ``sensor_size = (W, H)``; feed frames in time order.

    Args:
        sensor_size: ``(W, H)``.
        threshold_on, threshold_off: mean contrast thresholds ``C_on``, ``C_off`` (log units).
        threshold_sigma: standard deviation of the per-pixel threshold noise.
        refractory_us: minimum time between two events of one pixel (0: none).
        log_eps: ``eps`` in ``L = log(I + eps)``; intensities are linear, ``>= 0``.
        seed: seed of the threshold noise.
        min_threshold: lower bound of the noisy thresholds.
    """

    def __init__(
        self,
        sensor_size: tuple[int, int],
        threshold_on: float = 0.2,
        threshold_off: float = 0.2,
        threshold_sigma: float = 0.0,
        refractory_us: int = 0,
        log_eps: float = 1e-3,
        seed: int = 0,
        min_threshold: float = 0.01,
    ) -> None:
        if min(threshold_on, threshold_off) <= 0:
            raise InputError("threshold", "contrast thresholds must be positive")
        self.width, self.height = int(sensor_size[0]), int(sensor_size[1])
        rng = np.random.default_rng(seed)
        shape = (self.height, self.width)
        self.c_on = np.maximum(
            threshold_on + threshold_sigma * rng.standard_normal(shape), min_threshold
        )
        self.c_off = np.maximum(
            threshold_off + threshold_sigma * rng.standard_normal(shape), min_threshold
        )
        self.refractory_us = int(refractory_us)
        self.log_eps = float(log_eps)
        self._ref: np.ndarray | None = None
        self._log: np.ndarray | None = None
        self._time = 0
        self._last = np.full(shape, np.iinfo(np.int64).min // 2, dtype=np.int64)

    def _log_frame(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame, dtype=np.float64)
        if frame.shape != (self.height, self.width):
            raise ShapeError(
                f"simulator: expected a frame (H, W) = {(self.height, self.width)}, "
                f"got {frame.shape}"
            )
        return np.log(np.maximum(frame, 0.0) + self.log_eps)

    def reset(self, frame: np.ndarray, time_us: int) -> None:
        """Start at ``frame`` ``(H, W)`` (linear intensity) at ``time_us``; no events."""
        self._log = self._log_frame(frame)
        self._ref = self._log.copy()
        self._time = int(time_us)
        self._last[:] = np.iinfo(np.int64).min // 2

    def step(
        self, frame: np.ndarray, time_us: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Events between the previous frame and ``frame`` ``(H, W)`` rendered at ``time_us``.

        Returns:
            ``(t, x, y, p)`` arrays (int64 us, int32, int32, int8), sorted by time. The first
            call after construction only resets the simulator and returns no events.
        """
        if self._log is None or self._ref is None:
            self.reset(frame, time_us)
            return _empty()
        if int(time_us) <= self._time:
            raise InputError(
                "time_us", f"frame times must increase, got {time_us} after {self._time}"
            )
        start, log0, log1 = self._time, self._log, self._log_frame(frame)
        span = int(time_us) - start
        chunks = []
        for sign, thresholds in ((1, self.c_on), (-1, self.c_off)):
            counts = np.floor(sign * (log1 - self._ref) / thresholds).astype(np.int64)
            counts = np.maximum(counts, 0)
            rows, cols = np.nonzero(counts)
            if rows.size == 0:
                continue
            n, ref, c = counts[rows, cols], self._ref[rows, cols], thresholds[rows, cols]
            l0, l1 = log0[rows, cols], log1[rows, cols]
            for j in range(1, int(n.max()) + 1):
                active = n >= j
                level = ref[active] + sign * j * c[active]
                fraction = np.clip((level - l0[active]) / (l1[active] - l0[active]), 0.0, 1.0)
                t = start + np.rint(fraction * span).astype(np.int64)
                r, q = rows[active], cols[active]
                fire = t - self._last[r, q] >= self.refractory_us
                self._last[r[fire], q[fire]] = t[fire]
                chunks.append((t[fire], q[fire], r[fire], np.full(int(fire.sum()), sign)))
            self._ref[rows, cols] = ref + sign * n * c
        self._log, self._time = log1, int(time_us)
        if not chunks:
            return _empty()
        t, x, y, p = (np.concatenate(parts) for parts in zip(*chunks))
        order = np.lexsort((x, y, t))
        return (
            t[order],
            x[order].astype(np.int32),
            y[order].astype(np.int32),
            p[order].astype(np.int8),
        )


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros(0, np.int64),
        np.zeros(0, np.int32),
        np.zeros(0, np.int32),
        np.zeros(0, np.int8),
    )


def simulate_events(
    frames: Sequence[np.ndarray] | np.ndarray,
    times_us: Sequence[int] | np.ndarray,
    threshold_on: float = 0.2,
    threshold_off: float = 0.2,
    threshold_sigma: float = 0.0,
    refractory_us: int = 0,
    log_eps: float = 1e-3,
    seed: int = 0,
) -> Events:
    """Events of a sequence of linear-intensity frames ``(T, H, W)`` rendered at ``times_us``.

    See `EventSimulator` for the model and the arguments. Deterministic given ``seed``.

    Returns:
        `Events` on a sensor of ``(W, H)``, sorted by time (ties by row, then column).
    """
    times = np.asarray(times_us, dtype=np.int64)
    if len(frames) != times.shape[0] or len(frames) == 0:
        raise ShapeError(f"simulate_events: {len(frames)} frame(s) but {times.shape[0]} time(s)")
    first = np.asarray(frames[0])
    if first.ndim != 2:
        raise ShapeError(f"simulate_events: frames must be (T, H, W), got a frame {first.shape}")
    height, width = first.shape
    sim = EventSimulator(
        (width, height), threshold_on, threshold_off, threshold_sigma, refractory_us, log_eps, seed
    )
    parts = [sim.step(frame, int(t)) for frame, t in zip(frames, times)]
    t, x, y, p = (np.concatenate(column) for column in zip(*parts))
    return Events(t=t, x=x, y=y, p=p, sensor_size=(width, height))
