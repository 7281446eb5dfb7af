"""Self-training of EV-LayerSegNet: the losses towards targets, the cached refined targets of a
teacher, and training with them through the real command line."""

from __future__ import annotations

import math

import pytest
import torch

from motionlayers.cli.main import main
from motionlayers.data.events import SyntheticEventDataset
from motionlayers.errors import InputError, ShapeError
from motionlayers.losses import mask_cross_entropy, motion_l1
from motionlayers.methods import evlayerseg
from motionlayers.methods.config import load_config
from motionlayers.methods.evlayerseg import (
    EVLayerSegMethod,
    build_event_datasets,
    export_weights,
)
from motionlayers.methods.teacher_targets import RefinedTargets, model_fingerprint

TINY_NET = dict(width=8, depth=3, residual_blocks=1, flow_convs=1, hidden=[32], pool=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def _windows(length: int = 2) -> SyntheticEventDataset:
    return SyntheticEventDataset(
        length, 32, 32, seed=5, objects=(1, 1), window_events=3072, duration_ms=60,
        fps_render=500, bins=3,
    )  # fmt: skip


def test_mask_cross_entropy_closed_form_and_minimum() -> None:
    one_hot = torch.zeros(1, 2, 3, 4)
    one_hot[:, 0, :, :2], one_hot[:, 1, :, 2:] = 1.0, 1.0
    half = torch.full_like(one_hot, 0.5)
    assert float(mask_cross_entropy(half, one_hot)) == pytest.approx(math.log(2))
    assert float(mask_cross_entropy(one_hot, one_hot)) == pytest.approx(0.0, abs=1e-5)
    # Soft targets: the loss is minimal, and equal to their entropy, at masks == targets.
    targets = torch.softmax(torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0)), 1)
    entropy = -(targets * targets.log()).sum(1).mean()
    torch.testing.assert_close(mask_cross_entropy(targets, targets), entropy)
    logits = targets.log().clone().requires_grad_(True)
    mask_cross_entropy(torch.softmax(logits, 1), targets).backward()
    assert float(logits.grad.abs().max()) < 1e-6  # stationary at the targets
    for shift in (0.3, -0.5):
        moved = torch.softmax(targets.log() + shift * torch.randn_like(targets), 1)
        assert mask_cross_entropy(moved, targets) > entropy
    zero = torch.zeros(1, 2, 1, 1)
    zero[:, 0] = 1.0
    assert torch.isfinite(mask_cross_entropy(zero, zero.flip(1)))  # floored log
    with pytest.raises(ShapeError):
        mask_cross_entropy(half, one_hot[:, :1])


def test_motion_l1_closed_form() -> None:
    theta = torch.zeros(2, 2, 2, 3)
    target = theta.clone()
    target[0, 1, 0, 0] = 6.0  # one of 24 parameters off by 6
    assert float(motion_l1(theta, target)) == pytest.approx(0.25)
    with pytest.raises(ShapeError):
        motion_l1(theta, target[:, :1])


def test_refined_targets_are_cached_per_window_and_teacher(tmp_path, monkeypatch) -> None:
    torch.manual_seed(0)
    teacher = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET).eval()
    data = _windows()
    targets = RefinedTargets(data, teacher, tmp_path, refine_iterations=1)
    first = [targets[i] for i in range(len(targets))]
    for item, source in zip(first, (data[0], data[1]), strict=True):
        assert item["target_masks"].shape == (2, 32, 32) and item["target_theta"].shape == (2, 2, 3)
        torch.testing.assert_close(
            item["target_masks"].sum(0), torch.ones(32, 32), atol=2e-3, rtol=0
        )
        torch.testing.assert_close(item["events"], source["events"])  # the source's item, kept
    assert len(list(targets.cache.glob("*.pt"))) == 2 and not list(targets.cache.glob("*.tmp"))

    def fail(*args, **kwargs):
        raise AssertionError("the refinement ran again")

    monkeypatch.setattr(evlayerseg, "refine_window", fail)
    again = RefinedTargets(data, teacher, tmp_path, refine_iterations=1)[1]  # read, not computed
    torch.testing.assert_close(again["target_theta"], first[1]["target_theta"])
    monkeypatch.undo()

    # Without refinement the targets are the teacher's own single pass.
    plain = RefinedTargets(data, teacher, tmp_path, refine_iterations=0)
    assert plain.cache != targets.cache
    with torch.no_grad():
        masks, theta = teacher(data[0]["input"][None])
    torch.testing.assert_close(plain[0]["target_masks"], masks[0], atol=1e-3, rtol=0)
    torch.testing.assert_close(plain[0]["target_theta"], theta[0])
    # Another teacher (other weights) has its own cache; the fingerprint ignores the file type.
    other = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET)
    assert RefinedTargets(data, other, tmp_path, 1).cache != targets.cache
    with pytest.raises(InputError):
        RefinedTargets(data, teacher, tmp_path, refine_iterations=-1)
    copy = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET)
    copy.load_state_dict(teacher.state_dict())
    assert model_fingerprint(copy) == model_fingerprint(teacher)


