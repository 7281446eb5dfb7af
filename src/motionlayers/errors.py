"""Typed errors and the small guards used at public boundaries.

Every error says what was expected, what came, and (for files) which input was wrong, so that the
command line can print one clear line and exit non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a guard needs it: `import motionlayers` stays light
    import torch


class MotionLayersError(Exception):
    """Base class of the errors this package raises on purpose."""


class ShapeError(MotionLayersError, ValueError):
    """A tensor or array has the wrong number of dimensions or the wrong size."""


class InputError(MotionLayersError, ValueError):
    """An input file or value is missing, corrupt, empty or otherwise unusable.

    Args:
        source: the file (or argument name) that is wrong; it leads the message.
        problem: what is wrong with it.
    """

    def __init__(self, source: str | Path, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by a signal other than Ctrl-C (e.g. SIGTERM from
    ``timeout`` or a scheduler). A `KeyboardInterrupt`, so that the code that cleans up after
    Ctrl-C (temporary files, worker threads) cleans up after it too.

    Args:
        signal_number: the signal received; the exit status is ``128 + signal_number``.
    """

    def __init__(self, signal_number: int):
        self.signal_number = signal_number
        super().__init__(f"signal {signal_number}")


def check_shape(tensor: torch.Tensor, dims: Sequence[int | str | None], name: str) -> None:
    """Raise `ShapeError` unless ``tensor`` has ``len(dims)`` dimensions matching ``dims``.

    ``dims`` holds an int (exact size), a letter (any size, named in the message) or None.

    Example:
        >>> check_shape(torch.zeros(1, 2, 4, 5), ("B", 2, "H", "W"), "flow")
    """
    expected = "(" + ", ".join("*" if d is None else str(d) for d in dims) + ")"
    if tensor.ndim != len(dims):
        raise ShapeError(f"{name}: expected shape {expected}, got {tuple(tensor.shape)}")
    for size, want in zip(tensor.shape, dims):
        if isinstance(want, int) and size != want:
            raise ShapeError(f"{name}: expected shape {expected}, got {tuple(tensor.shape)}")


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``choices``, else `InputError` naming ``name`` and the choices."""
    if value not in choices:
        raise InputError(name, f"unknown {value!r}; choose from {tuple(choices)}")
    return value


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise `InputError` if ``tensor`` holds NaN or infinite values."""
    import torch

    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise InputError(name, f"{bad} non-finite value(s) (NaN or inf)")
