"""Visualisation: colour maps for labels and flows, side-by-side panels (more modules to come)."""

from motionlayers.viz.panels import color_flow, color_labels, overlay_labels, side_by_side

__all__ = ["color_flow", "color_labels", "overlay_labels", "side_by_side"]
