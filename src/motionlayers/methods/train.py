"""Training a registered method from a recipe with a Lightning Trainer.

Writes under ``out``: ``config.yaml`` (the resolved recipe), ``checkpoints/last.ckpt`` and
``checkpoints/best-*.ckpt`` (lowest ``val_loss``; model selection needs no labels), and CSV (or
TensorBoard) logs in ``logs/``. A ``last.ckpt`` already in ``out`` is resumed from
automatically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from importlib.util import find_spec
from inspect import signature
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset, random_split

from motionlayers.data.folders import FlowFolderDataset
from motionlayers.defaults import DEFAULT_FLOW_BACKEND
from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path
from motionlayers.methods.weights import init_from, read_checkpoint


class FlowItems(Dataset):
    """View of any dataset of dicts holding ``"flow"`` ``(2, H, W)``: float32 tensors, plus
    ``"labels"`` ``(H, W)`` int64 when the source has them."""

    def __init__(self, source: Dataset):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.source[index]
        out = {"flow": torch.as_tensor(item["flow"], dtype=torch.float32)}
        if "labels" in item:
            out["labels"] = torch.as_tensor(item["labels"]).long()
        return out


def synthetic_datasets(data: dict[str, Any], seed: int) -> tuple[Dataset, Dataset]:
    """Train and held-out validation sets from `motionlayers.data.SyntheticFlowDataset`."""
    try:
        from motionlayers.data import SyntheticFlowDataset
    except ImportError as error:
        raise InputError(
            "--data",
            "synthetic data needs motionlayers.data.SyntheticFlowDataset, "
            "which is not available; give a folder instead",
        ) from error
    size: dict[str, Any] = dict(
        height=int(data["height"]),
        width=int(data["width"]),
        layers=int(data.get("synthetic_layers", 2)),
    )
    train = SyntheticFlowDataset(length=int(data["train_length"]), seed=seed, **size)
    val = SyntheticFlowDataset(length=int(data["val_length"]), seed=seed + 1_000_003, **size)
    return train, val


def folder_datasets(data: dict[str, Any], seed: int) -> tuple[Dataset, Dataset]:
    """A `FlowFolderDataset` split into train and validation (``val_fraction``, seeded)."""
    full = FlowFolderDataset(
        data["source"],
        size=(int(data["height"]), int(data["width"])),
        backend=data.get("backend", DEFAULT_FLOW_BACKEND),
        cache_dir=data.get("cache_dir"),
    )
    if len(full) < 2:
        raise InputError(data["source"], "needs at least two flows (train and validation)")
    val_count = min(len(full) - 1, max(1, round(len(full) * float(data.get("val_fraction", 0.1)))))
    generator = torch.Generator().manual_seed(seed)
    train, val = random_split(full, [len(full) - val_count, val_count], generator=generator)
    return train, val


def build_datasets(config: dict[str, Any]) -> tuple[Dataset, Dataset]:
    """``(train, val)`` datasets for ``config["data"]``: the method's own builder when it has
    one (`motionlayers.methods.registry.MethodEntry.datasets`, e.g. event windows), else
    flows ``{"flow": (2, H, W)}``."""
    from motionlayers.methods.registry import get_trainable

    builder = get_trainable(str(config.get("method", "em"))).dataset_builder()
    if builder is not None:
        return builder(config)
    data, seed = config["data"], int(config.get("seed", 0))
    if str(data.get("source", "synthetic")) == "synthetic":
        train, val = synthetic_datasets(data, seed)
    else:
        train, val = folder_datasets(data, seed)
    return FlowItems(train), FlowItems(val)


LOGGERS = ("csv", "tensorboard")


def trained_file(name: str | Path, what: str = "model to initialise from") -> Path:
    """A trained model's file: a path, or the name of a model that ships in
    ``motionlayers/weights`` (``em-k4.pt``; a recipe cannot know where the package is).
    ``what`` names the model in the error when it is neither."""
    from motionlayers.methods.registry import WEIGHTS_DIR

    path = Path(name)
    if path.is_file():
        return path
    shipped = WEIGHTS_DIR / path.name
    if path.name == str(name) and shipped.is_file():
        return shipped
    raise InputError(name, f"{what} does not exist (neither a file nor a shipped model)")


def train(
    config: dict[str, Any],
    out: str | Path,
    *,
    resume: str | Path | None = None,
    init: str | Path | None = None,
    devices: int | str = 1,
    accelerator: str = "cpu",
    datasets: tuple[Dataset, Dataset] | None = None,
    progress: bool = True,
    logger: str = "csv",
) -> L.LightningModule:
    """Train ``config["method"]`` on its data; returns the trained module (last state).

    Everything that can be checked is checked before anything is written or any flow computed:
    the recipe (`motionlayers.methods.config.check_config`), the output folder, the
    accelerator, the logger and the checkpoint to resume or initialise from (read safely:
    `motionlayers.methods.weights.safe_load`; Lightning then reads it with
    ``weights_only=True`` too).

    Args:
        config: a resolved recipe (see `motionlayers.methods.config`).
        out: output folder (checkpoints, logs, resolved config).
        resume: checkpoint to resume from; default ``out/checkpoints/last.ckpt`` if present.
        init: a trained model (weights file or checkpoint, or a shipped model's name,
            `trained_file`) to start a new run from: tensors whose names and shapes match are
            copied, 2D kernels into 3D ones by time inflation (`weights.init_from`); ignored
            when the run resumes. Default ``config["init_from"]``.
        devices, accelerator: passed to the Trainer; several devices use DDP.
        datasets: ``(train, val)`` to use instead of ``config["data"]`` (tests, notebooks).
        progress: show the progress bar.
        logger: ``"csv"`` (``out/logs/``) or ``"tensorboard"`` (needs the ``tensorboard``
            extra).
    """
    from motionlayers.methods.config import check_config
    from motionlayers.methods.registry import get_trainable

    name = str(config.get("method", "em"))
    method = get_trainable(name)
    check_config(config, name)
    out = _output_folder(out)
    _check_accelerator(accelerator, devices)
    make_logger = _logger(logger)
    init = init if init is not None else config.get("init_from")
    if init is not None:  # before any flow is computed
        init = trained_file(init)
    model_args = dict(config.get("model") or {})
    model_args.setdefault("seed", int(config.get("seed", 0)))
    L.seed_everything(int(config.get("seed", 0)), workers=True, verbose=False)
    module = method.lightning_module()(**model_args)
    last = out / "checkpoints" / "last.ckpt"
    ckpt_path, start = _starting_point(module, last, resume, init)
    train_set, val_set = datasets if datasets is not None else build_datasets(config)
    if len(train_set) == 0 or len(val_set) == 0:  # type: ignore[arg-type]
        raise InputError("data", "no training or no validation items")
    data, trainer_cfg = config["data"], dict(config.get("trainer") or {})
    loader_args: dict[str, Any] = dict(
        batch_size=int(data.get("batch_size", 8)), num_workers=int(data.get("num_workers", 0))
    )
    train_loader = DataLoader(train_set, shuffle=True, drop_last=False, **loader_args)
    val_loader = DataLoader(val_set, shuffle=False, **loader_args)
    max_steps = int(trainer_cfg.pop("max_steps", 1000))
    interval = min(int(trainer_cfg.pop("val_check_interval", 1000)), len(train_loader))
    trainer = _trainer(
        out, trainer_cfg, max_steps, interval, devices, accelerator, progress, make_logger
    )
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "config.yaml") as partial:
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
    if start is not None:
        print(f"resuming from {ckpt_path} at step {start} (of max_steps {max_steps})")
    trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, **_SAFE_FIT)
    # The steps since the last periodic save; the full state (optimiser included), as they do.
    trainer.save_checkpoint(last, weights_only=False)
    return module


def _trainer(
    out: Path,
    trainer_cfg: dict[str, Any],
    max_steps: int,
    interval: int,
    devices: int | str,
    accelerator: str,
    progress: bool,
    make_logger: Callable[[Path], Any],
) -> L.Trainer:
    """The Lightning Trainer of a run: best and last checkpoints every ``interval`` steps, the
    recipe's other ``trainer`` settings; a setting Lightning refuses is an InputError."""
    best = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best-{step}-{val_loss:.5f}",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
    )
    # Lightning 2.6's save_last only writes last.ckpt when a best checkpoint is written, so a
    # resumed run would lose every step since the last improvement: keep our own last.ckpt,
    # every validation interval and when the run is interrupted (Ctrl-C, SIGTERM).
    latest = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="last",
        every_n_train_steps=interval,
        save_top_k=1,
        enable_version_counter=False,
        save_on_exception=True,
    )
    devices_count = devices if isinstance(devices, int) else 1
    try:
        trainer = L.Trainer(
            default_root_dir=out,
            accelerator=accelerator,
            devices=devices,
            strategy="ddp" if devices_count > 1 else "auto",
            max_steps=max_steps,
            val_check_interval=interval,
            callbacks=[best, latest] + ([TQDMProgressBar()] if progress else []),
            logger=make_logger(out),
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            **trainer_cfg,
        )
    except (MisconfigurationException, ValueError) as error:
        raise InputError("trainer", str(error)) from None
    return trainer


