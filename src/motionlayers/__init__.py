"""motionlayers: unsupervised layered motion segmentation of videos and event streams.

A scene's motion is a stack of layers, each a support (soft mask) and a parametric motion model.
Subpackages (dependencies point down this list only): ``motion``, ``io``, ``flow``, ``events``,
``data``, ``nets``, ``losses``, ``methods``, ``postprocess``, ``eval``, ``viz``, ``cli``.
"""

from motionlayers.errors import InputError, MotionLayersError, ShapeError

__version__ = "0.2.0"
__all__ = ["InputError", "MotionLayersError", "ShapeError", "__version__"]
