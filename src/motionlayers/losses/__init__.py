"""Objectives as pure functions (plus thin modules): EM flow reconstruction, event deblurring,
losses towards targets (self-training)."""

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

__all__ = [
    "NORMALISATIONS",
    "TIMESTAMP_NORMALISATIONS",
    "AverageTimestampLoss",
    "ContrastLoss",
    "EMLoss",
    "MultiReferenceFocusLoss",
    "average_timestamp_loss",
    "contrast",
    "contrast_loss",
    "em_loss",
    "em_loss_fitted",
    "fit_models",
    "focus",
    "mask_cross_entropy",
    "motion_l1",
    "multi_reference_focus_loss",
    "negative_entropy",
]
