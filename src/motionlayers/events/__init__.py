"""Event streams: representations, warping by per-layer motion, simulation.

`Events` (the canonical record) lives in `motionlayers.io` and is re-exported here.
"""

from motionlayers.events.representations import event_counts, time_surface, voxel_grid
from motionlayers.events.warp import (
    event_flow,
    event_tensors,
    image_of_warped_events,
    layer_iwes,
    pixel_index,
    sample_masks,
    splat,
    warp_events,
)
from motionlayers.io.event_container import Events

__all__ = [
    "Events",
    "event_counts",
    "event_flow",
    "event_tensors",
    "image_of_warped_events",
    "layer_iwes",
    "pixel_index",
    "sample_masks",
    "splat",
    "time_surface",
    "voxel_grid",
    "warp_events",
]
