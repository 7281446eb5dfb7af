"""BDMM adversarial masking (thesis ch. 6): the Lagrangian's parts and the trained generator."""

from __future__ import annotations

import pytest
import torch

from motionlayers.errors import InputError
from motionlayers.losses.saliency import (
    BACKGROUND,
    SALIENT,
    bdmm_loss,
    coherence_loss,
    hinge,
    perturbed_flow,
    reverse_gradient,
)
from motionlayers.methods.bdmm import BDMMMethod, export_weights, load_bdmm_model
from motionlayers.methods.config import load_config
from motionlayers.methods.registry import get_method
from motionlayers.methods.train import train
from motionlayers.nets import UNet

pytestmark = pytest.mark.usefixtures("one_thread")


def _scene(height: int = 24, width: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """An affine background and a square moving on its own: flow (1, 2, H, W), square (H, W)."""
    y, x = torch.meshgrid(
        torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij"
    )
    flow = torch.stack([1.0 + 0.3 * x, -0.5 + 0.2 * y])[None].double()
    square = torch.zeros(height, width, dtype=torch.bool)
    square[8:16, 10:20] = True
    flow[0][:, square] = torch.tensor([-2.0, 2.5], dtype=torch.float64)[:, None]
    return flow, square


def _masks(square: torch.Tensor, salient: bool = True) -> torch.Tensor:
    masks = torch.zeros(1, 4, *square.shape, dtype=torch.float64)
    masks[0, BACKGROUND] = (~square).double()
    masks[0, SALIENT if salient else 2] = square.double()
    return masks


def test_reverse_gradient_and_hinge():
    value = torch.tensor(3.0, requires_grad=True)
    (2 * reverse_gradient(value)).backward()
    assert float(value.grad) == -2.0
    p = torch.tensor([0.2, 0.5, 0.9])
    torch.testing.assert_close(hinge(p), torch.tensor([0.0, 0.5, 0.9]))


def test_perturbed_flow_inpaints_the_salient_mask_with_the_background_motion():
    flow, square = _scene()
    omega = perturbed_flow(flow, _masks(square), iterations=10)
    background = flow.clone()
    y, x = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 32), indexing="ij")
    background[0] = torch.stack([1.0 + 0.3 * x, -0.5 + 0.2 * y]).double()
    torch.testing.assert_close(omega, background, atol=1e-4, rtol=0)
    # no salient mass: the flow is unchanged
    torch.testing.assert_close(perturbed_flow(flow, _masks(square, salient=False)), flow)


def test_coherence_is_zero_on_exact_layers():
    flow, square = _scene()
    assert float(coherence_loss(flow, _masks(square), iterations=10)[0]) == pytest.approx(
        0.0, abs=1e-5
    )
    mixed = torch.full((1, 4, 24, 32), 0.25, dtype=torch.float64)
    assert float(coherence_loss(flow, mixed)[0]) > 0.05


def test_multiplier_ascends_on_the_violated_constraint_only():
    flow, square = _scene()
    masks = _masks(square).requires_grad_(True)
    lam = torch.tensor(2.0, requires_grad=True)
    parts = bdmm_loss(flow, masks, lambda f: torch.tensor([0.8], dtype=f.dtype), lam)
    parts["loss"].sum().backward()
    assert float(parts["constraint"][0]) == pytest.approx(0.8)
    assert float(lam.grad) == pytest.approx(-0.8)  # a descent step raises lambda
    satisfied = torch.tensor(2.0, requires_grad=True)
    parts = bdmm_loss(flow, _masks(square), lambda f: torch.tensor([0.3], dtype=f.dtype), satisfied)
    parts["loss"].sum().backward()
    assert float(parts["constraint"][0]) == 0.0 and float(satisfied.grad) == 0.0


def test_generator_goes_blank_when_nothing_is_salient():
    """With a classifier that finds nothing salient only S (and L_r) act: the mask vanishes."""
    torch.manual_seed(0)
    flow, _ = _scene(16, 16)
    flow = flow.float()
    net = UNet(2, 4, depth=1, width=8)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    lam = torch.tensor(10.0)
    for _ in range(60):
        masks = torch.softmax(net(flow), 1)
        parts = bdmm_loss(flow, masks, lambda f: torch.zeros(1), lam, coherence_weight=0.0)
        optimiser.zero_grad()
        parts["loss"].sum().backward()
        optimiser.step()
    masks = torch.softmax(net(flow), 1)
    assert float((masks.argmax(1) == SALIENT).float().mean()) == 0.0
    assert float(masks[:, SALIENT].mean()) < 0.05


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("nims")
    config = load_config("nims-tiny")
    config["data"]["source"] = "crowd"
    train(config, out, progress=False)
    return out / "checkpoints" / "last.ckpt"


def test_tiny_bdmm_training_method_and_weights(classifier, tmp_path):
    config = load_config("bdmm-tiny")
    config["model"]["classifier"] = str(classifier)
    out = tmp_path / "run"
    train(config, out, progress=False)
    checkpoint = out / "checkpoints" / "last.ckpt"
    model = load_bdmm_model(checkpoint)
    assert float(model.lam) >= 10.0  # lambda never decreases
    exported = export_weights(checkpoint, tmp_path / "bdmm.pt")
    method = get_method("bdmm", checkpoint=exported)
    assert method.layers == 2
    flow = torch.randn(2, 2, 32, 32)
    masks = method(flow).masks
    assert masks.shape == (2, 2, 32, 32)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 32, 32))


def test_bdmm_needs_its_classifier_to_train(tmp_path):
    config = load_config("bdmm-tiny")
    config["model"]["classifier"] = str(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="missing.pt"):
        train(config, tmp_path / "run", progress=False)
    with pytest.raises(InputError, match="K=2"):
        BDMMMethod(layers=4)
