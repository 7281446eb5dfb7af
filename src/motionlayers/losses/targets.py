"""Losses towards given targets (self-training, distillation): soft masks and motion models.

Used when a network learns from the answers of a slower procedure on the same input, e.g. the
test-time refinement of EV-LayerSegNet (`motionlayers.methods.teacher_targets`): the targets are
constants (no gradient flows into them) and their layers are in the network's order.
"""

from __future__ import annotations

import torch

from motionlayers.errors import ShapeError

__all__ = ["mask_cross_entropy", "motion_l1"]


def mask_cross_entropy(
    masks: torch.Tensor, targets: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Mean over pixels of ``-sum_k targets_k log masks_k``.

    Args:
        masks: ``(B, K, H, W)`` soft masks (summing to 1 over K).
        targets: ``(B, K, H, W)`` soft or one-hot target masks.
        eps: floor of the masks inside the logarithm (a zero mask is then a large, finite loss).

    Returns: a scalar; equal to the entropy of ``targets`` when ``masks == targets`` (its
    minimum over masks).
    """
    if masks.ndim != 4 or masks.shape != targets.shape:
        raise ShapeError(
            f"masks and targets: expected equal (B, K, H, W) shapes, got "
            f"{tuple(masks.shape)} and {tuple(targets.shape)}"
        )
    return -(targets.detach() * masks.clamp_min(eps).log()).sum(1).mean()


def motion_l1(theta: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of motion parameters ``(..., 2, J)`` and their targets."""
    if theta.shape != targets.shape:
        raise ShapeError(
            f"theta and targets: expected equal shapes, got {tuple(theta.shape)} and "
            f"{tuple(targets.shape)}"
        )
    return (theta - targets.detach()).abs().mean()
