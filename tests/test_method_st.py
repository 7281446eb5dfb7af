"""ST-MS (thesis ch. 3): its losses against hand-computed values, the space-time model's exact
recovery, the augmentations, the triplet data, the 2D-to-3D start, linking of overlapping
triplets (eq. 3.9), training (temporal consistency pays) and whole-video inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.data.augment import add_global_motion, corrupt_one_flow, random_global_flow
from motionlayers.losses.temporal import (
    ST_MODEL,
    consistency_loss,
    fit_volume_models,
    occlusion_keep,
    reconstruction_loss,
    st_loss,
)
from motionlayers.methods.st import STMSMethod
from motionlayers.methods.st_network import STNetwork
from motionlayers.motion import fit, render
from motionlayers.postprocess import VolumeLinker, relabel_masks

TINY_NET = {"depth": 1, "width": 8, "max_width": 32, "down": "strided", "up": "transpose"}


def _one_hot(labels: torch.Tensor, layers: int) -> torch.Tensor:
    """``(T, H, W)`` labels -> ``(1, K, T, H, W)`` masks."""
    return torch.nn.functional.one_hot(labels, layers).permute(3, 0, 1, 2)[None].float()


# --- losses -----------------------------------------------------------------------------------


def test_consistency_is_eq_3_5_on_hand_made_masks():
    # K = 2, 3 frames of 2x2: frame 0 all layer 0, frame 1 one pixel flips, frame 2 two flip.
    labels = torch.tensor([[[0, 0], [0, 0]], [[1, 0], [0, 0]], [[1, 1], [0, 0]]])
    masks = _one_hot(labels, 2)
    # eq. 3.5: 1/(2 K |I|) sum_i sum_k (|m(t-1) - m(t)| + |m(t) - m(t+1)|); a flipped pixel
    # changes both channels by 1: (1 flip * 2 + 1 flip * 2) / (2 * 2 * 4) = 0.25
    assert consistency_loss(masks).item() == pytest.approx(0.25)
    soft = torch.full((1, 3, 3, 2, 2), 1 / 3)
    assert consistency_loss(soft).item() == 0.0


def test_occlusion_masking_drops_the_largest_temporal_differences():
    flow = torch.zeros(1, 2, 3, 10, 10)
    flow[0, 0, 1, 4, 4] = 50.0  # one site jumps at frame 1: both transitions differ there
    keep = occlusion_keep(flow, 0.01)  # 200 sites, 1 % -> the 2 largest differences
    assert keep.shape == (1, 2, 10, 10)
    assert (~keep).sum() == 2 and not keep[0, 0, 4, 4] and not keep[0, 1, 4, 4]
    labels = torch.zeros(3, 10, 10, dtype=torch.long)
    labels[1, 4, 4] = 1  # the masks flip exactly where the flow is unreliable
    masks = _one_hot(labels, 2)
    assert consistency_loss(masks).item() > 0
    assert consistency_loss(masks, flow, 0.01).item() == 0.0  # masked: no penalty
    assert occlusion_keep(flow, 0.0).all()


def test_reconstruction_is_zero_for_the_true_models_and_normalised_per_frame():
    torch.manual_seed(0)
    height, width = 12, 16
    theta = torch.randn(1, 2, 2, 12, dtype=torch.float64)
    fields = render(theta, ST_MODEL, height, width, 3)[0]  # (K, 2, T, H, W)
    labels = torch.zeros(3, height, width, dtype=torch.long)
    labels[:, :, width // 2 :] = 1
    masks = _one_hot(labels, 2).double()
    flow = (masks[0].unsqueeze(1) * fields).sum(0, keepdim=True)  # (1, 2, T, H, W)
    assert reconstruction_loss(flow, masks, theta).item() == pytest.approx(0.0, abs=1e-12)
    # frame-normalised: scaling one frame's flow does not change its share of the loss
    wrong = torch.zeros_like(theta)
    base = reconstruction_loss(flow, masks, wrong).item()
    assert base == pytest.approx(1.0)  # |f - 0|_1 / |f|_1 in every frame
    scaled = flow.clone()
    scaled[:, :, 1] *= 7.0
    assert reconstruction_loss(scaled, masks, wrong).item() == pytest.approx(base)


def test_linear_in_time_model_recovers_a_space_time_quadratic_exactly():
    torch.manual_seed(1)
    height, width = 16, 24
    theta = torch.randn(1, 2, 2, 12, dtype=torch.float64)  # two layers, eq. 3.1-3.3
    fields = render(theta, ST_MODEL, height, width, 3)[0]
    labels = torch.zeros(3, height, width, dtype=torch.long)
    labels[:, 4:12, 6:18] = 1
    masks = _one_hot(labels, 2).double()
    flow = (masks[0].unsqueeze(1) * fields).sum(0, keepdim=True)
    fitted = fit_volume_models(flow, masks, ST_MODEL, iterations=20)
    assert torch.allclose(fitted, theta, atol=1e-6)
    # and the plain weighted fit of motion/ agrees
    assert torch.allclose(fit(flow, masks, ST_MODEL, "l1", iterations=20), theta, atol=1e-6)


def test_st_loss_gradient_reaches_the_masks_only():
    torch.manual_seed(2)
    flow = torch.randn(2, 2, 3, 8, 8)
    logits = torch.randn(2, 3, 3, 8, 8, requires_grad=True)
    loss, terms = st_loss(flow, torch.softmax(logits, 1), iterations=2)
    loss.sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert not terms["theta"].requires_grad and terms["theta"].shape == (2, 3, 2, 12)
    assert torch.allclose(loss, terms["reconstruction"] + terms["consistency"])
    # the spatial-only ablation fits one model per frame
    _, spatial = st_loss(flow, torch.softmax(logits, 1), model="quadratic12", iterations=2)
    assert spatial["theta"].shape == (2, 3, 3, 2, 6)


# --- augmentations ----------------------------------------------------------------------------


def test_space_time_global_field_is_one_model_of_matched_magnitude():
    generator = torch.Generator().manual_seed(0)
    flow = torch.randn(3, 2, 3, 16, 20) * 4
    field = random_global_flow(
        flow, model=ST_MODEL, min_ratio=1.0, max_ratio=1.0, generator=generator
    )
    assert field.shape == flow.shape
    ratio = field.abs().sum(1).mean((1, 2, 3)) / flow.abs().sum(1).mean((1, 2, 3))
    assert torch.allclose(ratio, torch.ones(3), atol=1e-5)
    ones = torch.ones(3, 1, 3, 16, 20)
    theta = fit(field.double(), ones.double(), ST_MODEL, "squared")
    assert torch.allclose(render(theta, ST_MODEL, 16, 20, 3)[:, 0], field.double(), atol=1e-4)
    out = add_global_motion(flow, model=ST_MODEL, generator=generator)
    assert out.shape == flow.shape and not torch.equal(out, flow)
    with pytest.raises(Exception, match="expected"):
        random_global_flow(flow[:, :, 0], model=ST_MODEL)


def test_corrupt_one_flow_replaces_one_time_index_by_noise_of_its_statistics():
    generator = torch.Generator().manual_seed(3)
    flow = torch.randn(2, 2, 3, 32, 32) * 3 + 5
    out, index = corrupt_one_flow(flow, generator=generator)
    assert out.shape == flow.shape
    others = [t for t in range(3) if t != index]
    assert torch.equal(out[:, :, others], flow[:, :, others])
    assert not torch.allclose(out[:, :, index], flow[:, :, index])
    assert torch.allclose(out[:, :, index].mean((2, 3)), flow[:, :, index].mean((2, 3)), atol=0.5)


# --- network ----------------------------------------------------------------------------------


def test_network_maps_triplets_to_three_masks_and_has_the_spec_size():
    net = STNetwork(4, {"depth": 2, "width": 32, "down": "strided", "up": "transpose"})
    masks = net.predict_masks(torch.randn(2, 2, 3, 32, 48))
    assert masks.shape == (2, 4, 3, 32, 48)
    assert torch.allclose(masks.sum(1), torch.ones(2, 3, 32, 48), atol=1e-5)
    # spec A2: about 1.336 M parameters for K = 4 (InstanceNorm's affine terms: +1 k)
    assert abs(sum(p.numel() for p in net.parameters()) - 1_336_000) < 5_000


def test_a_2d_em_network_starts_the_3d_one_as_itself_on_each_frame(tmp_path):
    from motionlayers.methods.em import EMMethod, export_weights
    from motionlayers.methods.weights import init_from

    torch.manual_seed(4)
    net = {"depth": 2, "width": 8, "max_width": 32}
    em = EMMethod(layers=3, net=net).eval()
    path = export_weights(em, tmp_path / "em.pt", half=False)
    st = STMSMethod(layers=3, net=net)
    assert init_from(st, path) == []  # every tensor found its 3D twin
    flow = torch.randn(2, 2, 24, 32)
    still = torch.stack([flow] * 3, dim=2)  # the same flow at the three times
    expected = em.predict_masks(flow)
    got = st.predict_masks(still)
    for t in range(3):
        assert torch.allclose(got[:, :, t], expected, atol=1e-5)


# --- linking of overlapping triplets (eq. 3.9) --------------------------------------------------


def _triplets_with_known_permutations(frames=8, layers=3, seed=0):
    """Soft triplets of a sequence of label maps, each triplet's labels renamed by a known
    permutation; returns (triplets (N, K, 3, h, w), permutations (N, K), true labels)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((frames, 12, 12), dtype=np.int64)
    for t in range(frames):
        labels[t, :, 4 + t % 3 :] = 1
        labels[t, 6:, :] = 2
    triplets, perms = [], []
    for t in range(frames):
        indices = [min(max(t + d, 0), frames - 1) for d in (-1, 0, 1)]
        perm = rng.permutation(layers)
        onehot = torch.nn.functional.one_hot(torch.from_numpy(perm[labels[indices]]), layers)
        triplets.append(onehot.permute(3, 0, 1, 2).float())
        perms.append(perm)
    return torch.stack(triplets), np.stack(perms), labels


