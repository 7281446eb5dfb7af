"""Which layer is the background, without ground truth.

Two rules: ``"largest"`` (the largest layer is the background) and ``"border"`` (the layer whose
motion model explains the most pixels of the image border; a camera's motion shows on the whole
border, while objects rarely cover it, so the rule survives a large foreground object and the
parallax of a near background better than the area).
"""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import distance_map, render

FOREGROUND_RULES = ("border", "largest")
"""Valid values of ``rule`` in `background_layers`."""


def border_band(height: int, width: int, band: int) -> torch.Tensor:
    """``(H, W)`` bool: the pixels within ``band`` pixels of the image border."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    band = max(1, min(band, height // 2, width // 2))
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return mask


def background_layers(
    labels: torch.Tensor,
    rule: str = "border",
    flow: torch.Tensor | None = None,
    theta: torch.Tensor | None = None,
    model: str = "quadratic12",
    band: int = 4,
) -> torch.Tensor:
    """Index of the background layer of each frame.

    Args:
        labels: ``(B, H, W)`` int labels in ``[0, K)``.
        rule: ``"largest"`` or ``"border"``.
        flow: ``(B, 2, H, W)`` and theta ``(B, K, 2, J)``: with both, ``"border"`` counts the
            border pixels each layer's model explains best (smallest L1 residual); without them,
            the border pixels each layer covers.
        band: border width in pixels.

    Returns:
        ``(B,)`` int64.
    """
    if labels.ndim != 3:
        raise ShapeError(f"background_layers: expected (B, H, W) labels, got {labels.shape}")
    if rule not in FOREGROUND_RULES:
        raise InputError(
            "foreground rule", f"unknown rule {rule!r}; valid: {', '.join(FOREGROUND_RULES)}"
        )
    layers = int(labels.max()) + 1 if theta is None else theta.shape[1]
    if rule == "largest":
        counts = torch.stack([torch.bincount(f.reshape(-1), minlength=layers) for f in labels])
        return counts.argmax(1)
    height, width = labels.shape[-2:]
    ring = border_band(height, width, band).to(labels.device)
    if flow is not None and theta is not None:
        residual = flow.unsqueeze(1) - render(theta, model, height, width)
        best = distance_map(residual, "l1", dim=2).argmin(1)  # (B, H, W)
    else:
        best = labels
    counts = torch.stack([torch.bincount(f[ring], minlength=layers) for f in best.long()])
    return counts.argmax(1)


def foreground_masks(labels: torch.Tensor | np.ndarray, background: torch.Tensor) -> np.ndarray:
    """Binary foreground ``(B, H, W)`` uint8 in {0, 255}: every layer but the background."""
    labels_t = torch.as_tensor(labels)
    fg = labels_t != background.to(labels_t.device).view(-1, 1, 1)
    return fg.cpu().numpy().astype(np.uint8) * 255
