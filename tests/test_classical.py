"""Classical EM (thesis 2.4.4) and hierarchical robust layers (thesis 5.2.2) on known flows."""

from __future__ import annotations

import pytest
import torch

from motionlayers.classical import classical_em, random_masks, robust_layers
from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import render

HEIGHT, WIDTH = 32, 48


@pytest.fixture(autouse=True)
def _few_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def layered_flow(noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Background, a second affine layer (right 40 %) and a translating square:
    flow ``(1, 2, H, W)``, labels ``(H, W)``, theta ``(1, 3, 2, 3)``."""
    theta = torch.zeros(1, 3, 2, 3)
    theta[0, 0] = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 0.3]])
    theta[0, 1] = torch.tensor([[-3.0, 0.0, 0.2], [2.0, 0.1, 0.0]])
    theta[0, 2] = torch.tensor([[4.0, 0.0, 0.0], [-4.0, 0.0, 0.0]])
    labels = torch.zeros(HEIGHT, WIDTH, dtype=torch.long)
    labels[:, int(0.6 * WIDTH) :] = 1
    labels[6:16, 6:16] = 2
    flows = render(theta, "affine", HEIGHT, WIDTH)[0]  # (3, 2, H, W)
    index = labels.view(1, 1, HEIGHT, WIDTH).expand(1, 2, HEIGHT, WIDTH)
    flow = torch.gather(flows, 0, index)
    generator = torch.Generator().manual_seed(1)
    flow = flow + noise * torch.randn(flow.shape, generator=generator)
    return flow, labels, theta


def best_ious(pred: torch.Tensor, truth: torch.Tensor) -> list[float]:
    """For each true layer, the best IoU of a predicted layer."""
    scores = []
    for k in truth.unique():
        gt = truth == k
        scores.append(
            max(float(((pred == p) & gt).sum() / ((pred == p) | gt).sum()) for p in pred.unique())
        )
    return scores


@pytest.mark.parametrize("likelihood", ["laplace", "gaussian"])
def test_classical_em_recovers_layers(likelihood: str) -> None:
    flow, labels, theta = layered_flow()
    result = classical_em(
        flow,
        layers=3,
        initialisations=6,
        iterations=10,
        irls=3,
        model="affine",
        likelihood=likelihood,
        seed=0,
    )
    assert result.masks.shape == (1, 3, HEIGHT, WIDTH)
    assert result.theta.shape == (1, 3, 2, 3)
    assert min(best_ious(result.labels[0], labels)) > 0.9
    torch.testing.assert_close(result.masks.sum(1), torch.ones(1, HEIGHT, WIDTH))
    assert result.log_likelihood[0] == result.all_log_likelihood[0].max()
    for k in range(3):  # each true model is among the fitted ones
        error = (result.theta[0] - theta[0, k]).abs().amax((-2, -1)).min()
        assert error < 1e-2


def test_classical_em_batched_noisy_affine_and_exact_quadratic() -> None:
    noisy, labels, _ = layered_flow(noise=0.2)
    result = classical_em(
        torch.cat([noisy, -noisy]), 3, 6, iterations=10, irls=3, model="affine", seed=0
    )
    assert result.labels.shape == (2, HEIGHT, WIDTH)
    assert min(best_ious(result.labels[0], labels)) > 0.9
    assert min(best_ious(result.labels[1], labels)) > 0.9
    exact, _, _ = layered_flow()
    result = classical_em(exact, 3, 6, iterations=10, irls=3, model="quadratic12", seed=0)
    assert min(best_ious(result.labels[0], labels)) > 0.9


def test_more_initialisations_never_lower_likelihood() -> None:
    flow, _, _ = layered_flow(noise=0.1)
    one = classical_em(flow, 3, 1, iterations=8, model="affine", irls=2, seed=5)
    many = classical_em(flow, 3, 6, iterations=8, model="affine", irls=2, seed=5)
    assert many.log_likelihood[0] >= one.all_log_likelihood[0, 0] - 1e-6
    masks = random_masks(2, 3, 8, 10, torch.Generator().manual_seed(0))
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 8, 10))


def test_classical_em_bad_input() -> None:
    with pytest.raises(ShapeError):
        classical_em(torch.zeros(2, 8, 8))
    with pytest.raises(InputError, match="laplace"):
        classical_em(torch.zeros(1, 2, 8, 8), likelihood="cauchy")


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_robust_layers_recover_layers(noise: float) -> None:
    flow, labels, theta = layered_flow(noise)
    result = robust_layers(flow, layers=4)
    assert result.labels.shape == (1, HEIGHT, WIDTH)
    assert min(best_ious(result.labels[0], labels)) > 0.9
    assert result.theta.shape == (1, 4, 2, 3)
    if noise == 0:
        assert int(result.layers[0]) == 3
        for k in range(3):  # peeling order is data dependent: match the models
            assert (result.theta[0, :3] - theta[0, k]).abs().amax((-2, -1)).min() < 1e-3
    assert int(result.regions.max()) + 1 >= int(result.layers[0])


def test_robust_layers_single_motion_is_one_layer() -> None:
    theta = torch.tensor([[[[0.5, 1.0, 0.0], [0.2, 0.0, -1.0]]]])
    flow = render(theta, "affine", HEIGHT, WIDTH)[:, 0]
    result = robust_layers(flow, layers=3)
    assert int(result.layers[0]) == 1
    assert result.labels.unique().tolist() == [0]
    with pytest.raises(InputError, match="mad"):
        robust_layers(flow, deviation="iqr")


def test_robust_layers_separate_exact_constant_motions():
    """A constant flow covering most of the frame sits on the histogram's upper edge (its 99th
    percentile): it must still seed the first layer."""
    flow = torch.zeros(1, 2, 64, 96)
    flow[0, 0] = 1.5
    flow[0, :, 20:40, 30:60] = torch.tensor([-2.0, 1.0])[:, None, None]
    result = robust_layers(flow)
    assert int(result.layers[0]) == 2
    square = torch.zeros(64, 96, dtype=torch.bool)
    square[20:40, 30:60] = True
    assert (result.labels[0][square] == result.labels[0][square][0]).all()
    assert (result.labels[0][~square] != result.labels[0][square][0]).all()