@pytest.mark.parametrize("method", ["hungarian", "greedy"])
def test_volume_linker_undoes_known_permutations(method):
    triplets, perms, labels = _triplets_with_known_permutations()
    link = VolumeLinker(shift=1, method=method, cut=4)
    linked = [link(triplet) for triplet in triplets]
    first = perms[0]
    for t, triplet in enumerate(linked):  # every triplet renamed as the first one
        central = triplet[:, 1].argmax(0).numpy()
        assert np.array_equal(central, first[labels[t]])


def test_greedy_linking_may_merge_and_hungarian_never_does():
    # the new triplet splits layer 0 of the previous one into two labels
    previous = torch.zeros(2, 3, 4, 4)
    previous[0] = 1
    current = torch.zeros(2, 3, 4, 4)
    current[0, :, :, :2] = 1
    current[1, :, :, 2:] = 1
    greedy = VolumeLinker(method="greedy")
    greedy(previous)
    merged = greedy(current)
    assert merged[0].sum() == current.sum() and merged[1].sum() == 0
    hungarian = VolumeLinker(method="hungarian")
    hungarian(previous)
    kept = hungarian(current)
    assert kept[0].sum() == kept[1].sum() == 24  # permuted, not merged
    assert torch.equal(relabel_masks(current, np.array([1, 0])), current.flip(0))


