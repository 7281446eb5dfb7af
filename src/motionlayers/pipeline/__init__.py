"""The segmentation pipeline: input (video, frames or flows) -> flows -> method -> linked,
upsampled layers -> masks, foreground, overlay, flow images and motion models on disk."""

from motionlayers.pipeline.registry import (
    METHODS,
    Method,
    available_methods,
    get_method,
    register_method,
)
from motionlayers.pipeline.segment import DEFAULT_METHOD, SegmentResult, segment_source

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Method",
    "SegmentResult",
    "available_methods",
    "get_method",
    "register_method",
    "segment_source",
]
