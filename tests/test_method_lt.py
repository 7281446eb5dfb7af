"""LT-MS (thesis ch. 4): spline motion model, query decoder, training, chunked inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.data.augment import corrupt_run
from motionlayers.losses.temporal import LT_MODEL, fit_volume_models, st_loss
from motionlayers.methods.lt import LTMSMethod, warmup_step_decay
from motionlayers.methods.lt_network import LTNet, LTNetwork
from motionlayers.motion import (
    bspline_basis,
    evaluate_spline_curve,
    fit_spline_curve,
    normalized_times,
    parse_model,
    render,
)
from motionlayers.nets.mask_decoder import QueryMaskDecoder

TINY_NET = {"depth": 2, "width": 8, "max_width": 32, "down": "strided", "up": "transpose"}
TINY_DECODER = {"width": 32, "depth": 2, "heads": 2, "feedforward": 64, "dropout": 0.0}


def _one_hot(labels: torch.Tensor, layers: int) -> torch.Tensor:
    """``(T, H, W)`` labels -> ``(1, K, T, H, W)`` masks."""
    return torch.nn.functional.one_hot(labels, layers).permute(3, 0, 1, 2)[None].float()


# --- the B-spline space-time model (eq. 4.1-4.5) ----------------------------------------------


@pytest.mark.parametrize("frames", [3, 5, 9, 10, 17, 40])
def test_spline_basis_is_a_partition_of_unity_at_every_frame(frames):
    spec = parse_model(LT_MODEL)
    count = spec.temporal_size(frames)
    assert count == 2 + (frames - 2) // 3  # eq. 4.5, nu = 3: L = 4 for T = 9
    basis = bspline_basis(normalized_times(frames, torch.float64), count)
    assert torch.allclose(basis.sum(1), torch.ones(frames, dtype=torch.float64), atol=1e-12)
    assert (basis >= 0).all()
    # control points at both ends of the volume: the curve starts and ends on them
    assert basis[0, 0] == 1 and basis[-1, -1] == 1


def test_spline_model_recovers_a_synthetic_spline_motion_exactly():
    torch.manual_seed(2)
    frames, height, width = 9, 16, 24
    spec = parse_model(LT_MODEL)
    theta = torch.randn(1, 2, 2, spec.basis_size(frames), dtype=torch.float64)
    assert theta[0, 0].numel() == 48  # 48 parameters per layer for T = 9
    fields = render(theta, spec, height, width, frames)[0]  # (K, 2, T, H, W)
    labels = torch.zeros(frames, height, width, dtype=torch.long)
    for t in range(frames):  # a moving square
        labels[t, 3:11, 2 + t : 12 + t] = 1
    masks = _one_hot(labels, 2).double()
    flow = (masks[0].unsqueeze(1) * fields).sum(0, keepdim=True)
    fitted = fit_volume_models(flow, masks, LT_MODEL, iterations=20)
    assert torch.allclose(fitted, theta, atol=1e-6)
    loss, terms = st_loss(flow, masks, model=LT_MODEL)
    assert float(terms["reconstruction"]) < 1e-6


def test_a_constant_motion_is_a_spline_motion_at_every_frame_including_the_ends():
    """The authors' basis sums to 0.83 at the ends (spec B2) and cannot hold a constant
    motion there; a partition of unity can."""
    values = torch.full((9, 2, 6), 3.0, dtype=torch.float64)
    control = fit_spline_curve(values)
    assert torch.allclose(evaluate_spline_curve(control, 9), values, atol=1e-5)


def test_spline_curve_through_per_frame_models_ignores_frames_without_the_layer():
    times = torch.linspace(-1, 1, 12, dtype=torch.float64)
    values = (2 * times**3 - times + 1).view(12, 1)  # cubic B-splines hold every cubic
    weights = torch.ones(12, dtype=torch.float64)
    values_bad = values.clone()
    values_bad[4] = 1e3
    weights[4] = 0
    control = fit_spline_curve(values_bad, weights)
    curve = evaluate_spline_curve(control, 12)
    assert (curve - values).abs().max() < 1e-4  # the empty frame's model does not pull it


# --- the network ------------------------------------------------------------------------------


def test_decoder_is_permutation_equivariant_in_its_queries():
    torch.manual_seed(0)
    decoder = QueryMaskDecoder(4, 24, 8, width=32, depth=2, heads=2, feedforward=64).eval()
    memory, pixels = torch.randn(2, 24, 3, 2, 4), torch.randn(2, 8, 3, 8, 16)
    logits = decoder(memory, pixels)
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        decoder.queries.weight.copy_(decoder.queries.weight[order])
    assert torch.allclose(decoder(memory, pixels), logits[:, order], atol=1e-5)


def test_lt_network_reads_any_length_and_has_the_spec_size():
    net = LTNetwork(4, {"depth": 2, "width": 32, "down": "strided", "up": "transpose"}).eval()
    for frames in (1, 9, 14):
        masks = net.predict_masks(torch.randn(1, 2, frames, 32, 48))
        assert masks.shape == (1, 4, frames, 32, 48)
        assert torch.allclose(masks.sum(1), torch.ones(1, frames, 32, 48), atol=1e-5)
    # spec B3: about 4.64 M parameters for K = 4 (U-Net 1.336 M without its head, decoder
    # 3.30 M; InstanceNorm's affine terms: +1 k)
    assert abs(sum(p.numel() for p in net.parameters()) - 4_640_000) < 20_000


def test_unet_only_ablation_is_the_st_network_on_the_volume():
    torch.manual_seed(1)
    net = LTNet(3, TINY_NET, transformer=False)
    assert net.decoder is None and hasattr(net, "head")
    x = torch.randn(1, 2, 9, 16, 16)
    assert net(x).shape == (1, 3, 9, 16, 16)


def test_lt_with_residual_head_starts_as_the_st_model_it_is_initialised_from(tmp_path):
    from motionlayers.methods.st import STMSMethod, export_weights
    from motionlayers.methods.weights import init_from

    torch.manual_seed(3)
    st = STMSMethod(layers=3, net=TINY_NET).eval()
    path = export_weights(st, tmp_path / "st.pt", half=False)
    lt = LTMSMethod(
        layers=3, net=TINY_NET, decoder=TINY_DECODER, residual_head=True, zero_start=True
    )
    missing = init_from(lt, path)
    assert missing and all(".decoder." in n or ".position." in n for n in missing)
    flow = torch.randn(2, 2, 9, 16, 24)
    assert torch.allclose(lt.predict_masks(flow), st.predict_masks(flow), atol=1e-5)


# --- augmentation and schedule ----------------------------------------------------------------


def test_run_corruption_replaces_a_run_of_flows_by_noise_of_their_statistics():
    generator = torch.Generator().manual_seed(0)
    flow = torch.randn(3, 2, 9, 16, 16) * 4 + 7
    out, start = corrupt_run(flow, 3, generator)
    changed = (out != flow).flatten(3).any(3).any(1).any(0)  # (T,)
    assert changed.tolist() == [start <= t < start + 3 for t in range(9)]
    run = out[:, :, start : start + 3]
    assert abs(float(run.mean()) - 7) < 0.3 and abs(float(run.std()) - 4) < 0.3
    assert torch.equal(flow, flow.clone())  # the input is left alone
    with pytest.raises(ValueError, match="run length"):
        corrupt_run(flow, 10)


def test_corruption_of_a_training_step_leaves_the_loss_target_clean():
    model = LTMSMethod(layers=2, net=TINY_NET, decoder=TINY_DECODER, corrupt_p=1.0)
    flow = torch.randn(2, 2, 9, 16, 16)
    network_input = model.corrupt(flow)
    assert not torch.equal(network_input, flow)
    assert model.corrupt(flow).shape == flow.shape


def test_learning_rate_warms_up_linearly_then_halves_in_steps():
    factors = [warmup_step_decay(s, 4, 3) for s in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4:] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    model = LTMSMethod(layers=2, net=TINY_NET, lr=1e-3, warmup_steps=4, decay_every=3)
    config = model.configure_optimizers()
    assert config["lr_scheduler"]["interval"] == "step"
    assert config["optimizer"].param_groups[0]["lr"] == pytest.approx(2.5e-4)


# --- learning, training, inference --------------------------------------------------------------


def _pooled_jaccard(model: torch.nn.Module, held) -> float:
    """Mean over volumes of the best (over label permutations) mean per-layer IoU, K = 2."""
    volumes = torch.stack([held[i]["flow"] for i in range(len(held))])
    truth = torch.stack([held[i]["labels"] for i in range(len(held))])
    predicted = model.predict_masks(volumes).argmax(1)
    scores = []
    for labels, true in zip(predicted, truth):
        best = 0.0
        for swap in (False, True):
            guess = 1 - labels if swap else labels
            ious = [
                float(((guess == k) & (true == k)).sum() / ((guess == k) | (true == k)).sum())
                for k in (0, 1)
            ]
            best = max(best, sum(ious) / 2)
        scores.append(best)
    return float(np.mean(scores))


@pytest.fixture(scope="module")
def tiny_trained_lt():
    """A tiny LT-MS trained on synthetic volumes of 5 flows (about a minute on one core)."""
    from torch.utils.data import DataLoader

    from motionlayers.data import SyntheticFlowDataset

    torch.manual_seed(0)
    data = SyntheticFlowDataset(96, 32, 32, layers=2, seed=5, frames=5, noise_std=0.1)
    model = LTMSMethod(
        layers=2,
        net=TINY_NET,
        decoder=TINY_DECODER,
        residual_head=True,
        lr=3e-3,
        fit_iterations=3,
        corrupt_p=0.0,
    )
    optimiser = model.configure_optimizers()["optimizer"]
    for _ in range(18):
        for batch in DataLoader(data, batch_size=8, shuffle=True):
            loss = model._loss(batch["flow"], batch["flow"], "train")
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def test_a_tiny_lt_ms_learns_to_segment_held_out_synthetic_volumes(tiny_trained_lt):
    from motionlayers.data import SyntheticFlowDataset

    held = SyntheticFlowDataset(16, 32, 32, layers=2, seed=6, frames=5, noise_std=0.1)
    assert _pooled_jaccard(tiny_trained_lt, held) >= 0.8


def test_chunked_and_whole_video_inference_agree_on_a_short_video(tiny_trained_lt, tmp_path):
    from motionlayers.data import SyntheticFlowDataset
    from motionlayers.methods.lt import export_weights
    from motionlayers.methods.registry import get_method
    from motionlayers.pipeline.sources import FlowSample
    from motionlayers.pipeline.stream import predict_stream

    weights = export_weights(tiny_trained_lt, tmp_path / "lt.pt", half=False)
    method = get_method("lt", checkpoint=weights)
    video = SyntheticFlowDataset(1, 32, 32, layers=2, seed=11, frames=16, noise_std=0.1)[0]
    samples = [FlowSample(t, f"{t:05d}", video["flow"][:, t], None, (32, 32)) for t in range(16)]

    def labels(chunk):
        masks = [m for _, m in predict_stream(samples, method, 4, "hungarian", chunk)]
        assert len(masks) == 16
        return torch.stack(masks).argmax(1)

    whole = labels((0, 0))
    for chunk in ((7, 5), (5, 5), (9, 5)):  # overlapping and linked, disjoint chunks
        chunked = labels(chunk)
        agree = max(
            float((chunked == whole).float().mean()), float((chunked != whole).float().mean())
        )
        assert agree > 0.9, chunk


def test_lt_trains_two_steps_through_the_command(tmp_path):
    from motionlayers.cli import main as cli_main
    from motionlayers.methods.lt import load_lt_model

    out = tmp_path / "run"
    args = ["train", "lt", "--config", "lt-tiny", "--max-steps", "2", "-o", str(out)]
    assert cli_main.main([*args, "--no-progress"]) == 0
    model = load_lt_model(out / "checkpoints" / "last.ckpt")
    assert model.hparams["motion_model"] == LT_MODEL and model.net.decoder is not None


def test_chunk_options_apply_to_any_length_methods_only():
    from motionlayers.errors import InputError
    from motionlayers.methods.registry import get_entry
    from motionlayers.pipeline.stream import volume_shape

    lt = get_entry("lt")
    assert volume_shape(lt, None, None) == (12, 10)  # 10 frames owned, 2 shared with neighbours
    assert volume_shape(lt, 120, 0) == (120, 120)
    assert volume_shape(lt, 0, None) == (0, 0)  # the whole video
    assert volume_shape(get_entry("st"), None, None) == (3, 1)
    with pytest.raises(InputError, match="any length"):
        volume_shape(get_entry("st"), 10, None)


def test_training_several_seeds_keeps_the_lowest_validation_loss(tmp_path):
    import json

    from motionlayers.cli import main as cli_main

    out = tmp_path / "seeds"
    args = ["train", "lt", "--config", "lt-tiny", "--max-steps", "2", "--seeds", "2"]
    assert cli_main.main([*args, "-o", str(out), "--no-progress"]) == 0
    record = json.loads((out / "best.json").read_text())
    assert set(record["runs"]) == {"seed-0", "seed-1"}
    assert record["val_loss"] == min(record["runs"].values())
    assert (out / record["checkpoint"]).is_file()
    assert record["checkpoint"].startswith(f"seed-{record['seed']}/")
