"""Bases, rendering and parameter layout of the motion models."""

from __future__ import annotations

import pytest
import torch

from motionlayers import motion


def test_normalized_coordinates_are_pixel_centres() -> None:
    x, y = motion.normalized_coordinates(2, 4, torch.float64)
    assert torch.allclose(x[0], torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64))
    assert torch.allclose(y[:, 0], torch.tensor([-0.5, 0.5], dtype=torch.float64))


def test_render_affine_known_values() -> None:
    theta = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]).reshape(1, 1, 2, 3)
    flow = motion.render(theta, "affine", 2, 4)
    x, y = motion.normalized_coordinates(2, 4)
    assert torch.allclose(flow[0, 0, 0], 1 + 2 * x)
    assert torch.allclose(flow[0, 0, 1], 3 * y)


@pytest.mark.parametrize("frames,nu,count", [(2, 3, 2), (5, 3, 3), (8, 3, 4), (10, 2, 6)])
def test_spline_control_point_count(frames: int, nu: int, count: int) -> None:
    spec = motion.parse_model(f"quadratic12+spline{nu}")
    assert spec.temporal_size(frames) == count == 2 + (frames - 2) // nu
    assert spec.basis_size(frames) == 6 * count


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_bspline_partition_of_unity_and_clamped_ends(count: int) -> None:
    t = torch.linspace(-1, 1, 41, dtype=torch.float64)
    values = motion.bspline_basis(t, count)
    assert torch.allclose(values.sum(-1), torch.ones_like(t))
    assert (values >= -1e-12).all()
    assert torch.allclose(values[0], torch.eye(count, dtype=torch.float64)[0])
    assert torch.allclose(values[-1], torch.eye(count, dtype=torch.float64)[-1])


def test_temporal_layout_first_block_is_the_constant_term() -> None:
    """``theta[..., :J_s]`` is the model at t = 0 for the linear extension (eq. 3.2)."""
    theta = torch.randn(1, 1, 2, 12, dtype=torch.float64)
    flow = motion.render(theta, "quadratic12+linear", 6, 8, frames=3)
    middle = motion.render(theta[..., :6], "quadratic12", 6, 8)
    assert torch.allclose(flow[:, :, :, 1], middle)


def test_evaluate_matches_render_on_grid() -> None:
    theta = torch.randn(2, 3, 2, 6, dtype=torch.float64)
    flow = motion.render(theta, "quadratic12", 5, 7)
    x, y = motion.normalized_coordinates(5, 7, torch.float64)
    points = motion.evaluate(theta, "quadratic12", x.reshape(-1), y.reshape(-1))
    assert torch.allclose(points.reshape(flow.shape), flow)


def test_pixels_to_normalized() -> None:
    x, y = motion.pixels_to_normalized(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 1.0]), 2, 4)
    assert torch.allclose(x, torch.tensor([-0.75, 0.75]))
    assert torch.allclose(y, torch.tensor([-0.5, 0.5]))


def test_params_roundtrip_and_model_strings() -> None:
    for name in ["affine", "quadratic8", "quadratic12", "quadratic8+linear", "affine+spline4"]:
        spec = motion.parse_model(name)
        assert str(spec) == name
        params = torch.randn(3, spec.num_params(9), dtype=torch.float64)
        theta = motion.params_to_theta(params, spec, 10, 14, 9)
        assert theta.shape == (3, 2, spec.basis_size(9))
        back = motion.theta_to_params(theta, spec, 10, 14, 9)
        assert torch.allclose(back, params)
