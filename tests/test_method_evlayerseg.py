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
from motionlayers.nets.evlayerseg import EVLayerSegNet

TINY_NET = dict(width=8, depth=3, residual_blocks=1, flow_convs=1, hidden=[32], pool=2)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small nets: threads cost more than they give on a busy machine
    yield
    torch.set_num_threads(threads)


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
    torch.manual_seed(0)
    model = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET, lr=3e-3)
    optimiser = model.configure_optimizers()
    losses = []
    for _ in range(30):
        masks, theta = model(batch["input"])
        loss, _ = model.loss(masks, theta, batch["events"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.95 * losses[0], losses


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
    args += ["--out", str(out), "--no-progress"]
    if source == "folder":
        _synth_events(tmp_path / "recordings", count=2)
        args += ["--data", str(tmp_path / "recordings"), "--set", "data.window_events=600"]
    assert main(args) == 0
    last = out / "checkpoints" / "last.ckpt"
    assert last.is_file() and list((out / "checkpoints").glob("best-*.ckpt"))
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
    spec = get_method("evlayerseg")
    assert spec is METHODS["evlayerseg"] and spec.input == "events" and spec.datasets
    full = load_config("evlayerseg")
    assert full["model"]["net"]["depth"] == 4 and full["model"]["net"]["residual_blocks"] == 2
    assert full["model"]["objective"] == "timestamp" and full["model"]["lr"] == pytest.approx(2e-4)
    with pytest.raises(InputError, match="does not exist"):
        load_evlayerseg_model(tmp_path / "missing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="not an EV-LayerSegNet"):
        load_evlayerseg_model(junk)
    torch.save({"format": "motionlayers-weights/1", "method": "em"}, tmp_path / "em.pt")
    with pytest.raises(InputError, match="not an EV-LayerSegNet"):
        load_evlayerseg_model(tmp_path / "em.pt")
