"""Sharpness of images of warped events (IWEs): the measures that contrast maximisation
maximises.

An IWE (`motionlayers.events.image_of_warped_events`) is sharp when the motion that warped its
events is right: the events of one edge pile up on the same pixels. These functions score that
sharpness per image; the objectives built on them (signs, averaging, normalisation, modules) are
in `motionlayers.losses.events`, and motion-compensation EM (`motionlayers.events.compensation`)
maximises `contrast` directly.

- `contrast`: the variance of the image (Gallego et al. CVPR 2018).
- `focus`: the variance, or the mean squared finite-difference gradient (one of
  `FOCUS_FUNCTIONS`; Gallego et al. CVPR 2019, Shiba et al. ECCV 2022).

Convention: images ``(..., H, W)`` (any leading dimensions, e.g. ``(K, H, W)`` per layer), scores
``(...)``; differentiable in the image.
"""

from __future__ import annotations

import torch

from motionlayers.errors import InputError

__all__ = ["FOCUS_FUNCTIONS", "contrast", "focus"]

FOCUS_FUNCTIONS = ("variance", "gradient")


def contrast(image: torch.Tensor) -> torch.Tensor:
    """Variance of each image: ``(..., H, W)`` -> ``(...)``."""
    return image.flatten(-2).var(dim=-1, unbiased=False)


def focus(image: torch.Tensor, kind: str = "variance") -> torch.Tensor:
    """Sharpness of each image ``(..., H, W)`` -> ``(...)``: its variance, or ``"gradient"``:
    the mean squared magnitude of its finite-difference gradient."""
    if kind == "variance":
        return contrast(image)
    if kind == "gradient":
        gx = image[..., :, 1:] - image[..., :, :-1]
        gy = image[..., 1:, :] - image[..., :-1, :]
        return gx.square().flatten(-2).mean(-1) + gy.square().flatten(-2).mean(-1)
    raise InputError("focus", f"unknown focus function {kind!r}; valid: {FOCUS_FUNCTIONS}")
