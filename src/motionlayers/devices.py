"""Torch devices named by the user, checked before any work starts."""

from __future__ import annotations

import re

from motionlayers.errors import InputError

DEVICE_KINDS = "cpu, cuda, cuda:N, mps"
"""The devices motionlayers runs on, as the messages list them."""
_DEVICE = re.compile(r"(cpu|mps)(?::0)?|cuda(?::(\d+))?")


def resolve_device(name: str, option: str = "--device") -> str:
    """``name`` if this machine has that device (``cpu``, ``cuda``, ``cuda:N`` or ``mps``).

    The name is checked first, without torch; torch is imported (here, not at module level, so
    that the command line can import this module cheaply) only to ask for a GPU.

    Raises:
        InputError: ``name`` is not a device (``--device: 'banana' is not a torch device (cpu,
            cuda, cuda:N, mps)``), or the machine lacks it (``--device cuda: CUDA is not
            available on this machine``).
    """
    match = _DEVICE.fullmatch(name.strip().lower())
    if match is None:
        raise InputError(option, f"{name!r} is not a torch device ({DEVICE_KINDS})")
    kind = match.group(1) or "cuda"
    if kind == "cpu":
        return "cpu"
    import torch

    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"{option} {name}", "MPS (Apple GPU) is not available on this machine")
        return "mps"
    if not torch.cuda.is_available():
        raise InputError(f"{option} {name}", "CUDA is not available on this machine")
    count = torch.cuda.device_count()
    if match.group(2) is not None and int(match.group(2)) >= count:
        raise InputError(
            f"{option} {name}",
            f"this machine has {count} CUDA device(s): cuda:0 to cuda:{count - 1}",
        )
    return match.group(0)