def test_training_towards_targets_learns_them() -> None:
    data = _windows(1)
    batch = torch.utils.data.default_collate([data[0]])
    labels = batch["event_labels"][0]
    x, y = batch["events"][0, :, 0].long(), batch["events"][0, :, 1].long()
    target = torch.zeros(1, 2, 32, 32)
    target[0, 1, y, x] = labels.float().clamp(max=1)  # the object's pixels are layer 1
    target[0, 0] = 1 - target[0, 1]
    batch["target_masks"], batch["target_theta"] = target, torch.zeros(1, 2, 2, 3)
    torch.manual_seed(0)
    model = EVLayerSegMethod(layers=2, bins=3, net=TINY_NET, lr=1e-2, target_mask_weight=10.0)
    model.log = lambda *args, **kwargs: None  # no trainer attached
    optimiser = model.configure_optimizers()
    losses = []
    for _ in range(80):
        loss = model._step(batch, "train")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            losses.append(float(mask_cross_entropy(model(batch["input"])[0], target)))
    assert losses[-1] < 0.3 * losses[0], losses
    with torch.no_grad():
        found = model(batch["input"])[0].argmax(1)[0] == 1
    wanted = target[0, 1] > 0.5  # 16 % of the pixels; all-background (learnt first) scores 0
    assert float((found & wanted).sum() / (found | wanted).sum()) > 0.6


def test_self_training_through_the_cli(tmp_path) -> None:
    torch.manual_seed(0)
    config = load_config("evlayerseg-tiny")
    teacher = export_weights(EVLayerSegMethod(**config["model"]), tmp_path / "teacher.pt")
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = ["train", "evlayerseg", "--config", "evlayerseg-tiny", "--max-steps", "2"]
    args += ["-o", str(out), "--no-progress", "--init-from", str(teacher)]
    sets = [f"data.teacher={teacher}", f"data.cache_dir={cache}", "data.teacher_refine=1"]
    sets += ["model.target_mask_weight=1.0", "model.target_motion_weight=0.1"]
    for item in sets:
        args += ["--set", item]
    assert main(args) == 0
    metrics = next((out / "logs").rglob("metrics.csv")).read_text()
    assert "train_target_masks" in metrics and "val_target_motion" in metrics
    windows = 2 * config["data"]["batch_size"] + config["data"]["val_length"]  # seen, labelled
    assert len(list(cache.glob("targets-*/*.pt"))) == windows

    recipe = load_config("evlayerseg-selftrain")
    assert recipe["model"]["target_mask_weight"] > 0 and recipe["data"]["teacher"] is None
    config["model"].update(target_mask_weight=1.0)
    with pytest.raises(InputError, match="teacher"):
        build_event_datasets(config)  # targets weighed, no teacher named
    config["data"].update(teacher=str(teacher))
    with pytest.raises(InputError, match="cache_dir"):
        build_event_datasets(config)
    config["data"].update(cache_dir=str(cache))
    config["model"].update(bins=5)
    with pytest.raises(InputError, match="bins"):
        build_event_datasets(config)
