"""``motionlayers train`` options and recipes: checked keys and values, one-line errors before
anything is written, --seed, --logger, --list-configs, -o/--output (and the old --out)."""

from __future__ import annotations

import pytest
import torch
import yaml

from motionlayers.cli import main as cli_main
from motionlayers.errors import InputError
from motionlayers.methods import train as train_module
from motionlayers.methods.config import (
    apply_overrides,
    available_configs,
    check_config,
    load_config,
)
from motionlayers.methods.em import EMMethod, export_weights


@pytest.fixture
def captured(monkeypatch):
    """Replace the training itself: the CLI's resolved arguments are recorded instead."""
    calls = []

    def fake_train(config, out, **options):
        calls.append({"config": config, "out": out, **options})

    monkeypatch.setattr(train_module, "train", fake_train)
    return calls


def _cli(tmp_path, *extra, method="em", config="em-tiny"):
    args = ["train", method, "--config", config, "--max-steps", "1", "--no-progress"]
    return cli_main.main([*args, "-o", str(tmp_path / "run"), *extra])


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("motionlayers train: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    "override, needles",
    [
        ("data.batch_sise=4", ["--set data.batch_sise: unknown key", "batch_size, cache_dir"]),
        ("trainer.max_stepz=5", ["--set trainer.max_stepz: unknown key", "max_steps"]),
        ("bogus.key=1", ["--set bogus: unknown key", "data, init_from, method, model"]),
        ("model.layer=3", ["--set model.layer: unknown key", "layers"]),
        ("model.net.widht=3", ["--set model.net.widht: unknown key", "width"]),
        ("data.batch_size=0", ["--set data.batch_size: must be >= 1, got 0"]),
        ("data.batch_size=2.5", ["--set data.batch_size: expected an integer, got 2.5"]),
        ("data.batch_size=four", ["expected an integer, got 'four'"]),
        ("data.batch_size=true", ["expected an integer, got True"]),
        ("trainer.max_steps=-3", ["--set trainer.max_steps: must be >= 1, got -3"]),
        ("model.lr=nan", ["--set model.lr: expected a finite number, got nan"]),
        ("model.lr=-1e-3", ["--set model.lr: must be >= 0.0"]),
        ("model.distance=l3", ["--set model.distance: unknown 'l3'", "huber"]),
        ("data.val_fraction=1.5", ["data.val_fraction: must be < 1.0"]),
        ("data.height=100000", ["data.height: must be <= 4096"]),
        ("trainer.precision=17", ["trainer.precision: unknown 17"]),
        ("seed=-1", ["--set seed: must be >= 0"]),
        ("model.augment.q=1", ["model.augment.q: unknown key", "max_ratio, min_ratio, p"]),
        ("data=3", ["--set data: expected a mapping, got 3"]),
    ],
)
def test_bad_overrides_are_one_line_errors(override, needles, tmp_path, capsys, captured):
    assert _cli(tmp_path, "--set", override) == 1
    _one_line_error(capsys, *needles)
    assert not captured and not (tmp_path / "run").exists()


def test_event_recipes_are_checked_too(tmp_path, capsys, captured):
    bad = ["data.objects=[2, 1]", "data.objects=[1]", "model.bins=0", "data.window_events=0"]
    for override in bad:
        code = _cli(tmp_path, "--set", override, method="evlayerseg", config="evlayerseg-tiny")
        assert code == 1, override
        _one_line_error(capsys, override.split("=")[0])
    assert not captured


def test_every_packaged_recipe_is_valid():
    for name in available_configs():
        config = load_config(name)
        check_config(config, config["method"], origin=name)


def test_overrides_merge_and_the_check_reads_types_from_the_method():
    em = load_config("em")
    changed = apply_overrides(em, ["model.layers=2", "model.augment=null", "model.lr=1e-3"])
    assert changed["model"]["layers"] == 2 and changed["model"]["augment"] is None
    assert changed["model"]["lr"] == 1e-3 and em["model"]["layers"] == 4
    check_config(changed, "em")
    with pytest.raises(InputError, match="new: unknown key"):
        check_config(apply_overrides(em, ["new.key=[1, 2]"]), "em")
    # EV-LayerSegNet's references are a list of numbers (its constructor's type hint).
    events = load_config("evlayerseg-tiny")
    check_config(apply_overrides(events, ["model.references=[0, 1]"]), "evlayerseg")
    with pytest.raises(InputError, match="model.references: expected a list of numbers"):
        check_config(apply_overrides(events, ["model.references=[a]"]), "evlayerseg")


def test_recipe_file_errors(tmp_path, capsys, captured):
    broken = tmp_path / "broken.yaml"
    broken.write_text("method: em\ndata: {height: 32\n")
    assert _cli(tmp_path, config=str(broken)) == 1
    _one_line_error(capsys, f"{broken}: not valid YAML at line")
    no_data = tmp_path / "no_data.yaml"
    no_data.write_text(yaml.safe_dump({"method": "em", "model": {"layers": 2}}))
    assert _cli(tmp_path, config=str(no_data)) == 1
    _one_line_error(capsys, f"{no_data}", "no data section")
    typo = tmp_path / "typo.yaml"
    recipe = load_config("em-tiny")
    recipe["data"]["batch_sise"] = 4
    typo.write_text(yaml.safe_dump(recipe))
    assert _cli(tmp_path, config=str(typo)) == 1
    _one_line_error(capsys, f"{typo}: data.batch_sise: unknown key")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    assert _cli(tmp_path, config=str(scalar)) == 1
    _one_line_error(capsys, "must be a YAML mapping")
    assert not captured and not (tmp_path / "run").exists()