# --- training and inference -------------------------------------------------------------------


def _flicker(model: STMSMethod, volumes: torch.Tensor) -> float:
    """Share of pixels whose label changes from one frame of a triplet to the next."""
    labels = model.predict_masks(volumes).argmax(1)
    return float((labels[:, 1:] != labels[:, :-1]).float().mean())


def test_temporal_consistency_reduces_label_flicker_of_a_tiny_trained_model():
    from torch.utils.data import DataLoader

    from motionlayers.data import SyntheticFlowDataset

    data = SyntheticFlowDataset(96, 32, 32, layers=2, seed=5, frames=3, noise_std=0.3)
    held = SyntheticFlowDataset(24, 32, 32, layers=2, seed=6, frames=3, noise_std=0.3)
    volumes = torch.stack([held[i]["flow"] for i in range(len(held))])
    flicker = {}
    for beta in (1.0, 0.0):
        torch.manual_seed(0)
        model = STMSMethod(layers=2, net=TINY_NET, beta=beta, lr=3e-3, fit_iterations=3)
        optimiser = model.configure_optimizers()
        for _ in range(3):
            for batch in DataLoader(data, batch_size=8, shuffle=True):
                loss = model._loss(batch["flow"], batch["flow"], "train")
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        flicker[beta] = _flicker(model, volumes)
    print(flicker)
    assert flicker[1.0] < 0.8 * flicker[0.0]


def test_whole_video_inference_gives_every_frame_a_mask(tmp_path):
    from tests.test_one_path import SIZE, _frames

    from motionlayers.methods.st import export_weights
    from motionlayers.pipeline.segmentation import segment_source

    weights = export_weights(STMSMethod(layers=2, net=TINY_NET), tmp_path / "st.pt")
    result = segment_source(
        _frames(7), tmp_path / "out", "st", checkpoint=weights, size=SIZE, progress=False
    )
    masks = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert result.frames == 7 and len(masks) == 7 and result.method == "st"


