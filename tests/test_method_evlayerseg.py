"""EV-LayerSegNet: network shapes, a short training that lowers the loss, training through the
real command line (simulated and folder data), checkpoints and exported weights."""

from __future__ import annotations

import pytest
import torch
import yaml

from motionlayers.cli.main import main
from motionlayers.data.events import SyntheticEventDataset
from motionlayers.errors import InputError
from motionlayers.methods import METHODS, get_method
from motionlayers.methods.config import load_config
from motionlayers.methods.evlayerseg import (
    EVLayerSegMethod,
    build_event_datasets,
    export_weights,
    load_evlayerseg_model,
    normalise_events_input,
)
from motionlayers.nets.evlayerseg import AffineHead, EVLayerSegNet

TINY_NET = dict(width=8, depth=3, residual_blocks=1, flow_convs=1, hidden=[32], pool=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_network_shapes_at_any_size() -> None:
    net = EVLayerSegNet(in_channels=3, layers=3, width=4, depth=4, hidden=(16,), pool=2)
    for height, width in ((37, 50), (16, 16), (64, 20)):
        logits, theta = net(torch.randn(2, 3, height, width))
        assert logits.shape == (2, 3, height, width) and theta.shape == (2, 3, 2, 3)
    module = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET)
    masks, theta = module(torch.randn(1, 3, 20, 30))
    torch.testing.assert_close(masks.sum(1), torch.ones(1, 20, 30))
    assert theta.shape == (1, 2, 2, 3) and module.window_size((30, 20)) == 1800
    with pytest.raises(InputError):
        EVLayerSegNet(layers=0)
    with pytest.raises(InputError):
        EVLayerSegMethod(representation="frames")
    x = torch.zeros(1, 2, 4, 4)
    x[0, 0, 0, 0], x[0, 1, 1, 1] = 3.0, -1.0
    torch.testing.assert_close(normalise_events_input(x).abs().sum(), torch.tensor(2.0))