def test_seed_output_and_logger_reach_the_training(tmp_path, capsys, captured):
    assert _cli(tmp_path, "--seed", "7", "--logger", "csv") == 0
    (call,) = captured
    assert call["config"]["seed"] == 7 and call["logger"] == "csv"
    assert str(call["out"]) == str(tmp_path / "run")
    assert "warning" not in capsys.readouterr().err
    assert _cli(tmp_path, "--seed", "-2") == 1
    _one_line_error(capsys, "--seed: must be in [0, 2^32)")
    assert _cli(tmp_path, "--max-steps", "0") == 1
    _one_line_error(capsys, "--max-steps: must be >= 1")


def test_out_is_a_deprecated_alias_of_output(tmp_path, capsys, captured):
    args = ["train", "em", "--config", "em-tiny", "--no-progress"]
    assert cli_main.main([*args, "--out", str(tmp_path / "old")]) == 0
    assert "--out is deprecated, use -o/--output" in capsys.readouterr().err
    assert str(captured[0]["out"]) == str(tmp_path / "old")
    assert cli_main.main([*args, "--output", str(tmp_path / "new")]) == 0
    assert str(captured[1]["out"]) == str(tmp_path / "new")


def test_list_configs_prints_one_line_per_recipe(capsys):
    with pytest.raises(SystemExit) as stop:
        cli_main.main(["train", "--list-configs"])
    assert stop.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == available_configs()
    tiny = next(line for line in lines if line.startswith("em-tiny "))
    assert tiny.split()[1] == "em" and "Tiny EM recipe" in tiny


# --- errors raised by `train` itself, before anything is written --------------------------


def test_output_naming_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code = cli_main.main(["train", "em", "--config", "em-tiny", "-o", str(target)])
    assert code == 1 and target.read_text() == "mine"
    _one_line_error(capsys, f"{target}: exists and is not a folder")
    inside = target / "run"
    assert cli_main.main(["train", "em", "--config", "em-tiny", "-o", str(inside)]) == 1
    _one_line_error(capsys, f"{inside}: cannot create the output folder: {target} is a file")


def test_gpu_without_a_gpu_is_refused(tmp_path, capsys, monkeypatch):
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: False))
    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    assert _cli(tmp_path, "--accelerator", "gpu") == 1
    _one_line_error(capsys, "--accelerator: gpu: no GPU is available here")
    assert not (tmp_path / "run").exists()


def test_tensorboard_without_the_package_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train_module, "find_spec", lambda name: None)
    assert _cli(tmp_path, "--logger", "tensorboard") == 1
    _one_line_error(capsys, "--logger", "pip install 'motionlayers[tensorboard]'")
    assert not (tmp_path / "run").exists()


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    assert _cli(tmp_path, "--set", "trainer.val_check_interval=1") == 0
    assert list((tmp_path / "run" / "logs").rglob("events.out.tfevents.*"))


def test_resume_of_a_bad_file_is_refused(tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    for content in (b"", b"\x00\x01 not a checkpoint", b"PK\x03\x04 torn zip"):
        junk.write_bytes(content)
        assert _cli(tmp_path, "--resume", str(junk)) == 1
        _one_line_error(capsys, f"{junk}: ", "not a motionlayers checkpoint")
    assert _cli(tmp_path, "--resume", str(tmp_path / "missing.ckpt")) == 1
    _one_line_error(capsys, "missing.ckpt: checkpoint does not exist")
    model = EMMethod(layers=2, net={"depth": 2, "width": 8, "max_width": 64})
    weights = export_weights(model, tmp_path / "model.pt")
    assert _cli(tmp_path, "--resume", str(weights)) == 1
    _one_line_error(capsys, "cannot be resumed", "--init-from")
    other_k = tmp_path / "k3.ckpt"
    torch.save(
        {
            "state_dict": EMMethod(
                layers=3, net=load_config("em-tiny")["model"]["net"]
            ).state_dict(),
            "global_step": 4,
            "optimizer_states": [],
            "loops": {},
            "hyper_parameters": {"layers": 3},
        },
        other_k,
    )
    assert _cli(tmp_path, "--resume", str(other_k)) == 1
    _one_line_error(capsys, f"{other_k}: was trained with other model settings", "net.head")
    assert not (tmp_path / "run").exists()


def test_library_train_checks_the_recipe(tmp_path):
    config = apply_overrides(load_config("em-tiny"), ["data.batch_size=0"])
    with pytest.raises(InputError, match="config: data.batch_size: must be >= 1"):
        train_module.train(config, tmp_path / "run")
    with pytest.raises(InputError, match="--logger: unknown 'wandb'"):
        train_module.train(load_config("em-tiny"), tmp_path / "run", logger="wandb")
    assert not (tmp_path / "run").exists()
