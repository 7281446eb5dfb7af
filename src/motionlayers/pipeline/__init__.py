"""The segmentation pipeline: any input (video, frames, flows, event recording, camera, arrays)
-> a stream of samples -> the method -> linked, smoothed layers with their motion models and the
background first -> full-size labels -> files (`segment_source`) or Python objects (`segment`,
`iter_segment`)."""

from motionlayers.pipeline.options import OPTIONS, SOURCE_KINDS
from motionlayers.pipeline.segmentation import (
    Segmentation,
    SegmentResult,
    iter_segment,
    prepare,
    segment,
    segment_source,
)
from motionlayers.pipeline.sources import open_source
from motionlayers.pipeline.stream import FrameResult

__all__ = [
    "OPTIONS",
    "SOURCE_KINDS",
    "FrameResult",
    "SegmentResult",
    "Segmentation",
    "iter_segment",
    "open_source",
    "prepare",
    "segment",
    "segment_source",
]