def test_short_training_lowers_the_deblurring_loss() -> None:
    data = SyntheticEventDataset(
        2, 32, 32, seed=3, objects=(1, 1), window_events=3072, duration_ms=80, fps_render=500,
        bins=3,
    )  # fmt: skip
    batch = torch.utils.data.default_collate([data[0], data[1]])
    background = batch["gt_theta"][:, 0, :, 0]  # (B, 2) translation, px per window

    def background_error(theta: torch.Tensor) -> float:  # best layer's translation error
        error = (theta.detach()[..., 0] - background[:, None]).norm(dim=-1)
        return float(error.min(1).values.mean())

    torch.manual_seed(0)
    model = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET, lr=3e-3)
    optimiser = model.configure_optimizers()
    losses, errors = [], []
    for _ in range(30):
        masks, theta = model(batch["input"])
        loss, _ = model.loss(masks, theta, batch["events"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        errors.append(background_error(theta))
    assert sum(losses[-5:]) / 5 < 0.97 * losses[0], losses
    assert errors[-1] < 0.5 * errors[0], errors  # one layer finds the background motion


def test_recipe_options_reach_the_loss_and_the_data(tmp_path) -> None:
    config = load_config("evlayerseg-tiny")
    assert config["model"]["timestamp_normalise"] == "count" and config["data"]["cache_dir"] is None
    config["model"].update(mixing="hard", smoothness_weight=0.001, net=TINY_NET)
    model = EVLayerSegMethod(**config["model"])
    assert model.loss.mixing == "hard" and model.loss.smoothness_weight == 0.001
    assert model.loss.timestamp_normalise == "count"
    config["data"].update(cache_dir=str(tmp_path / "cache"), train_length=1, window_events=600)
    train, val = build_event_datasets(config)
    batch = torch.utils.data.default_collate([train[0]])
    masks, theta = model(batch["input"])
    loss, terms = model.loss(masks, theta, batch["events"])
    loss.backward()
    assert torch.isfinite(loss) and float(terms["smoothness"]) > 0
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1 and train.cache != val.cache
    with pytest.raises(InputError):
        EVLayerSegMethod(timestamp_normalise="median")


def _synth_events(folder, count: int = 2) -> None:
    args = ["synth", "events", "-o", str(folder), "--count", str(count), "--sensor-size", "32x32"]
    assert main([*args, "--duration-ms", "60", "--fps", "500"]) == 0


@pytest.mark.parametrize("source", ["synthetic", "folder"])
def test_train_two_steps_through_the_cli(source: str, tmp_path) -> None:
    out = tmp_path / "run"
    args = ["train", "evlayerseg", "--config", "evlayerseg-tiny", "--max-steps", "2"]
    args += ["-o", str(out), "--no-progress"]
    if source == "folder":
        _synth_events(tmp_path / "recordings", count=2)
        args += ["--data", str(tmp_path / "recordings"), "--set", "data.window_events=600"]
    assert main(args) == 0
    last = out / "checkpoints" / "last.ckpt"
    assert last.is_file() and list((out / "checkpoints").glob("best-*.ckpt"))
    # Read back weights-only, with no safe globals added (`weights.safe_load`).
    assert torch.serialization.get_unsafe_globals_in_checkpoint(last) == []
    metrics = next((out / "logs").rglob("metrics.csv")).read_text()
    assert "val_loss" in metrics and "train_deblur" in metrics
    assert yaml.safe_load((out / "config.yaml").read_text())["method"] == "evlayerseg"
    model = load_evlayerseg_model(last)
    assert not model.training and model.hparams["layers"] == 2
    weights = export_weights(last, tmp_path / "weights.pt", meta={"steps": 2})
    again = load_evlayerseg_model(weights)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value)


def test_registry_recipes_and_bad_checkpoints(tmp_path) -> None:
    spec = METHODS["evlayerseg"]
    assert spec.input == "event-window" and spec.dataset_builder() is not None
    assert get_method("evlayerseg").layers == 2
    full = load_config("evlayerseg")
    assert full["model"]["net"]["depth"] == 4 and full["model"]["net"]["residual_blocks"] == 2
    assert full["model"]["objective"] == "timestamp" and full["model"]["lr"] == pytest.approx(2e-4)
    with pytest.raises(InputError, match="does not exist"):
        load_evlayerseg_model(tmp_path / "missing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="junk.ckpt: not a motionlayers checkpoint"):
        load_evlayerseg_model(junk)
    torch.save({"format": "motionlayers-weights/1", "method": "em"}, tmp_path / "em.pt")
    with pytest.raises(InputError, match="not an EV-LayerSegNet"):
        load_evlayerseg_model(tmp_path / "em.pt")


def test_motion_head_depends_on_the_window_at_initialisation() -> None:
    torch.manual_seed(0)
    net = EVLayerSegNet(in_channels=3, layers=2, width=8, depth=3, hidden=(64, 32), pool=2)
    with torch.no_grad():
        _, theta = net(torch.rand(2, 3, 32, 32).round())  # two random windows of events
    spread = (theta[0] - theta[1]).abs().mean() / theta.abs().mean()
    assert spread > 0.1, float(spread)  # the tanh head on raw features gave ~4e-3


def test_motion_head_keeps_its_gradient_at_large_features() -> None:
    torch.manual_seed(0)
    head = AffineHead(channels=16, layers=2, flow_convs=1, hidden=(32, 16), pool=2)
    features = torch.rand(3, 16, 4, 4)
    grads, thetas = [], []
    for scale in (1.0, 1e4):  # trained trunks drifted to mean |features| ~ 30 and beyond
        head.zero_grad()
        theta = head(scale * features)
        theta.square().sum().backward()
        grads.append(head.fc[0].weight.grad.clone())
        thetas.append(theta.detach())
    assert thetas[0].shape == (3, 2, 2, 3)
    assert grads[1].abs().mean() > 1e-3 * grads[1].abs().max() > 0
    # normalised head: the motions and their gradients do not depend on the features' scale
    torch.testing.assert_close(thetas[1], thetas[0], rtol=1e-2, atol=1e-3)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-2, atol=1e-3)


def test_weights_of_an_older_head_fail_clearly(tmp_path) -> None:
    model = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET)
    path = export_weights(model, tmp_path / "new.pt")
    state = torch.load(path, weights_only=True)
    state["state_dict"] = {  # the tanh head: no norm layers, convolutions with biases
        k.replace("net.head.convs", "net.flow_convs"): v
        for k, v in state["state_dict"].items()
        if ".norm." not in k and not k.startswith("net.head.convs.0.1")
    }
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(InputError, match="another network version.*missing net.head"):
        load_evlayerseg_model(tmp_path / "old.pt")
