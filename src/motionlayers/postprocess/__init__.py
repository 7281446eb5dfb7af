"""Post-processing of segmentations: temporal linking and smoothing, connected components,
upsampling of soft masks, boundaries snapped to image edges (guided filter), the foreground
refined by the frame's colours and the no-ground-truth choice of the background layer."""

from motionlayers.postprocess.appearance import (
    COLOUR_WEIGHT,
    colour_foreground,
    colour_log_ratio,
)
from motionlayers.postprocess.components import (
    BORDER_CONTACT_LIMIT,
    HOLE_FRACTION,
    border_contact,
    connected_components,
    drop_border_segments,
    fill_holes,
    remove_small_segments,
)
from motionlayers.postprocess.foreground import (
    EXPLAINED_RATIO,
    FOREGROUND_CUT,
    FOREGROUND_RULES,
    absorb_explained,
    background_layers,
    border_band,
    foreground_masks,
)
from motionlayers.postprocess.full_size import frame_labels
from motionlayers.postprocess.guided import (
    SNAP_EPS,
    SNAP_RADIUS,
    SNAP_SUBSAMPLE,
    guided_filter,
    snap_labels,
)
from motionlayers.postprocess.linking import (
    LINKINGS,
    Linker,
    VolumeLinker,
    iou_matrix,
    link_labels,
    link_masks,
    link_pair,
    relabel_masks,
    relabel_table,
)
from motionlayers.postprocess.temporal import TEMPORAL_RADIUS, smooth_masks
from motionlayers.postprocess.upsample import (
    labels_to_masks,
    masks_to_labels,
    upsample_labels,
    upsample_masks,
    upsample_soft,
)

__all__ = [
    "BORDER_CONTACT_LIMIT",
    "COLOUR_WEIGHT",
    "EXPLAINED_RATIO",
    "FOREGROUND_CUT",
    "FOREGROUND_RULES",
    "HOLE_FRACTION",
    "LINKINGS",
    "Linker",
    "SNAP_EPS",
    "SNAP_RADIUS",
    "SNAP_SUBSAMPLE",
    "TEMPORAL_RADIUS",
    "VolumeLinker",
    "absorb_explained",
    "background_layers",
    "border_band",
    "border_contact",
    "colour_foreground",
    "colour_log_ratio",
    "connected_components",
    "drop_border_segments",
    "fill_holes",
    "foreground_masks",
    "frame_labels",
    "guided_filter",
    "iou_matrix",
    "labels_to_masks",
    "link_labels",
    "link_masks",
    "link_pair",
    "masks_to_labels",
    "relabel_masks",
    "relabel_table",
    "remove_small_segments",
    "smooth_masks",
    "snap_labels",
    "upsample_labels",
    "upsample_masks",
    "upsample_soft",
]
