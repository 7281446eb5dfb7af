"""Salient segments from a relevance map, and the saliency map by flow inpainting (thesis 5.2.2-3).

Any segmentation gives the candidate regions (the connected components of its layers: the
robust affine layers of eq. 5.5, EM, ST-MS, LT-MS; or the *light* candidates of a crowd,
`light_candidates`). Each region is scored by its mean attribution
``score(S) = sum_{p in S} a(p) / |S|``; the largest region is taken for the background, and every
region scoring above it is salient (`select_salient`). The union of the salient regions is the
binary output that the thesis evaluates.

The saliency map (eq. 5.6) measures how differently a salient region moves: an affine model is
fitted (Huber, as eq. 5.5) to the flow outside the salient set and predicts, inside each salient
region, the flow that the background would have there::

    phi(p) = 1 - exp(-lambda || w_imp(p) - w_p ||),   lambda = 0.15,   phi = 0 outside.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from motionlayers.errors import ShapeError
from motionlayers.motion import fit, render

INPAINT_LAMBDA = 0.15
"""lambda of eq. 5.6."""
MIN_REGION = 0.002
"""Smallest candidate region, as a fraction of the frame (not in the thesis): the mean relevance
of a region of a few pixels (the speckle of robust layers on noisy flow) is mostly noise."""
LIGHT_BOUNDS = (-0.01, 4.0)
"""(alpha_1, alpha_2) of the light candidates: the projection ratio lies in (0.99, 5)."""


def region_scores(regions: np.ndarray, attribution: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean attribution and size of each region: ``(R,)`` float64 and ``(R,)`` int64, for
    ``regions (H, W)`` ids ``0 .. R-1`` and ``attribution (H, W)``."""
    regions, attribution = np.asarray(regions), np.asarray(attribution, dtype=np.float64)
    if regions.shape != attribution.shape or regions.ndim != 2:
        raise ShapeError(
            f"region_scores: regions and attribution must be (H, W) alike, got {regions.shape} "
            f"and {attribution.shape}"
        )
    flat = regions.reshape(-1).astype(np.int64)
    sizes = np.bincount(flat)
    sums = np.bincount(flat, weights=attribution.reshape(-1), minlength=len(sizes))
    return sums / np.maximum(sizes, 1), sizes


def select_salient(
    regions: np.ndarray,
    attribution: np.ndarray,
    candidates: np.ndarray | None = None,
    min_region: float = MIN_REGION,
) -> np.ndarray:
    """``(H, W)`` bool: the regions scoring above the largest one (thesis 5.2.2).

    Args:
        regions: ``(H, W)`` region ids (connected components).
        attribution: ``(H, W)`` relevance per pixel.
        candidates: ``(R,)`` bool, the regions that may be salient (default: all); the
            threshold is the score of the largest region whatever its candidacy.
        min_region: regions smaller than this fraction of the frame are never salient.
    """
    scores, sizes = region_scores(regions, attribution)
    present = sizes > 0
    if present.sum() < 2:
        return np.zeros(np.shape(regions), dtype=bool)
    threshold = scores[int(np.argmax(sizes))]
    keep = present & (scores > threshold) & (sizes >= min_region * np.size(regions))
    if candidates is not None:
        keep &= np.asarray(candidates, dtype=bool)[: len(keep)]
    return keep[np.asarray(regions, dtype=np.int64)]


def light_candidates(
    flow: np.ndarray, attribution: np.ndarray, bounds: tuple[float, float] = LIGHT_BOUNDS
) -> np.ndarray:
    """The light version's regions for a crowd (thesis 5.2.2), ``(H, W)`` int64.

    The attribution-weighted mean flow ``w~ = sum a^2 w / sum a^2`` is the salient motion; a
    pixel is a candidate when ``alpha_1 < w_p . w~ / |w~|^2 - 1 < alpha_2``. Region 0 holds the
    other pixels (the background, normally the largest region); each 8-connected component of
    the candidates is one region ``1, 2, ...``.

    Args:
        flow: ``(2, H, W)`` flow in pixels.
        attribution: ``(H, W)``.
    """
    flow = np.asarray(flow, dtype=np.float64)
    weight = np.asarray(attribution, dtype=np.float64) ** 2
    if flow.shape[1:] != weight.shape:
        raise ShapeError(f"light_candidates: flow {flow.shape} and attribution {weight.shape}")
    total = weight.sum()
    if total <= 0:
        return np.zeros(weight.shape, dtype=np.int64)
    mean = (flow * weight).reshape(2, -1).sum(1) / total
    ratio = (flow * mean[:, None, None]).sum(0) / max(float(mean @ mean), 1e-12) - 1.0
    candidate = (ratio > bounds[0]) & (ratio < bounds[1])
    _, regions = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=8)
    return regions.astype(np.int64)


def inpainted_flow(
    flow: torch.Tensor, salient: torch.Tensor, model: str = "affine", iterations: int = 10
) -> torch.Tensor:
    """The flow ``(B, 2, H, W)`` that the motion outside ``salient (B, H, W)`` predicts
    everywhere: a Huber fit of ``model`` on the non-salient pixels (eq. 5.5), rendered."""
    if flow.ndim != 4 or salient.shape != (flow.shape[0], *flow.shape[-2:]):
        raise ShapeError(
            f"inpainted_flow: flow (B, 2, H, W) and salient (B, H, W), got {tuple(flow.shape)} "
            f"and {tuple(salient.shape)}"
        )
    weights = (~salient.bool()).unsqueeze(1).to(flow.dtype)
    theta = fit(flow, weights, model, "huber", iterations=iterations)
    return render(theta, model, *flow.shape[-2:])[:, 0]


def saliency_map(
    flow: torch.Tensor, salient: torch.Tensor, lam: float = INPAINT_LAMBDA, model: str = "affine"
) -> torch.Tensor:
    """phi ``(B, H, W)`` in [0, 1) of eq. 5.6 for flows ``(B, 2, H, W)`` and salient sets
    ``(B, H, W)`` bool (0 outside them)."""
    gap = (inpainted_flow(flow, salient, model) - flow).square().sum(1).sqrt()
    return torch.where(salient.bool(), 1.0 - torch.exp(-lam * gap), torch.zeros_like(gap))


__all__ = [
    "INPAINT_LAMBDA",
    "LIGHT_BOUNDS",
    "MIN_REGION",
    "inpainted_flow",
    "light_candidates",
    "region_scores",
    "saliency_map",
    "select_salient",
]
