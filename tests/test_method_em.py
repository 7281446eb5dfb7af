"""Tests of the EM method: augmentation, folder data, training to a good segmentation, reload."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from motionlayers.data.augment import GlobalMotionAugment, add_global_motion, random_global_flow
from motionlayers.data.folders import FlowFolderDataset, cache_key, find_sources
from motionlayers.errors import InputError
from motionlayers.methods import METHODS, EMMethod, get_method, load_em_model
from motionlayers.methods.config import apply_overrides, load_config
from motionlayers.methods.em import build_predictor, export_weights
from motionlayers.methods.train import train
from motionlayers.motion import fit


class TwoLayerFlows(Dataset):
    """Fake data written by the test: an affine background and an ellipse in translation."""

    def __init__(self, length: int, size: int = 32, seed: int = 0):
        self.length, self.size, self.seed = length, size, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        yy, xx = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32)
        x, y = (2 * xx + 1) / self.size - 1, (2 * yy + 1) / self.size - 1
        a = rng.normal(0, 1, (2, 3))
        background = np.stack(
            [a[0, 0] + a[0, 1] * x + a[0, 2] * y, a[1, 0] + a[1, 1] * x + a[1, 2] * y]
        )
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        rx, ry = rng.uniform(0.25, 0.45, 2)
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
        angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(2, 4)
        shift = speed * np.array([np.cos(angle), np.sin(angle)])
        obj = background.mean((1, 2)) + shift
        flow = np.where(inside[None], obj[:, None, None], background).astype(np.float32)
        return {"flow": torch.from_numpy(flow), "labels": torch.from_numpy(inside.astype(np.int64))}


def best_permutation_jaccard(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over samples of the mean IoU of K=2 layers under the best of the two matchings."""
    scores = []
    for perm in ((0, 1), (1, 0)):
        per_layer = []
        for k, g in enumerate(perm):
            p, t = pred == k, labels == g
            inter = (p & t).flatten(1).sum(1).float()
            union = (p | t).flatten(1).sum(1).float()
            per_layer.append(torch.where(union > 0, inter / union.clamp_min(1), 1.0))
        scores.append(torch.stack(per_layer).mean(0))
    return torch.stack(scores).max(0).values.mean().item()


def test_registry():
    entry = METHODS["em"]
    assert entry.lightning_module() is EMMethod and entry.config == "em"
    assert get_method("em").layers == 2
    with pytest.raises(InputError, match="em"):
        get_method("nope")


def test_augmentation_matches_magnitude_and_keeps_input():
    flow = torch.randn(3, 2, 9, 11)
    copy = flow.clone()
    gen = torch.Generator().manual_seed(0)
    field = random_global_flow(flow, min_ratio=0.7, max_ratio=0.7, generator=gen)
    torch.testing.assert_close(
        field.abs().sum(1).mean((1, 2)), 0.7 * flow.abs().sum(1).mean((1, 2))
    )
    torch.testing.assert_close(flow, copy)
    # The added field is exactly quadratic: a fit with one layer recovers it with no residual.
    theta = fit(field.double(), torch.ones(3, 1, 9, 11, dtype=torch.float64), distance="squared")
    assert theta.shape == (3, 1, 2, 6)
    single = add_global_motion(flow[0], generator=gen)
    assert single.shape == (2, 9, 11)
    sample = {"flow": flow[0].numpy(), "labels": np.zeros((9, 11), np.int64)}
    out = GlobalMotionAugment(p=1.0, seed=1)(sample)
    assert out["labels"] is sample["labels"] and not torch.equal(out["flow"], flow[0])
    assert GlobalMotionAugment(p=0.0, seed=1)(sample) is sample
    assert torch.equal(add_global_motion(torch.zeros(1, 2, 4, 4)), torch.zeros(1, 2, 4, 4))


def test_folder_dataset_caches_flow_files(tmp_path):
    clip = tmp_path / "videos" / "clip"
    clip.mkdir(parents=True)
    for i in range(3):
        np.save(clip / f"{i:05d}.npy", np.full((20, 30, 2), i, np.float32))
    cache = tmp_path / "cache"
    data = FlowFolderDataset(tmp_path / "videos", size=(10, 15), cache_dir=cache, progress=False)
    assert len(data) == 3 and find_sources(tmp_path / "videos") == [(clip, "flows")]
    item = data[2]
    assert item["flow"].shape == (2, 10, 15)
    torch.testing.assert_close(item["flow"], torch.full((2, 10, 15), 1.0))  # 2 px scaled by 1/2
    entry = cache / cache_key(clip, (10, 15), "dis-medium")
    assert (entry / "done").is_file() and len(list(entry.glob("*.npy"))) == 3
    (clip / "00000.npy").unlink()  # the cache is reused, not recomputed
    assert len(FlowFolderDataset(clip, size=(10, 15), cache_dir=cache, progress=False)) == 3
    with pytest.raises(InputError):
        FlowFolderDataset(tmp_path / "cache_missing", size=(10, 15), cache_dir=cache)


