"""Test-time adaptation (`motionlayers.methods.adapt`, ``segment --adapt-steps``) on synthetic
layered flows with exact motion (`motionlayers.data`); no shared data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from motionlayers.cli.main import main
from motionlayers.data import SyntheticFlowDataset
from motionlayers.errors import InputError
from motionlayers.methods import em, lt, st
from motionlayers.methods.adapt import (
    NOT_ADAPTABLE,
    adapt,
    adapt_method,
    check_steps,
    label_free_loss,
)
from motionlayers.methods.registry import get_method
from motionlayers.pipeline import segment, segment_source

pytestmark = pytest.mark.usefixtures("one_thread")
HEIGHT, WIDTH, FRAMES = 32, 48, 6
TINY = {"depth": 2, "width": 4}


def layered_flows(seed: int = 0) -> torch.Tensor:
    """``(T, 2, H, W)``: a synthetic video's exact flows, a background and moving objects."""
    item = SyntheticFlowDataset(1, HEIGHT, WIDTH, layers=2, seed=seed, frames=FRAMES)[0]
    return item["flow"].movedim(1, 0).contiguous()


def flow_folder(path: Path, flows: torch.Tensor) -> Path:
    path.mkdir()
    for t, flow in enumerate(flows):
        np.save(path / f"{t:05d}.npy", flow.permute(1, 2, 0).numpy())
    return path


def tiny_checkpoints(tmp_path: Path) -> dict[str, Path]:
    """Small untrained networks of em, st and lt as weights files (seconds to adapt)."""
    torch.manual_seed(0)
    modules = {
        "em": (em, em.EMMethod(layers=2, net=TINY)),
        "st": (st, st.STMSMethod(layers=2, net=TINY)),
        "lt": (
            lt,
            lt.LTMSMethod(
                layers=2,
                net=TINY,
                decoder={"width": 16, "depth": 1, "heads": 2, "feedforward": 32, "dropout": 0.0},
            ),
        ),
    }
    return {
        name: module.export_weights(model, tmp_path / f"{name}.pt", half=False)
        for name, (module, model) in modules.items()
    }


def test_adaptation_lowers_the_em_loss_on_the_videos_flows() -> None:
    flows = layered_flows()
    model = em.load_em_model(em.DEFAULT_WEIGHTS)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    before = label_free_loss(model, flows)
    adapted = adapt(model, flows, 15, augment=False)
    assert label_free_loss(adapted, flows) < 0.95 * before
    assert len(adapted.adapt_losses) == 15 and not adapted.training
    # the module given is a template: its weights are untouched
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("name", ["em", "st", "lt"])
def test_every_network_method_adapts_through_segment(tmp_path: Path, name: str) -> None:
    flows = layered_flows()
    weights = tiny_checkpoints(tmp_path)[name]
    method = get_method(name, checkpoint=weights)
    module = method.entry.checkpoint_loader()(weights)
    volume = method.entry.volume if method.entry.input == "flow-volume" else None
    before = label_free_loss(module, flows, volume)
    adapted = adapt_method(method, flows, 8, lr_scale=10.0, augment=False)
    assert len(adapted.predictor.adapt_losses) == 8
    loaded = method.entry.checkpoint_loader()(weights)
    loaded.load_state_dict(adapted.predictor.state_dict())
    assert label_free_loss(loaded, flows, volume) < before
    out = segment(
        flow_folder(tmp_path / "flows", flows),
        name,
        checkpoint=weights,
        adapt_steps=2,
        size=None,
        progress=False,
    )
    assert out.labels.shape == (FRAMES, HEIGHT, WIDTH)


def test_zero_steps_is_bit_identical_to_no_adaptation(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path / "flows", layered_flows())
    plain = segment(folder, "em", size=None, progress=False)
    zero = segment(folder, "em", adapt_steps=0, size=None, progress=False)
    assert np.array_equal(plain.labels, zero.labels)
    assert np.array_equal(plain.theta, zero.theta)
    adapted = segment(folder, "em", adapt_steps=3, size=None, progress=False)
    assert adapted.labels.shape == plain.labels.shape


def test_the_shipped_weights_are_never_rewritten(tmp_path: Path) -> None:
    shipped = em.DEFAULT_WEIGHTS
    digest, mtime = hashlib.sha256(shipped.read_bytes()).hexdigest(), shipped.stat().st_mtime_ns
    folder = flow_folder(tmp_path / "flows", layered_flows())
    result = segment_source(folder, tmp_path / "out", "em", adapt_steps=3, progress=False)
    assert result.frames == FRAMES
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == digest
    assert shipped.stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob("out/**/*.pt"))


def test_adaptation_is_deterministic_with_a_seed() -> None:
    flows = layered_flows()
    model = em.EMMethod(layers=2, net=TINY)
    first, again = (adapt(model, flows, 3, seed=7) for _ in range(2))
    other = adapt(model, flows, 3, seed=8)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in first.state_dict().items())
    assert first.adapt_losses == again.adapt_losses
    assert any(not torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())
    unchanged = adapt(model, flows, 0)
    assert unchanged is not model
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in unchanged.state_dict().items())


def test_bad_steps_and_methods_without_a_network_fail_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = flow_folder(tmp_path / "flows", layered_flows())
    out = tmp_path / "out"
    for steps in (-1, 2.5, True):
        with pytest.raises(InputError, match="--adapt-steps"):
            segment_source(folder, out, adapt_steps=steps, progress=False)
    with pytest.raises(InputError, match="must be a whole number"):
        check_steps(-3)
    for method in ("classical-em", "robust-layers"):
        with pytest.raises(InputError, match=f"method {method} has no network to adapt"):
            segment_source(folder, out, method, layers=2, adapt_steps=2, progress=False)
    assert "nims" in NOT_ADAPTABLE and "bdmm" in NOT_ADAPTABLE
    with pytest.raises(InputError, match="nims cannot be adapted: .*labels"):
        segment_source(folder, out, "nims", adapt_steps=2, progress=False)
    assert not out.exists()
    assert main(["segment", str(folder), "-o", str(out), "--adapt-steps", "-1"]) == 1
    assert "--adapt-steps" in capsys.readouterr().err
    assert not out.exists()


def test_the_cli_adapts_and_documents_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = flow_folder(tmp_path / "flows", layered_flows())
    args = ["segment", str(folder), "-o", str(tmp_path / "out"), "--adapt-steps", "2"]
    assert main([*args, "--no-progress"]) == 0
    assert (tmp_path / "out" / "masks" / "00000.png").is_file()
    assert '"adapt_steps": 2' in (tmp_path / "out" / "motion.json").read_text()
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    assert "--adapt-steps" in capsys.readouterr().out


def test_segment_holds_only_the_first_flows_to_adapt_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motionlayers.methods import adapt as adapt_module

    seen: list[torch.Tensor] = []

    def recording(method, flows, steps, **options):  # type: ignore[no-untyped-def]
        seen.append(flows)
        return adapt_method(method, flows, steps, **options)

    monkeypatch.setattr(adapt_module, "ADAPT_FRAMES", 3)
    monkeypatch.setattr(adapt_module, "adapt_method", recording)
    flows = layered_flows()
    weights = tiny_checkpoints(tmp_path)["em"]
    folder = flow_folder(tmp_path / "flows", flows)
    out = segment(folder, "em", checkpoint=weights, adapt_steps=1, size=None, progress=False)
    assert len(seen) == 1 and torch.equal(seen[0], flows[:3])  # the first 3, in order
    assert out.stems == [f"{t:05d}" for t in range(FRAMES)]  # then every frame, once
