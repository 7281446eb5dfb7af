"""Objectives as pure functions (plus thin modules): EM flow reconstruction, ST-MS's
reconstruction and temporal consistency on flow volumes, event deblurring, losses towards
targets (self-training)."""

from motionlayers.losses.em import (
    NORMALISATIONS,
    EMLoss,
    em_loss,
    em_loss_fitted,
    fit_models,
    negative_entropy,
)
from motionlayers.losses.events import (
    TIMESTAMP_NORMALISATIONS,
    AverageTimestampLoss,
    ContrastLoss,
    MultiReferenceFocusLoss,
    average_timestamp_loss,
    contrast,
    contrast_loss,
    focus,
    multi_reference_focus_loss,
)
from motionlayers.losses.targets import mask_cross_entropy, motion_l1
from motionlayers.losses.temporal import (
    LT_MODEL,
    OCCLUSION_SHARE,
    ST_MODEL,
    STLoss,
    consistency_loss,
    fit_volume_models,
    occlusion_keep,
    reconstruction_loss,
    st_loss,
)

__all__ = [
    "NORMALISATIONS",
    "OCCLUSION_SHARE",
    "LT_MODEL",
    "ST_MODEL",
    "TIMESTAMP_NORMALISATIONS",
    "AverageTimestampLoss",
    "ContrastLoss",
    "EMLoss",
    "MultiReferenceFocusLoss",
    "STLoss",
    "average_timestamp_loss",
    "contrast",
    "consistency_loss",
    "contrast_loss",
    "em_loss",
    "em_loss_fitted",
    "fit_models",
    "fit_volume_models",
    "focus",
    "mask_cross_entropy",
    "motion_l1",
    "multi_reference_focus_loss",
    "negative_entropy",
    "occlusion_keep",
    "reconstruction_loss",
    "st_loss",
]
