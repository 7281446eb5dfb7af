"""Event streams: representations, warping by per-layer motion, images of warped events and
their contrast, motion-compensation EM (the test-time refinement of event motions), simulation.

`Events` (the canonical record) lives in `motionlayers.io` and is re-exported here.
"""

from motionlayers.events.compensation import (
    REFINE_ROUNDS,
    EventEMResult,
    event_masks,
    gaussian_blur,
    motion_compensation_em,
    refine_window,
    search_translations,
    subpixel_offsets,
)
from motionlayers.events.representations import event_counts, time_surface, voxel_grid
from motionlayers.events.sharpness import FOCUS_FUNCTIONS, contrast, focus
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
    "FOCUS_FUNCTIONS",
    "REFINE_ROUNDS",
    "EventEMResult",
    "Events",
    "contrast",
    "event_counts",
    "event_flow",
    "event_masks",
    "event_tensors",
    "focus",
    "gaussian_blur",
    "image_of_warped_events",
    "layer_iwes",
    "motion_compensation_em",
    "pixel_index",
    "refine_window",
    "sample_masks",
    "search_translations",
    "splat",
    "subpixel_offsets",
    "time_surface",
    "voxel_grid",
    "warp_events",
]
