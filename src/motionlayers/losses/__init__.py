"""Objectives as pure functions (plus thin modules): EM flow reconstruction, event deblurring."""

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
    "multi_reference_focus_loss",
    "negative_entropy",
]
