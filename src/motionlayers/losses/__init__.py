"""Objectives as pure functions (plus thin modules)."""

from motionlayers.losses.em import (
    NORMALISATIONS,
    EMLoss,
    em_loss,
    em_loss_fitted,
    fit_models,
    negative_entropy,
)

__all__ = [
    "NORMALISATIONS",
    "EMLoss",
    "em_loss",
    "em_loss_fitted",
    "fit_models",
    "negative_entropy",
]
