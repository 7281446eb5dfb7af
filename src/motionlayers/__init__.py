"""motionlayers: unsupervised layered motion segmentation of videos and event streams.

A scene's motion is a stack of layers, each a support (soft mask) and a parametric motion model.

    import motionlayers
    result = motionlayers.segment("video.mp4")            # labels (T, H, W), 0 = background
    for frame in motionlayers.iter_segment("camera:0", max_frames=100):
        print(frame.stem, frame.foreground.mean())

Subpackages (dependencies point down this list only): ``motion``, ``io``, ``flow``, ``events``,
``data``, ``nets``, ``losses``, ``postprocess``, ``classical``, ``methods``, ``eval``, ``viz``,
``pipeline``, ``cli``. The names below load torch on first use only (PEP 562), so that the
command line answers ``--help`` at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from motionlayers.errors import InputError, MotionLayersError, ShapeError

if TYPE_CHECKING:
    from motionlayers.methods.registry import available_methods, register_method
    from motionlayers.pipeline import (
        FrameResult,
        Segmentation,
        iter_segment,
        segment,
        segment_source,
    )

__version__ = "0.3.0.dev0"

_LAZY = {
    "segment": "motionlayers.pipeline",
    "iter_segment": "motionlayers.pipeline",
    "segment_source": "motionlayers.pipeline",
    "Segmentation": "motionlayers.pipeline",
    "FrameResult": "motionlayers.pipeline",
    "available_methods": "motionlayers.methods.registry",
    "register_method": "motionlayers.methods.registry",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "FrameResult",
    "InputError",
    "MotionLayersError",
    "Segmentation",
    "ShapeError",
    "__version__",
    "available_methods",
    "iter_segment",
    "register_method",
    "segment",
    "segment_source",
]
