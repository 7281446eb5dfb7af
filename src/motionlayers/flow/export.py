"""Compute the flow of a video and write it as a folder of flow files plus colour-wheel images."""

from __future__ import annotations

from pathlib import Path

from motionlayers.errors import InputError
from motionlayers.flow.backends import DEFAULT_BACKEND, FlowBackend
from motionlayers.flow.colorwheel import flow_to_color
from motionlayers.flow.iterate import iter_flows
from motionlayers.io.atomic import atomic_directory
from motionlayers.io.flow import FLOW_FORMATS, write_flow
from motionlayers.io.frames import write_image


def export_flows(
    source: str | Path,
    out: str | Path,
    backend: str | FlowBackend = DEFAULT_BACKEND,
    size: tuple[int, int] | None = None,
    fmt: str = "flo",
    progress: bool = True,
) -> int:
    """Write ``out/<stem>.<fmt>`` (flow from frame t to t+1) and ``out/color/<stem>.png``.

    The files are built aside and moved into ``out`` only when complete (`atomic_directory`):
    on any error ``out`` is left as it was (absent if it did not exist); files in ``out`` that
    motionlayers did not write are never touched, and an ``out`` that is, contains or lies
    inside the input is refused. Each colour image is
    saturated at its own largest flow length (`flow_to_color`'s default).

    Args:
        source, backend, size, progress: as for `iter_flows`.
        fmt: one of `FLOW_FORMATS` (``flo``, ``png`` = KITTI 16-bit, ``pfm``, ``npy``, ``npz``).

    Returns:
        the number of flow files written (frames - 1).
    """
    if fmt not in FLOW_FORMATS:
        raise InputError("format", f"unknown flow format '{fmt}' ({', '.join(FLOW_FORMATS)})")
    flows = iter_flows(source, backend=backend, size=size, progress=progress)
    with atomic_directory(out, kind="flow", inputs=[source]) as tmp:
        (tmp / "color").mkdir()
        count = 0
        for stem, _frame, flow in flows:
            write_flow(tmp / f"{stem}.{fmt}", flow)
            write_image(tmp / "color" / f"{stem}.png", flow_to_color(flow))
            count += 1
    return count