def test_folder_dataset_computes_flow_of_frames(tmp_path):
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8), (5, 5), 0)
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:05d}.png"), np.roll(texture, 2 * i, axis=1)[:, :64])
    data = FlowFolderDataset(frames, size=(48, 64), cache_dir=tmp_path / "cache", progress=False)
    assert len(data) == 2
    flow = data[0]["flow"]
    assert flow.shape == (2, 48, 64) and torch.isfinite(flow).all()
    assert abs(float(flow[0, 10:-10, 10:-10].median()) - 2.0) < 0.5


@pytest.mark.slow
def test_training_segments_two_layer_flows(tmp_path):
    torch.set_num_threads(2)
    config = apply_overrides(
        load_config("em-tiny"),
        ["model.lr=1.0e-2", "trainer.max_steps=80", "trainer.val_check_interval=80"],
    )
    start = time.perf_counter()
    module = train(
        config, tmp_path, datasets=(TwoLayerFlows(4096), TwoLayerFlows(16, seed=1)), progress=False
    )
    elapsed = time.perf_counter() - start
    held_out = TwoLayerFlows(64, seed=2)
    flows = torch.stack([held_out[i]["flow"] for i in range(64)])
    labels = torch.stack([held_out[i]["labels"] for i in range(64)])
    masks = module.predict_masks(flows)
    assert masks.shape == (64, 2, 32, 32)
    torch.testing.assert_close(masks.sum(1), torch.ones(64, 32, 32))
    j = best_permutation_jaccard(masks.argmax(1), labels)
    print(f"EM em-tiny: 80 steps in {elapsed:.1f} s, held-out J = {j:.3f}")
    assert j >= 0.8
    # Predictions do not depend on the flow's scale (input normalisation).
    torch.testing.assert_close(module.predict_masks(3 * flows), masks, atol=1e-4, rtol=1e-4)
    # The checkpoint reads back with its hyperparameters and gives the same masks.
    best = sorted((tmp_path / "checkpoints").glob("best-*.ckpt"))
    assert best and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    reloaded = load_em_model(tmp_path / "checkpoints" / "last.ckpt")
    assert reloaded.hparams.layers == 2 and reloaded.hparams.net["width"] == 8
    torch.testing.assert_close(reloaded.predict_masks(flows), masks)
    # Exported float16 weights: a third of the checkpoint, the same segmentation.
    exported = export_weights(best[0], tmp_path / "model.pt", meta={"steps": 80})
    assert exported.stat().st_size < best[0].stat().st_size / 2
    small = load_em_model(exported)
    assert small.weights_meta == {"steps": 80} and small.hparams["layers"] == 2
    module_best = load_em_model(best[0])
    agree = small.predict_masks(flows).argmax(1) == module_best.predict_masks(flows).argmax(1)
    assert agree.float().mean() > 0.99


def test_load_em_model_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_em_model(tmp_path / "missing.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 not a zip archive")
    with pytest.raises(InputError, match="corrupt.ckpt"):
        load_em_model(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)
    with pytest.raises(InputError, match="not an EM checkpoint"):
        load_em_model(other)


def test_build_predictor_checks_layers(tmp_path):
    path = export_weights(EMMethod(layers=3, net={"depth": 2, "width": 4}), tmp_path / "k3.pt")
    assert get_method("em", checkpoint=path).layers == 3
    assert build_predictor(3, weights=path).hparams["layers"] == 3
    with pytest.raises(InputError, match="K=3"):
        build_predictor(2, weights=path)
    with pytest.raises(InputError, match="K=3"):
        get_method("em", layers=2, checkpoint=path)


def test_predict_masks_odd_size_and_training_flag():
    module = EMMethod(layers=3, net={"depth": 2, "width": 4})
    module.train()
    masks = module.predict_masks(torch.randn(2, 2, 13, 21))
    assert masks.shape == (2, 3, 13, 21) and module.training


def test_the_inference_network_loads_without_lightning_and_agrees_with_the_module(
    tmp_path: Path,
) -> None:
    """`segment` runs `EMNetwork`, a plain nn.Module: the same masks as `EMMethod` from the
    same weights file, and ``import lightning`` is never needed for it."""
    import subprocess
    import sys

    from motionlayers.methods.em_network import load_em_network

    torch.manual_seed(0)
    module = EMMethod(layers=3, net={"depth": 2, "width": 4})
    path = export_weights(module, tmp_path / "w.pt", half=False)
    flow = torch.randn(2, 2, 24, 32)
    network = load_em_network(path)
    torch.testing.assert_close(network.predict_masks(flow), load_em_model(path).predict_masks(flow))
    code = (
        "import sys; from motionlayers.methods import get_method; "
        f"get_method('em', checkpoint={str(path)!r}); print('lightning' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
