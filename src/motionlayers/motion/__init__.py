"""Parametric motion models: bases, rendering, distances and batched robust fitting.

Imports torch only. See `motionlayers.motion.models` for the conventions (theta ``(..., 2, J)``,
normalised coordinates, temporal layout).
"""

from motionlayers.motion.bases import (
    basis,
    bspline_basis,
    normalized_coordinates,
    normalized_times,
    pixels_to_normalized,
    spatial_basis,
    temporal_basis,
)
from motionlayers.motion.curves import evaluate_spline_curve, fit_spline_curve, spline_design
from motionlayers.motion.distances import DISTANCES, distance_map, irls_weights
from motionlayers.motion.fit import fit, refine_lbfgs, weighted_loss
from motionlayers.motion.models import (
    SPATIAL_EXPONENTS,
    TEMPORAL_KINDS,
    MotionModel,
    param_map,
    params_to_theta,
    parse_model,
    theta_to_params,
)
from motionlayers.motion.render import evaluate, render, theta_per_frame

__all__ = [
    "DISTANCES",
    "SPATIAL_EXPONENTS",
    "TEMPORAL_KINDS",
    "MotionModel",
    "basis",
    "bspline_basis",
    "distance_map",
    "evaluate",
    "evaluate_spline_curve",
    "fit",
    "fit_spline_curve",
    "irls_weights",
    "normalized_coordinates",
    "normalized_times",
    "param_map",
    "params_to_theta",
    "parse_model",
    "pixels_to_normalized",
    "refine_lbfgs",
    "render",
    "spatial_basis",
    "spline_design",
    "temporal_basis",
    "theta_per_frame",
    "theta_to_params",
    "weighted_loss",
]