# Lightning >= 2.6 lets `fit` read the checkpoint with torch's weights-only unpickler (older
# versions leave torch's default); the file was read safely by `_check_resume` before anyway.
_SAFE_FIT: dict[str, Any] = (
    {"weights_only": True} if "weights_only" in signature(L.Trainer.fit).parameters else {}
)


def _output_folder(out: str | Path) -> Path:
    """``out`` as a Path, if it is (or can become) a writable folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder: --output names a folder")
    for parent in out.parents:  # the nearest existing folder above it must take new entries
        if parent.exists():
            if not parent.is_dir():
                raise InputError(out, f"cannot create the output folder: {parent} is a file")
            break
    if (out / "config.yaml").exists() and not (out / "checkpoints").is_dir():
        raise InputError(
            out / "config.yaml",
            "exists and was not written by motionlayers train (no checkpoints/ beside it); "
            "it is never replaced: choose another --output",
        )
    existing = out if out.exists() else next(p for p in out.parents if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(out, f"cannot write the output folder ({existing} is not writable)")
    return out


def _check_accelerator(accelerator: str, devices: int | str) -> None:
    """A GPU asked for must be there (Lightning's own error is a traceback)."""
    if accelerator not in ("cpu", "gpu", "cuda", "mps", "auto"):
        raise InputError("--accelerator", f"unknown {accelerator!r}; choose from cpu, gpu, auto")
    if accelerator in ("gpu", "cuda"):
        from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

        count = CUDAAccelerator.auto_device_count() if CUDAAccelerator.is_available() else 0
        if not count and accelerator == "gpu" and MPSAccelerator.is_available():
            count = 1
        if not count:
            raise InputError(
                "--accelerator", f"{accelerator}: no GPU is available here; use --accelerator cpu"
            )
        if isinstance(devices, int) and devices > count:
            raise InputError("--devices", f"{devices} asked, {count} GPU(s) available")


def _logger(name: str) -> Callable[[Path], Any]:
    """A function of the output folder making the Lightning logger ``name`` (`LOGGERS`)."""
    if name == "csv":
        return lambda out: CSVLogger(out, name="logs")
    if name != "tensorboard":
        raise InputError("--logger", f"unknown {name!r}; choose from {LOGGERS}")
    if find_spec("tensorboard") is None and find_spec("tensorboardX") is None:
        raise InputError(
            "--logger",
            "tensorboard needs the TensorBoard package: pip install 'motionlayers[tensorboard]'",
        )
    from lightning.pytorch.loggers import TensorBoardLogger

    return lambda out: TensorBoardLogger(out, name="logs")


def _starting_point(
    module: torch.nn.Module, last: Path, resume: str | Path | None, init: str | Path | None
) -> tuple[Path | None, int | None]:
    """``(checkpoint to resume from, its step)``: ``resume``, else ``last`` when it exists,
    each checked (`_check_resume`); ``(None, None)`` for a new run, which starts from the
    trained model ``init`` when given (its matching tensors copied into ``module``)."""
    ckpt_path = Path(resume) if resume is not None else (last if last.is_file() else None)
    if ckpt_path is not None:
        return ckpt_path, _check_resume(ckpt_path, module)
    if init is not None:
        fresh = init_from(module, init)
        print(f"initialised from {init}; fresh: {', '.join(fresh) or 'none'}")
    return None, None


def _check_resume(path: Path, module: torch.nn.Module) -> int:
    """The step of the checkpoint ``path`` to resume ``module`` from, read safely; a file that
    does not hold this module's tensors (another recipe, another K) is refused."""
    checkpoint = read_checkpoint(path)
    own, theirs = module.state_dict(), checkpoint["state_dict"]
    for key in sorted(set(own) | set(theirs)):
        mine, stored = own.get(key), theirs.get(key)
        if mine is None or not isinstance(stored, torch.Tensor) or stored.shape != mine.shape:
            raise InputError(
                path,
                f"was trained with other model settings ({key}: {_shape(stored)} there, "
                f"{_shape(mine)} here); resume with the recipe it was trained with, or start a "
                "new run from it with --init-from",
            )
    return int(checkpoint["global_step"])


def _shape(tensor: Any) -> str:
    return "absent" if tensor is None else str(tuple(getattr(tensor, "shape", ())))


def train_seeds(
    config: dict[str, Any], out: str | Path, seeds: int, **options: Any
) -> tuple[int, Path, float]:
    """Train ``seeds`` runs of ``config`` (seeds ``config["seed"]``, +1, ...), each in
    ``out/seed-S`` (each resumes from its own last checkpoint), and keep the lowest validation
    loss (thesis 7.3.2: convergence depends on the initialisation; the published models are the
    best of five seeds). Writes ``out/best.json`` (seed, validation loss, checkpoint) atomically;
    returns ``(seed, checkpoint, val_loss)``. ``options`` go to `train`."""
    if seeds < 1:
        raise InputError("--seeds", f"must be >= 1, got {seeds}")
    out = _output_folder(out)
    first = int(config.get("seed", 0))
    results = []
    for seed in range(first, first + seeds):
        run_dir = out / f"seed-{seed}"
        train({**config, "seed": seed}, run_dir, **options)
        best = best_checkpoint(run_dir / "checkpoints")
        if best is not None:
            results.append((best[1], seed, best[0]))
    if not results:
        raise InputError(out, "no run wrote a best checkpoint (no validation ran)")
    loss, seed, path = min(results)
    record = {
        "seed": seed,
        "val_loss": loss,
        "checkpoint": str(path.relative_to(out)),
        "runs": {f"seed-{s}": v for v, s, _ in sorted(results, key=lambda r: r[1])},
    }
    with atomic_path(out / "best.json") as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    return seed, path, loss


def best_checkpoint(folder: Path) -> tuple[Path, float] | None:
    """The ``best-step=N-val_loss=L.ckpt`` of a run's checkpoint folder and its loss, or None."""
    found = []
    for path in folder.glob("best-*.ckpt"):
        match = re.search(r"val_loss=([0-9.eE+-]+?)(?:-v\d+)?\.ckpt$", path.name)
        if match:
            found.append((float(match.group(1)), path))
    if not found:
        return None
    loss, path = min(found)
    return path, loss
