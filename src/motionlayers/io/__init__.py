"""Readers and writers: optical flow files, frames and videos, masks (indexed PNGs with the
DAVIS palette) and event recordings (one `Events` container for every format).

Flow in memory is ``(H, W, 2)`` float32, u first, in pixels; frames are ``(H, W, 3)`` uint8 BGR;
masks ``(H, W)`` integer labels.
"""

from motionlayers.io.event_container import Events, parse_sensor_size
from motionlayers.io.events import EVENT_FORMATS, detect_event_format, read_events, write_events
from motionlayers.io.flow import (
    FLOW_FORMATS,
    read_flow,
    read_flow_with_valid,
    read_kitti_flow,
    write_flow,
    write_kitti_flow,
)
from motionlayers.io.frames import (
    IMAGE_EXTENSIONS,
    frame_count,
    iter_frames,
    list_frames,
    read_frames,
    read_image,
    resize_image,
    write_image,
)
from motionlayers.io.masks import (
    DAVIS_PALETTE,
    MASK_EXTENSIONS,
    davis_palette,
    list_masks,
    read_mask,
    resize_mask,
    write_mask,
)

__all__ = [
    "EVENT_FORMATS",
    "FLOW_FORMATS",
    "IMAGE_EXTENSIONS",
    "Events",
    "detect_event_format",
    "frame_count",
    "iter_frames",
    "list_frames",
    "parse_sensor_size",
    "read_events",
    "read_flow",
    "read_flow_with_valid",
    "read_frames",
    "read_image",
    "read_kitti_flow",
    "resize_image",
    "write_events",
    "write_flow",
    "write_image",
    "write_kitti_flow",
    "DAVIS_PALETTE",
    "MASK_EXTENSIONS",
    "davis_palette",
    "list_masks",
    "read_mask",
    "resize_mask",
    "write_mask",
]
