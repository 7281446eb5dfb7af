"""SoFlow as a trained method: losses, a tiny network that learns a translation, weights,
and the learned flow backend (``--flow soflow:WEIGHTS``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from motionlayers.data.compositing import random_texture
from motionlayers.errors import InputError
from motionlayers.flow import get_backend, iter_flows
from motionlayers.methods.config import load_config
from motionlayers.methods.flow_backend import LearnedFlowBackend
from motionlayers.methods.registry import get_entry, get_trainable
from motionlayers.methods.soflow import (
    SoFlowMethod,
    build_flow_datasets,
    export_weights,
    load_soflow_model,
)
from motionlayers.methods.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_NET = dict(feature_channels=16, hidden_channels=16, context_channels=8, widths=[8, 8, 16])


def translations(rng: np.random.Generator, count: int, size: int = 24) -> dict[str, torch.Tensor]:
    """Textures moved by whole pixels in [-2, 2] (periodic: no occlusion) and their flow."""
    frames0, frames1, flows = [], [], []
    for _ in range(count):
        texture = random_texture(rng, size, size) / 255.0
        dx, dy = rng.integers(-2, 3, 2)
        frames0.append(texture)
        frames1.append(np.roll(texture, (dy, dx), (0, 1)))
        flows.append(np.broadcast_to(np.float32([dx, dy])[:, None, None], (2, size, size)))

    def chw(images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).float().permute(0, 3, 1, 2)

    return {
        "frame0": chw(frames0),
        "frame1": chw(frames1),
        "flow": torch.from_numpy(np.stack(flows)).float(),
        "valid": torch.ones(count, size, size),
        "supervised": torch.ones(count),
    }


def test_a_tiny_network_learns_a_translation_within_half_a_pixel():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = dict(TINY_NET, radius=2, levels=1)
    model = SoFlowMethod(net=net, train_iterations=2, test_iterations=2, supervision="supervised")
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(300):
        loss = model.losses(translations(rng, 8))["loss"]
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
    model.eval()
    held_out = translations(np.random.default_rng(1), 16)
    with torch.no_grad():
        flow = model(held_out["frame0"], held_out["frame1"])
    error = torch.linalg.vector_norm(flow - held_out["flow"], dim=1)[:, 4:-4, 4:-4].mean()
    assert error < 0.5


@pytest.mark.parametrize("variant", ["soflow", "raft-small"])
@pytest.mark.parametrize("supervision", ["mixed", "unsupervised"])
def test_losses_of_every_supervision(variant, supervision):
    model = SoFlowMethod(variant=variant, net=TINY_NET, train_iterations=2, supervision=supervision)
    batch = translations(np.random.default_rng(0), 4, size=32)
    batch["supervised"] = torch.tensor([1.0, 0.0, 1.0, 0.0])
    parts = model.losses(batch)
    assert torch.isfinite(parts["loss"])
    assert ("supervised" in parts) == (supervision == "mixed") and "unsupervised" in parts
    parts["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_supervised_training_refuses_items_without_flow():
    model = SoFlowMethod(net=TINY_NET, train_iterations=1, supervision="supervised")
    batch = translations(np.random.default_rng(0), 2)
    batch["supervised"] = torch.tensor([1.0, 0.0])
    with pytest.raises(InputError, match="without true flow"):
        model.losses(batch)


def test_bad_hyperparameters():
    with pytest.raises(InputError, match="variant"):
        SoFlowMethod(variant="pwc")
    with pytest.raises(InputError, match="supervision"):
        SoFlowMethod(supervision="semi")
    with pytest.raises(InputError, match="photometric"):
        SoFlowMethod(photometric="ncc")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("soflow")
    train(load_config("soflow-tiny"), out, progress=False)
    return export_weights(out / "checkpoints" / "last.ckpt", out / "soflow.pt", {"note": "t"})


def _frames(count: int, height: int = 40, width: int = 64) -> list[np.ndarray]:
    texture = random_texture(np.random.default_rng(2), height, width + 2 * count).astype(np.uint8)
    return [np.ascontiguousarray(texture[:, 2 * i : 2 * i + width, ::-1]) for i in range(count)]


def test_weights_round_trip(weights):
    model = load_soflow_model(weights)
    assert isinstance(model, SoFlowMethod) and not model.training
    assert model.weights_meta == {"note": "t"}


def test_learned_backend_batches_and_resizes(weights):
    backend = get_backend(f"soflow:{weights}", device="cpu", batch_size=2)
    assert isinstance(backend, LearnedFlowBackend) and backend.colour
    frames = _frames(4)
    single = [backend(a, b) for a, b in zip(frames[:-1], frames[1:])]
    batched = backend.compute_pairs(frames[:-1], frames[1:])
    assert all(f.shape == (40, 64, 2) and f.dtype == np.float32 for f in batched)
    for one, many in zip(single, batched):
        np.testing.assert_allclose(one, many, atol=1e-4)
    small = get_backend("soflow", weights=weights, device="cpu", max_pixels=20 * 32)
    assert small.network_size(40, 64) == (20, 32)
    assert small(frames[0], frames[1]).shape == (40, 64, 2)


def test_learned_backend_through_iter_flows(weights, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(_frames(5)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    flows = list(iter_flows(folder, get_backend(f"soflow:{weights}", device="cpu"), progress=False))
    assert [stem for stem, _, _ in flows] == ["00000", "00001", "00002", "00003"]
    assert all(np.isfinite(flow).all() for _, _, flow in flows)


def test_learned_backend_errors(weights, tmp_path, monkeypatch):
    import motionlayers.methods.registry as registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(InputError, match="no soflow weights ship"):
        get_backend("soflow")
    with pytest.raises(InputError, match="does not exist"):
        get_backend(f"soflow:{tmp_path / 'missing.pt'}")
    with pytest.raises(InputError, match="batch_size"):
        get_backend(f"soflow:{weights}", batch_size=0)
    with pytest.raises(InputError, match="not a torch device"):
        get_backend(f"soflow:{weights}", device="banana")


def test_a_flow_network_is_trainable_but_no_segmentation_method():
    assert get_trainable("soflow").input == "frame-pair"
    with pytest.raises(InputError, match="flow network.*--flow soflow"):
        get_entry("soflow")


def test_datasets_mix_real_video_with_generated_pairs(tmp_path):
    root = tmp_path / "videos"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
        for i, frame in enumerate(_frames(3)):
            cv2.imwrite(str(root / name / f"{i:05d}.png"), frame)
    config = load_config("soflow-tiny")
    config["data"].update(real_source=str(root), real_share=0.5, val_fraction=0.34)
    train_set, val_set = build_flow_datasets(config)
    supervised = [float(train_set[i]["supervised"]) for i in range(len(train_set))]
    assert supervised.count(1.0) == 16 and supervised.count(0.0) >= 16
    assert all(float(val_set[i]["supervised"]) == 1.0 for i in range(len(val_set)))
    config["data"].update(source=str(root))
    real_train, real_val = build_flow_datasets(config)
    assert len(real_train) == 4 and len(real_val) == 2  # two sequences train, one validates
    assert float(real_val[0]["supervised"]) == 0.0


def test_segment_flows_are_the_same_batched_or_not(weights, tmp_path):
    from motionlayers.pipeline.sources import flow_samples, open_source

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(_frames(6)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    runs = []
    for batch_size in (1, 4):
        backend = get_backend(f"soflow:{weights}", device="cpu", batch_size=batch_size)
        samples = list(flow_samples(open_source(folder), backend, (32, 48), 1))
        assert [s.index for s in samples] == list(range(6))
        runs.append(torch.stack([s.flow for s in samples]))
    torch.testing.assert_close(runs[0], runs[1], atol=1e-4, rtol=1e-4)
