"""No file given as a model runs code: a payload planted in every kind of file that every entry
point accepts (``segment --checkpoint``, ``train --init-from``, ``train --resume``, a recipe's
teacher, the Python loaders) is refused with a one-line error and never runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from motionlayers.cli import main as cli_main
from motionlayers.errors import InputError
from motionlayers.methods import weights
from motionlayers.methods.em import EMMethod, build_predictor, export_weights, load_em_model
from motionlayers.methods.evlayerseg import (
    EVLayerSegMethod,
    load_evlayerseg_model,
)
from motionlayers.methods.evlayerseg import (
    export_weights as export_event_weights,
)
from motionlayers.methods.registry import get_method
from motionlayers.methods.teacher_targets import _read_cached


@pytest.fixture(autouse=True)
def _unsafe_default(monkeypatch):
    """Every load as if torch still defaulted to unpickling anything (as before torch 2.6):
    only a ``weights_only=True`` passed explicitly, by us and by Lightning, keeps files safe."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


TINY_EM = {"layers": 2, "net": {"depth": 2, "width": 4}}
TINY_EVENTS = {
    "layers": 2,
    "bins": 3,
    "net": {"width": 4, "depth": 3, "residual_blocks": 1, "flow_convs": 1, "hidden": [8]},
}


class Payload:
    """Unpickling this object creates ``marker`` (the stand-in for arbitrary code)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _lightning_like(module: torch.nn.Module, hparams: dict) -> dict:
    """What a Lightning checkpoint holds (see `test_real_checkpoints_need_no_extra_globals`)."""
    return {
        "epoch": 0,
        "global_step": 1,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": module.state_dict(),
        "loops": {},
        "callbacks": {},
        "optimizer_states": [{"state": {}, "param_groups": []}],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": hparams,
    }


KINDS = ("weights.pt", "lightning.ckpt", "legacy.pt", "pickle.ckpt")


def plant(folder: Path, kind: str, method: str = "em") -> tuple[Path, Path]:
    """``(file, marker)``: a model file of ``kind`` (a weights file, a Lightning checkpoint, the
    old non-zip torch format, a bare pickle) that is genuine but for one planted payload."""
    marker = folder / f"marker-{kind}"
    cls, hparams = (EMMethod, TINY_EM) if method == "em" else (EVLayerSegMethod, TINY_EVENTS)
    module = cls(**hparams)
    if kind == "weights.pt":
        content = {
            "format": weights.WEIGHTS_FORMAT,
            "method": method,
            "hparams": hparams,
            "state_dict": module.state_dict(),
            "meta": {"card": Payload(marker)},
        }
    else:
        content = _lightning_like(module, hparams)
        content["callbacks"]["ModelCheckpoint"] = Payload(marker)
    path = folder / f"evil-{method}-{kind}"
    if kind == "legacy.pt":
        torch.save(content, path, _use_new_zipfile_serialization=False)
    elif kind == "pickle.ckpt":
        path.write_bytes(pickle.dumps(content))
    else:
        torch.save(content, path)
    return path, marker


def _assert_refused(code: int, capsys, path: Path, marker: Path) -> None:
    err = capsys.readouterr().err
    assert code != 0
    assert not marker.exists(), "the payload ran"
    lines = [line for line in err.splitlines() if line.strip() and "warning" not in line]
    assert len(lines) == 1 and str(path) in lines[0], err
    assert "weights_only" not in err and "Traceback" not in err


def _recording(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    count = 3000
    path = folder / "rec.npz"
    np.savez(
        path,
        t=np.sort(rng.integers(0, 50_000, count)).astype(np.int64),
        x=rng.integers(0, 32, count),
        y=rng.integers(0, 24, count),
        p=rng.choice([-1, 1], count),
        width=32,
        height=24,
    )
    return path


def _frames(folder: Path) -> Path:
    frames = folder / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:05d}.png"), np.roll(image, i, axis=1))
    return frames


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("method", "source"), [("evlayerseg", "events"), ("em", "video")])
def test_segment_refuses_a_planted_checkpoint(kind, method, source, tmp_path, capsys):
    path, marker = plant(tmp_path, kind, method)
    source_path = _recording(tmp_path) if source == "events" else _frames(tmp_path)
    out = str(tmp_path / "out")
    code = cli_main.main(["segment", str(source_path), "-o", out, "--checkpoint", str(path)])
    _assert_refused(code, capsys, path, marker)


def _train(tmp_path: Path, *extra: str) -> int:
    args = ["train", "em", "--config", "em-tiny", "--max-steps", "1", "--no-progress"]
    return cli_main.main([*args, "-o", str(tmp_path / "run"), *extra])


@pytest.mark.parametrize("kind", KINDS)
def test_train_init_from_refuses_a_planted_model(kind, tmp_path, capsys):
    path, marker = plant(tmp_path, kind)
    _assert_refused(_train(tmp_path, "--init-from", str(path)), capsys, path, marker)
    assert not (tmp_path / "run").exists()  # refused before anything is written


@pytest.mark.parametrize("kind", KINDS)
def test_train_resume_refuses_a_planted_checkpoint(kind, tmp_path, capsys):
    path, marker = plant(tmp_path, kind)
    _assert_refused(_train(tmp_path, "--resume", str(path)), capsys, path, marker)
    assert not (tmp_path / "run").exists()


def test_a_planted_last_checkpoint_in_the_output_folder_is_not_resumed(tmp_path, capsys):
    path, marker = plant(tmp_path, "lightning.ckpt")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    path.rename(last)
    _assert_refused(_train(tmp_path), capsys, last, marker)


def test_a_recipe_teacher_is_read_safely(tmp_path, capsys):
    path, marker = plant(tmp_path, "weights.pt", "evlayerseg")
    args = ["train", "evlayerseg", "--config", "evlayerseg-tiny", "--max-steps", "1"]
    args += ["-o", str(tmp_path / "run"), "--set", f"data.teacher={path}"]
    args += ["--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "model.target_mask_weight=1"]
    _assert_refused(cli_main.main(args), capsys, path, marker)


@pytest.mark.parametrize("kind", KINDS)
def test_python_loaders_refuse_a_planted_file(kind, tmp_path):
    em, em_marker = plant(tmp_path, kind, "em")
    events, events_marker = plant(tmp_path, kind, "evlayerseg")
    calls = [
        lambda: weights.safe_load(em),
        lambda: weights.read_trained_model(em),
        lambda: weights.read_checkpoint(em),
        lambda: weights.init_from(EMMethod(**TINY_EM), em),
        lambda: load_em_model(em),
        lambda: build_predictor(2, weights=em),
        lambda: export_weights(em, tmp_path / "exported.pt"),
        lambda: load_evlayerseg_model(events),
        lambda: get_method("evlayerseg", checkpoint=events),
        lambda: export_event_weights(events, tmp_path / "exported.pt"),
    ]
    for call in calls:
        with pytest.raises(InputError, match="refused") as error:
            call()
        assert error.value.__cause__ is None and "weights_only" not in str(error.value)
    assert not em_marker.exists() and not events_marker.exists()
    assert not (tmp_path / "exported.pt").exists()


def test_a_planted_targets_cache_entry_is_ignored(tmp_path):
    path, marker = plant(tmp_path, "weights.pt")
    assert _read_cached(path) is None and not marker.exists()
    good = tmp_path / "good.pt"
    torch.save({"masks": torch.zeros(2, 4, 4), "theta": torch.zeros(2, 2, 3)}, good)
    assert _read_cached(good)["theta"].shape == (2, 2, 3)


def test_refusal_names_the_import_and_never_advises_unsafe_loading(tmp_path):
    path, _ = plant(tmp_path, "weights.pt")
    with pytest.raises(InputError) as error:
        weights.safe_load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a motionlayers checkpoint or needs code to load")
    assert "open" in message and message.endswith(": refused")
    junk = tmp_path / "junk.ckpt"
    for content in (b"", b"PK\x03\x04 torn", bytes(range(256)) * 4):
        junk.write_bytes(content)
        with pytest.raises(InputError, match=r"junk\.ckpt: .*not a motionlayers checkpoint") as e:
            weights.safe_load(junk)
        assert "weights_only" not in str(e.value)
    with pytest.raises(InputError, match="is a folder"):
        weights.safe_load(tmp_path)


def test_genuine_files_still_load(tmp_path):
    torch.manual_seed(0)
    em = export_weights(EMMethod(**TINY_EM), tmp_path / "em.pt", meta={"steps": 3})
    assert load_em_model(em).weights_meta == {"steps": 3}
    ckpt = tmp_path / "em.ckpt"
    torch.save(_lightning_like(EMMethod(**TINY_EM), TINY_EM), ckpt)
    assert load_em_model(ckpt).hparams["layers"] == 2
    assert weights.read_checkpoint(ckpt)["global_step"] == 1
    with pytest.raises(InputError, match="--init-from"):
        weights.read_checkpoint(em)  # a weights file has no optimiser state to resume
    events = export_event_weights(EVLayerSegMethod(**TINY_EVENTS), tmp_path / "ev.pt")
    assert load_evlayerseg_model(events).hparams["bins"] == 3
    with pytest.raises(InputError, match="not an EV-LayerSegNet.*'em'"):
        load_evlayerseg_model(em)
    with pytest.raises(InputError, match="not an EM checkpoint or weights file"):
        load_em_model(events)


def test_lightning_reads_the_resumed_checkpoint_weights_only_too(tmp_path, monkeypatch):
    """Were our check bypassed (the file swapped after it), Lightning's own read refuses."""
    from motionlayers.methods import train as train_module

    path, marker = plant(tmp_path, "lightning.ckpt")
    monkeypatch.setattr(train_module, "_check_resume", lambda path, module: 1)
    with pytest.raises(pickle.UnpicklingError):
        _train(tmp_path, "--resume", str(path), "--set", "data.train_length=8")
    assert not marker.exists()
