"""Post-processing of segmentations: temporal linking, connected components, upsampling of soft
masks and no-ground-truth choice of the background layer."""

from motionlayers.postprocess.components import connected_components, remove_small_segments
from motionlayers.postprocess.foreground import (
    EXPLAINED_RATIO,
    FOREGROUND_RULES,
    absorb_explained,
    background_layers,
    border_band,
    foreground_masks,
)
from motionlayers.postprocess.linking import (
    LINKINGS,
    iou_matrix,
    link_labels,
    link_masks,
    link_pair,
    relabel_table,
)
from motionlayers.postprocess.upsample import (
    labels_to_masks,
    masks_to_labels,
    upsample_labels,
    upsample_masks,
)

__all__ = [
    "EXPLAINED_RATIO",
    "FOREGROUND_RULES",
    "LINKINGS",
    "absorb_explained",
    "background_layers",
    "border_band",
    "connected_components",
    "foreground_masks",
    "iou_matrix",
    "labels_to_masks",
    "link_labels",
    "link_masks",
    "link_pair",
    "masks_to_labels",
    "relabel_table",
    "remove_small_segments",
    "upsample_labels",
    "upsample_masks",
]
