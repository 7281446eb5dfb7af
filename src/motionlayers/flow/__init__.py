"""Optical flow: backends behind one interface, iteration over videos, resizing, colour wheel.

Flow from a backend or a file is NumPy ``(H, W, 2)`` float32; in tensors it is ``(B, 2, H, W)``.
Channel 0 = u (along x, columns), channel 1 = v (along y, rows), in pixels of the flow's grid.
"""

from motionlayers.defaults import FLOW_OVERSAMPLING
from motionlayers.flow.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    DISBackend,
    FarnebackBackend,
    FlowBackend,
    PrecomputedBackend,
    available_backends,
    get_backend,
    register_backend,
)
from motionlayers.flow.colorwheel import colorwheel_legend, flow_to_color, make_colorwheel
from motionlayers.flow.export import export_flows
from motionlayers.flow.iterate import iter_flows, oversampled_size
from motionlayers.flow.resize import from_tensor, resize_flow, to_tensor

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "FLOW_OVERSAMPLING",
    "DISBackend",
    "FarnebackBackend",
    "FlowBackend",
    "PrecomputedBackend",
    "available_backends",
    "colorwheel_legend",
    "export_flows",
    "flow_to_color",
    "from_tensor",
    "get_backend",
    "iter_flows",
    "make_colorwheel",
    "oversampled_size",
    "register_backend",
    "resize_flow",
    "to_tensor",
]
