"""DAVIS per-sequence statistics: mean, recall and decay bins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motionlayers.eval.statistics import davis_statistics


def test_known_answer_ten_frames() -> None:
    values = np.arange(10, dtype=float) / 10  # 0.0 .. 0.9
    stats = davis_statistics(values)
    assert stats.mean == pytest.approx(0.45)
    assert stats.recall == pytest.approx(0.4)  # 0.6, 0.7, 0.8, 0.9
    # 5 edges at round(linspace(1, 10, 5)) - 1 = [0, 2, 5, 7, 9] (3.25 -> 3, 7.75 -> 8)
    first = values[0:3].mean()
    last = values[7:10].mean()
    assert stats.decay == pytest.approx(first - last)


def test_halves_round_up() -> None:
    # n = 3: linspace(1, 3, 5) = 1, 1.5, 2, 2.5, 3 -> edges 0, 1, 1, 2, 2 (halves rounded up)
    stats = davis_statistics(np.array([1.0, 0.5, 0.0]))
    assert stats.decay == pytest.approx(np.mean([1.0, 0.5]) - 0.0)


def test_nan_frames_are_ignored_and_empty_is_nan() -> None:
    with_nan = davis_statistics(np.array([np.nan, 1.0, 1.0, 0.0, 0.0, np.nan]))
    plain = davis_statistics(np.array([1.0, 1.0, 0.0, 0.0]))
    assert with_nan == plain
    assert all(math.isnan(v) for v in davis_statistics(np.array([np.nan])))


def test_single_frame() -> None:
    stats = davis_statistics(np.array([0.7]))
    assert stats.mean == 0.7 and stats.recall == 1.0 and stats.decay == 0.0
