"""Classical (non-learned) motion segmentation: EM over parametric models (thesis 2.4.4) and
hierarchical robust affine layers (thesis 5.2.2)."""

from motionlayers.classical.em import (
    INITIALISATIONS,
    LIKELIHOODS,
    EMResult,
    classical_em,
    random_masks,
)
from motionlayers.classical.robust import RobustResult, robust_layers

__all__ = [
    "INITIALISATIONS",
    "LIKELIHOODS",
    "EMResult",
    "RobustResult",
    "classical_em",
    "random_masks",
    "robust_layers",
]
