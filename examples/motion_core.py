"""Fit and render parametric motion models (the motion core).

Builds a layered flow from two known quadratic12 models (a camera-like background motion and an
object's), spoils a tenth of its pixels with gross outliers, and fits one model per layer with
`motionlayers.motion.fit`, given the layers' supports: the robust L1 fit recovers the models,
the least-squares one (``distance="squared"``) is pulled away by the outliers. Errors are the
largest difference, over each layer's pixels, between the flow of the fitted and the true model.
"""

from __future__ import annotations

import argparse

import torch

from motionlayers import motion

MODEL = "quadratic12"  # basis [1, x, y, x^2, x y, y^2] at pixel centres normalised to [-1, 1]


def layered_flow(height: int, width: int, seed: int) -> tuple[torch.Tensor, ...]:
    """``(flow (1, 2, H, W), masks (1, 2, H, W), theta (1, 2, 2, 6))``: a background and a disc."""
    generator = torch.Generator().manual_seed(seed)
    theta = torch.zeros(1, 2, 2, 6)
    theta[0, 0] = torch.tensor([[1.5, 0.8, -0.3, 0.2, 0.1, 0.0], [-0.5, 0.2, 0.6, 0.0, 0.1, 0.2]])
    theta[0, 1, :, 0] = torch.tensor([-4.0, 2.5])  # the object translates
    theta[0, 1, :, 1:3] = 0.5 * torch.randn(2, 2, generator=generator)  # and rotates / scales
    flows = motion.render(theta, MODEL, height, width)  # (B, K, 2, H, W), pixels
    x, y = motion.normalized_coordinates(height, width)  # (H, W) each, in [-1, 1]
    disc = ((x - 0.3) ** 2 + (y + 0.1) ** 2 < 0.25).float()
    masks = torch.stack([1 - disc, disc])[None]  # (B, K, H, W), sums to 1 over K
    flow = (masks[:, :, None] * flows).sum(1)  # (B, 2, H, W): each pixel moves with its layer
    outliers = torch.rand(1, 1, height, width, generator=generator) < 0.1
    noise = 20 * torch.randn(1, 2, height, width, generator=generator)
    return torch.where(outliers, noise, flow), masks, theta


def max_error(theta: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(K,)``: largest end-point difference (pixels) between the flows of two sets of models
    ``(1, K, 2, J)`` over each layer's support (``masks (1, K, H, W)`` above 0.5)."""
    height, width = masks.shape[-2:]
    diff = motion.render(theta, MODEL, height, width) - motion.render(truth, MODEL, height, width)
    return (diff.norm(dim=2) * (masks > 0.5)).amax((-2, -1))[0]


def fit_errors(height: int, width: int, seed: int = 0) -> dict[str, list[float]]:
    """Largest flow error per layer (pixels) of the least-squares and the L1 fit."""
    flow, masks, truth = layered_flow(height, width, seed)
    errors = {}
    for distance in ("squared", "l1"):
        theta = motion.fit(flow, masks, MODEL, distance)  # (B, K, 2, J), detached
        errors[distance] = max_error(theta, truth, masks).tolist()
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller flow (the tests' run)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    height, width = (64, 112) if args.quick else (256, 448)
    print(f"a {width}x{height} layered flow, 10 % of its pixels replaced by outliers of 20 px")
    for distance, errors in fit_errors(height, width, args.seed).items():
        shown = ", ".join(f"layer {k}: {e:.3f} px" for k, e in enumerate(errors))
        print(f"{distance:>8} fit, largest flow error per layer: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
