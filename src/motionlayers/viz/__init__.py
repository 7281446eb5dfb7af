"""Visualisation: readable overlays of layers over frames and events, colour maps for labels and
flows, side-by-side panels (more modules to come)."""

from motionlayers.viz.overlay import (
    LAYER_COLOURS_BGR,
    draw_legend,
    event_overlay,
    frame_overlay,
    layer_names,
)
from motionlayers.viz.panels import color_flow, color_labels, overlay_labels, side_by_side

__all__ = [
    "LAYER_COLOURS_BGR",
    "color_flow",
    "color_labels",
    "draw_legend",
    "event_overlay",
    "frame_overlay",
    "layer_names",
    "overlay_labels",
    "side_by_side",
]
