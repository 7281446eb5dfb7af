"""Two-step training smoke tests through the real command line (every registered method)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from motionlayers.cli import main as cli_main
from motionlayers.methods import METHODS
from motionlayers.methods.config import apply_overrides, available_configs, load_config


@pytest.fixture(autouse=True)
def _only_existing_commands(monkeypatch):
    """Other subcommands may still be under construction: keep those whose module imports."""
    import importlib

    present = []
    for name in cli_main.COMMAND_MODULES:
        try:
            importlib.import_module(f"motionlayers.cli.{name}")
            present.append(name)
        except ImportError:
            pass
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", tuple(present))


def _flow_folder(root, count=6):
    clip = root / "clip"
    clip.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        np.save(clip / f"{i:05d}.npy", rng.normal(0, 2, (40, 40, 2)).astype(np.float32))
    return root


def _tiny_args(out, cache):
    return [
        "--max-steps",
        "2",
        "-o",
        str(out),
        "--no-progress",
        "--set",
        "trainer.val_check_interval=2",
        "--set",
        f"data.cache_dir={cache}",
    ]


TRAINABLE = sorted(name for name, entry in METHODS.items() if entry.trainable)


@pytest.mark.parametrize("method", TRAINABLE)
def test_every_trainable_method_trains_two_steps_through_the_cli(method, tmp_path):
    """Generated from the registry: a new trainable method joins this test by registering, and
    must ship a ``*-tiny`` recipe (seconds on a CPU, synthetic data)."""
    entry = METHODS[method]
    tiny = [r for r in entry.recipes if r.endswith("-tiny")]
    assert tiny, f"{method} registers no *-tiny recipe for the smoke test"
    out = tmp_path / "run"
    args = ["train", method, "--config", tiny[0], "--max-steps", "2", "-o", str(out)]
    code = cli_main.main([*args, "--no-progress", "--set", "trainer.val_check_interval=2"])
    assert code == 0
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert yaml.safe_load((out / "config.yaml").read_text())["method"] == method


@pytest.mark.parametrize(
    "method",
    # the methods that learn from unlabelled flows (NIMS and BDMM train on generated frames)
    sorted(
        m
        for m, e in METHODS.items()
        if e.input == "flow-pair" and e.trainable and e.datasets is None
    ),
)
def test_train_two_steps_on_a_flow_folder(method, tmp_path, monkeypatch, capsys):
    data = _flow_folder(tmp_path / "data")
    out = tmp_path / "run"
    code = cli_main.main(
        [
            "train",
            method,
            "--config",
            "em-tiny",
            "--data",
            str(data),
            *_tiny_args(out, tmp_path / "cache"),
        ]
    )
    assert code == 0
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert list((out / "checkpoints").glob("best-*.ckpt"))
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["trainer"]["max_steps"] == 2 and resolved["data"]["source"] == str(data)
    metrics = list((out / "logs").rglob("metrics.csv"))
    assert metrics and "val_loss" in metrics[0].read_text()
    # Running again with more steps resumes from last.ckpt in the output folder.
    import lightning
    import torch

    # What `train` writes needs nothing beyond torch's weights-only defaults (no safe globals).
    for written in (out / "checkpoints").glob("*.ckpt"):
        assert torch.serialization.get_unsafe_globals_in_checkpoint(written) == []
    capsys.readouterr()
    resumed_from = []
    original_fit = lightning.Trainer.fit

    def spy(self, *args, **kwargs):
        resumed_from.append((kwargs.get("ckpt_path"), kwargs.get("weights_only")))
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(lightning.Trainer, "fit", spy)
    args = _tiny_args(out, tmp_path / "cache")
    args[1] = "3"
    assert cli_main.main(["train", method, "--config", "em-tiny", "--data", str(data), *args]) == 0
    # Lightning reads the checkpoint weights-only too, and the run says where it resumes.
    assert resumed_from == [(out / "checkpoints" / "last.ckpt", True)]
    last = out / "checkpoints" / "last.ckpt"
    assert f"resuming from {last} at step 2 (of max_steps 3)" in capsys.readouterr().out
    state = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 3


def test_train_two_steps_on_synthetic_data(tmp_path):
    pytest.importorskip("motionlayers.data", reason="synthetic generator not available")
    from motionlayers import data

    if not hasattr(data, "SyntheticFlowDataset"):
        pytest.skip("motionlayers.data.SyntheticFlowDataset not available")
    out = tmp_path / "run"
    code = cli_main.main(["train", "em", "--config", "em-tiny", *_tiny_args(out, tmp_path / "c")])
    assert code == 0 and (out / "checkpoints" / "last.ckpt").is_file()


def test_bad_arguments_fail_cleanly(tmp_path, capsys):
    assert cli_main.main(["train", "em", "--config", "nope", "-o", str(tmp_path)]) == 1
    assert "unknown recipe" in capsys.readouterr().err
    code = cli_main.main(
        ["train", "em", "--config", "em-tiny", "-o", str(tmp_path), "--set", "oops"]
    )
    assert code == 1
    code = cli_main.main(
        [
            "train",
            "em",
            "--config",
            "em-tiny",
            "-o",
            str(tmp_path),
            "--data",
            str(tmp_path / "missing"),
        ]
    )
    assert code == 1


def test_recipes_ship_with_the_package():
    assert {"em", "em-tiny"} <= set(available_configs())
    em = load_config("em")
    assert em["model"]["layers"] == 4 and (em["data"]["height"], em["data"]["width"]) == (128, 224)
    assert em["model"]["alpha"] == pytest.approx(1e-2) and em["model"]["lr"] == pytest.approx(1e-4)
    changed = apply_overrides(em, ["model.layers=2", "model.augment=null"])
    assert changed["model"]["layers"] == 2 and changed["model"]["augment"] is None
    assert em["model"]["layers"] == 4
    numbers = apply_overrides(em, ["model.lr=1e-3", "model.alpha=2.5E-2", "data.source=inf_dir"])
    assert numbers["model"]["lr"] == 1e-3 and numbers["model"]["alpha"] == 0.025
    assert numbers["data"]["source"] == "inf_dir"


def test_init_from_copies_matching_tensors_for_another_k(tmp_path, capsys):
    import torch

    from motionlayers.methods.em import load_em_model

    data = _flow_folder(tmp_path / "data")
    first, second = tmp_path / "k2", tmp_path / "k3"
    common = ["train", "em", "--config", "em-tiny", "--data", str(data)]
    code = cli_main.main([*common, "--set", "model.layers=2", *_tiny_args(first, tmp_path / "c")])
    assert code == 0
    trained = first / "checkpoints" / "last.ckpt"
    args = [*common, "--set", "model.layers=3", "--init-from", str(trained)]
    # Two steps of Adam move the weights; zero learning rate keeps the copies checkable.
    args += ["--set", "model.lr=0.0", *_tiny_args(second, tmp_path / "c")]
    assert cli_main.main(args) == 0
    assert "fresh: net.head.bias, net.head.weight" in capsys.readouterr().out
    old, new = load_em_model(trained).net, load_em_model(second / "checkpoints" / "last.ckpt").net
    assert torch.equal(old.inc[0].weight, new.inc[0].weight)
    assert new.head.weight.shape[0] == 3
    assert yaml.safe_load((second / "config.yaml").read_text())["init_from"] == str(trained)
    bad = [
        *common,
        "--init-from",
        str(tmp_path / "missing.pt"),
        *_tiny_args(tmp_path / "x", tmp_path / "c"),
    ]
    assert cli_main.main(bad) == 1


def test_last_checkpoint_keeps_every_step_even_without_improvement(tmp_path, monkeypatch):
    """last.ckpt follows training (not only the best validation loss), and an interrupted run
    saves where it stopped, so that resuming loses nothing."""
    import torch

    from motionlayers.methods.em import EMMethod

    data = _flow_folder(tmp_path / "data")
    out = tmp_path / "run"
    args = ["train", "em", "--config", "em-tiny", "--data", str(data)]
    args += [*_tiny_args(out, tmp_path / "c"), "--set", "model.lr=0.0"]  # val loss never improves
    args[args.index("--max-steps") + 1] = "5"
    assert cli_main.main(args) == 0
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 5

    original = EMMethod.training_step

    def interrupted(self, batch, batch_idx):
        if self.global_step == 7:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(EMMethod, "training_step", interrupted)
    args[args.index("--max-steps") + 1] = "20"
    try:
        cli_main.main(args)
    except (KeyboardInterrupt, SystemExit):
        pass
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 7
