"""Datasets and generators: synthetic layered flows, image pairs and sequences with exact masks.

`generate_layered_flow` draws one scene (flow ``(2, H, W)``, labels ``(H, W)``, per-layer theta
``(K, 2, 6)`` quadratic12, optionally the image pair); `generate_sequence` draws ``T`` steps with
models that change linearly in time (``"quadratic12+linear"``); `SyntheticFlowDataset` serves
them by index and `write_synthetic_dataset` writes them in a DAVIS-like layout.
`FlowVolumeDataset` serves volumes of consecutive flows of real videos (ST-MS's triplets).
`SyntheticFramePairs`, `SmallObjectPairs` and `VideoFramePairs` serve image pairs for flow
networks: layered scenes and tiny moving objects with exact flow and visibility, and
consecutive frames of real videos for unsupervised losses.
"""

from motionlayers.data.compositing import composite, inverse_points, random_texture
from motionlayers.data.dataset import MODES, SyntheticFlowDataset
from motionlayers.data.flow_pairs import ImageTextures, SyntheticFramePairs
from motionlayers.data.layered import (
    LayeredSequence,
    SynthConfig,
    corrupt,
    generate_sequence,
    make_rng,
    place_objects,
    visible_labels,
)
from motionlayers.data.motions import MOTION_KINDS, motion_theta, sample_motion
from motionlayers.data.pairs import LayeredFlow, estimate_flow, generate_layered_flow
from motionlayers.data.shapes import SHAPE_KINDS, random_shape
from motionlayers.data.small_objects import SmallObjectPairs
from motionlayers.data.video_pairs import VideoFramePairs
from motionlayers.data.volumes import FlowVolumeDataset, split_by_source
from motionlayers.data.writer import write_synthetic_dataset

__all__ = [
    "MODES",
    "MOTION_KINDS",
    "SHAPE_KINDS",
    "FlowVolumeDataset",
    "LayeredFlow",
    "LayeredSequence",
    "SmallObjectPairs",
    "SynthConfig",
    "SyntheticFlowDataset",
    "ImageTextures",
    "SyntheticFramePairs",
    "VideoFramePairs",
    "composite",
    "corrupt",
    "estimate_flow",
    "generate_layered_flow",
    "generate_sequence",
    "inverse_points",
    "make_rng",
    "motion_theta",
    "place_objects",
    "random_shape",
    "random_texture",
    "sample_motion",
    "split_by_source",
    "visible_labels",
    "write_synthetic_dataset",
]
