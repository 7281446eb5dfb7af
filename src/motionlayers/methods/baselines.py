"""The classical baselines as registered methods (`motionlayers.methods.registry`): classical EM
on each flow (thesis 2.4.4) and hierarchical robust layers (thesis 5.2.2). No weights; K is the
user's ``--layers`` (default `motionlayers.defaults.DEFAULT_LAYERS`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from motionlayers.classical import classical_em, robust_layers

Predictor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def build_classical_em(
    layers: int, device: str = "cpu", weights: Path | None = None, **options: Any
) -> Predictor:
    """Flows ``(B, 2, h, w)`` -> soft masks ``(B, K, h, w)`` and models ``(B, K, 2, J)`` by EM,
    the best of ``initialisations`` random starts (``options``: those of `classical_em`)."""

    def predict(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = classical_em(flow, layers, **options)
        return result.masks, result.theta

    return predict


def build_robust_layers(
    layers: int, device: str = "cpu", weights: Path | None = None, **options: Any
) -> Predictor:
    """Flows ``(B, 2, h, w)`` -> labels ``(B, h, w)`` (at most K layers, peeled one after another)
    and their models ``(B, K, 2, J)``."""

    def predict(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = robust_layers(flow, layers, **options)
        return result.labels, result.theta

    return predict


__all__ = ["build_classical_em", "build_robust_layers"]