# --- triplet data and training through the command --------------------------------------------


def _flow_folders(root, counts=(6, 5, 4)):
    """Folders of .npy flows ``(H, W, 2)``, one per clip; returns the root."""
    rng = np.random.default_rng(0)
    for c, count in enumerate(counts):
        clip = root / f"clip{c}"
        clip.mkdir(parents=True)
        for i in range(count):
            np.save(clip / f"{i:05d}.npy", rng.normal(0, 2, (24, 32, 2)).astype(np.float32))
    return root


def test_triplets_never_cross_videos_and_validation_holds_whole_videos(tmp_path):
    from motionlayers.data import FlowVolumeDataset, split_by_source
    from motionlayers.data.folders import FlowFolderDataset

    flows = FlowFolderDataset(
        _flow_folders(tmp_path / "d"), (24, 32), cache_dir=tmp_path / "c", progress=False
    )
    volumes = FlowVolumeDataset(flows, 3)
    assert len(volumes) == (6 - 2) + (5 - 2) + (4 - 2)  # the "Ignore" boundary mode
    item = volumes[0]
    assert item["flow"].shape == (2, 3, 24, 32)
    assert torch.allclose(item["flow"][:, 1], flows[1]["flow"])
    train, val = split_by_source(flows, 3, 0.34, seed=0)
    assert len(val.sources) == 1 and not set(val.sources) & set(train.sources)
    assert len(train) + len(val) == len(volumes)


def test_st_trains_two_steps_on_videos_mixed_with_synthetic_sequences(tmp_path):
    from motionlayers.cli import main as cli_main

    data = _flow_folders(tmp_path / "d")
    out = tmp_path / "run"
    args = ["train", "st", "--config", "st-tiny", "--data", str(data), "--max-steps", "2"]
    args += ["-o", str(out), "--no-progress", "--set", "trainer.val_check_interval=2"]
    args += ["--set", f"data.cache_dir={tmp_path / 'c'}", "--set", "data.synthetic_share=0.5"]
    args += ["--set", "data.height=24", "--set", "data.width=32"]
    assert cli_main.main(args) == 0
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_a_recipe_starts_from_a_shipped_model_by_name(tmp_path):
    from motionlayers.errors import InputError
    from motionlayers.methods.registry import WEIGHTS_DIR
    from motionlayers.methods.train import trained_file

    assert trained_file("em-default.pt") == WEIGHTS_DIR / "em-default.pt"
    own = tmp_path / "mine.pt"
    own.write_bytes(b"x")
    assert trained_file(own) == own
    with pytest.raises(InputError, match="neither a file nor a shipped model"):
        trained_file("no-such-model.pt")
    with pytest.raises(InputError, match="neither"):
        trained_file(tmp_path / "em-default.pt")  # a path is a path, not a shipped name


def test_the_background_is_chosen_once_per_cut():
    from motionlayers.postprocess import background_layers

    labels = torch.zeros(5, 8, 8, dtype=torch.long)
    labels[:, :, 4:] = 1  # two halves: equal areas, so the largest is decided by one pixel
    labels[0, 0, 0] = labels[1, 0, 0] = labels[2, 0, 0] = 1  # frames 0-2 lean to layer 1
    labels[3, 0, 4] = labels[4, 0, 4] = 0  # frames 3-4 lean to layer 0
    assert background_layers(labels, "largest").tolist() == [1, 1, 1, 0, 0]
    # one cut of 5: layer 1 has 3 extra pixels, layer 0 two; everything follows the cut's sum
    assert background_layers(labels, "largest", cut=5).tolist() == [1] * 5
    assert background_layers(labels, "largest", cut=4).tolist() == [1, 1, 1, 1, 0]


def test_frame_linker_greedy_merges_within_a_cut_and_joins_cuts_one_to_one():
    from motionlayers.postprocess import Linker

    whole = torch.zeros(2, 4, 4)
    whole[0] = 1
    split = torch.zeros(2, 4, 4)
    split[0, :, :2] = 1
    split[1, :, 2:] = 1
    link = Linker(method="greedy", cut=2)
    assert torch.equal(link(whole), whole)  # frame 0: the reference
    merged = link(split)  # frame 1, same cut: both labels go to layer 0
    assert merged[0].sum() == 16 and merged[1].sum() == 0
    joined = link(split)  # frame 2 starts a cut: one-to-one, nothing merges
    assert joined[0].sum() == joined[1].sum() == 8
