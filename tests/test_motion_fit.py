"""Known-answer tests of the motion core: recovery, robustness, Theorem 1, gradients."""

from __future__ import annotations

import pytest
import torch

from motionlayers import motion
from motionlayers.errors import InputError, ShapeError

SPATIAL = ["affine", "quadratic8", "quadratic12"]
TEMPORAL = ["affine+linear", "quadratic12+linear", "quadratic8+spline3", "quadratic12+spline2"]
DISTANCES = ["squared", "l1", "l2", "huber"]


def _random_theta(
    model: str,
    batch: int,
    layers: int,
    height: int,
    width: int,
    frames: int | None = None,
    scale: float = 3.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    spec = motion.parse_model(model)
    generator = torch.Generator().manual_seed(seed)
    params = (
        torch.randn(batch, layers, spec.num_params(frames), generator=generator, dtype=dtype)
        * scale
    )
    return motion.params_to_theta(params, spec, height, width, frames)


def _relative_error(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    return float((estimate - truth).norm() / truth.norm())


@pytest.mark.parametrize("model", SPATIAL)
@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_noiseless_recovery_spatial(model: str, distance: str, dtype: torch.dtype) -> None:
    theta = _random_theta(model, 2, 3, 24, 40, dtype=dtype)
    flows = motion.render(theta, model, 24, 40)  # (B, K, 2, H, W)
    # Each layer's model is fitted on the flow of that same layer, with random soft weights.
    weights = torch.rand(2, 3, 24, 40, dtype=dtype, generator=torch.Generator().manual_seed(1))
    for k in range(3):
        estimate = motion.fit(flows[:, k], weights, model, distance)
        assert estimate.dtype == dtype
        for j in range(3):
            assert _relative_error(estimate[:, j], theta[:, k]) < 1e-4


@pytest.mark.parametrize("model", TEMPORAL)
@pytest.mark.parametrize("distance", ["squared", "l1"])
def test_noiseless_recovery_temporal(model: str, distance: str) -> None:
    frames = 8
    theta = _random_theta(model, 2, 2, 16, 24, frames)
    flows = motion.render(theta, model, 16, 24, frames)
    assert flows.shape == (2, 2, 2, frames, 16, 24)
    weights = torch.ones(2, 2, frames, 16, 24, dtype=torch.float64)
    for k in range(2):
        estimate = motion.fit(flows[:, k], weights, model, distance)
        assert _relative_error(estimate[:, k], theta[:, k]) < 1e-4


def test_quadratic8_is_planar_rigid_motion_in_pixels() -> None:
    """quadratic8 flow equals eq. 1.3 written in pixel coordinates, whatever the aspect ratio."""
    height, width = 12, 30
    a = torch.tensor([0.5, 0.01, -0.02, -0.3, 0.015, 0.005, 1e-3, -2e-3], dtype=torch.float64)
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    u = a[0] + a[1] * cols + a[2] * rows + a[6] * cols**2 + a[7] * cols * rows
    v = a[3] + a[4] * cols + a[5] * rows + a[6] * cols * rows + a[7] * rows**2
    flow = torch.stack([u, v])[None]
    weights = torch.ones(1, 1, height, width, dtype=torch.float64)
    theta = motion.fit(flow, weights, "quadratic8", "squared")
    rendered = motion.render(theta, "quadratic8", height, width)[:, 0]
    assert torch.allclose(rendered, flow, atol=1e-8)


def test_l1_rejects_gross_outliers_where_least_squares_does_not() -> None:
    height, width = 48, 64
    theta = _random_theta("quadratic12", 1, 1, height, width, dtype=torch.float32, seed=3)
    flow = motion.render(theta, "quadratic12", height, width)[:, 0].clone()
    generator = torch.Generator().manual_seed(4)
    outliers = torch.rand(height, width, generator=generator) < 0.3
    flow[:, :, outliers] += torch.randn(2, int(outliers.sum()), generator=generator) * 20 + 15
    weights = torch.ones(1, 1, height, width)
    inliers = ~outliers

    def median_error(distance: str) -> float:
        estimate = motion.fit(flow, weights, "quadratic12", distance, iterations=50)
        truth = motion.render(theta, "quadratic12", height, width)[0, 0]
        fitted = motion.render(estimate, "quadratic12", height, width)[0, 0]
        return float((fitted - truth).norm(dim=0)[inliers].median())

    assert median_error("l1") < 0.05
    assert median_error("squared") > 1.0


@pytest.mark.parametrize("distance", DISTANCES)
def test_theorem_1_global_field_shifts_optimum(distance: str) -> None:
    """Thesis appendix 7.1.2: adding f_zeta = theta_zeta c moves every optimum by theta_zeta
    and leaves the optimal loss unchanged."""
    height, width = 32, 48
    generator = torch.Generator().manual_seed(5)
    flow = torch.randn(2, 2, height, width, generator=generator, dtype=torch.float64) * 4
    weights = torch.rand(2, 3, height, width, generator=generator, dtype=torch.float64)
    zeta = _random_theta("quadratic12", 2, 1, height, width, seed=6)
    shifted = flow + motion.render(zeta, "quadratic12", height, width)[:, 0]
    theta = motion.fit(flow, weights, "quadratic12", distance, iterations=30)
    theta_shifted = motion.fit(shifted, weights, "quadratic12", distance, iterations=30)
    assert torch.allclose(theta_shifted, theta + zeta, atol=1e-5)
    loss = motion.weighted_loss(flow, weights, theta, "quadratic12", distance)
    loss_shifted = motion.weighted_loss(shifted, weights, theta_shifted, "quadratic12", distance)
    assert torch.allclose(loss, loss_shifted, rtol=1e-6)


def test_gradcheck_of_mask_weighted_loss_with_detached_theta() -> None:
    """The loss is differentiated w.r.t. the masks and the flow with theta held fixed
    (eq. 2.16-2.17): theta comes out of `fit` detached."""
    generator = torch.Generator().manual_seed(7)
    flow = torch.randn(1, 2, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(1, 3, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    theta = motion.fit(flow, logits.softmax(1), "affine", "huber")
    assert not theta.requires_grad

    def loss(logits: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        masks = logits.softmax(1)
        return motion.weighted_loss(flow, masks, theta, "affine", "huber").sum()

    assert torch.autograd.gradcheck(loss, (logits, flow))


def test_lbfgs_refinement_does_not_increase_loss() -> None:
    height, width = 24, 32
    generator = torch.Generator().manual_seed(8)
    flow = torch.randn(2, 2, height, width, generator=generator, dtype=torch.float64) * 3
    weights = torch.rand(2, 2, height, width, generator=generator, dtype=torch.float64)
    irls = motion.fit(flow, weights, "quadratic8", "l1", iterations=3)
    refined = motion.fit(flow, weights, "quadratic8", "l1", iterations=3, lbfgs_steps=20)
    before = motion.weighted_loss(flow, weights, irls, "quadratic8", "l1").sum()
    after = motion.weighted_loss(flow, weights, refined, "quadratic8", "l1").sum()
    assert after <= before + 1e-9
    # The refinement keeps quadratic8's tie.
    params = motion.theta_to_params(refined, "quadratic8", height, width)
    assert torch.allclose(motion.params_to_theta(params, "quadratic8", height, width), refined)


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_and_degenerate_supports_are_finite(distance: str, dtype: torch.dtype) -> None:
    flow = torch.randn(1, 2, 10, 12, dtype=dtype, generator=torch.Generator().manual_seed(9))
    weights = torch.zeros(1, 3, 10, 12, dtype=dtype)
    weights[0, 1, 4, 5] = 1.0  # one pixel
    weights[0, 2, 3, :] = 1.0  # one row: y is constant, the basis is rank deficient
    theta = motion.fit(flow, weights, "quadratic12", distance, lbfgs_steps=2)
    assert torch.isfinite(theta).all()
    assert torch.equal(theta[0, 0], torch.zeros_like(theta[0, 0]))
    fitted = motion.render(theta, "quadratic12", 10, 12)[0]
    # The single-pixel layer reproduces its pixel (L-BFGS may wander slightly on the kink).
    assert torch.allclose(fitted[1, :, 4, 5], flow[0, :, 4, 5], atol=1e-2)


def test_bad_inputs_raise_clear_errors() -> None:
    flow = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ShapeError, match="weights"):
        motion.fit(flow, torch.ones(1, 2, 8, 9))
    with pytest.raises(ShapeError, match="flow"):
        motion.fit(torch.zeros(1, 3, 8, 8), torch.ones(1, 2, 8, 8))
    with pytest.raises(InputError, match="non-finite"):
        motion.fit(torch.full((1, 2, 8, 8), float("nan")), torch.ones(1, 2, 8, 8))
    with pytest.raises(InputError, match="non-negative"):
        motion.fit(flow, -torch.ones(1, 2, 8, 8))
    with pytest.raises(InputError, match="distance"):
        motion.fit(flow, torch.ones(1, 2, 8, 8), distance="l3")
    with pytest.raises(InputError, match="unknown spatial model"):
        motion.parse_model("cubic")
    with pytest.raises(ShapeError, match="temporal"):
        motion.fit(flow, torch.ones(1, 2, 8, 8), "affine+linear")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fit_on_cuda_matches_cpu() -> None:
    theta = _random_theta("quadratic12", 2, 2, 16, 16, dtype=torch.float32)
    flow = motion.render(theta, "quadratic12", 16, 16)[:, 0]
    weights = torch.rand(2, 2, 16, 16)
    cpu = motion.fit(flow, weights)
    gpu = motion.fit(flow.cuda(), weights.cuda())
    assert gpu.is_cuda
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-3)
