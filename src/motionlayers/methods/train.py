"""Training a registered method from a recipe with a Lightning Trainer.

Writes under ``out``: ``config.yaml`` (the resolved recipe), ``checkpoints/last.ckpt`` and
``checkpoints/best-*.ckpt`` (lowest ``val_loss``; model selection needs no labels), and CSV logs
in ``logs/``. A ``last.ckpt`` already in ``out`` is resumed from automatically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset, random_split

from motionlayers.data.folders import FlowFolderDataset
from motionlayers.errors import InputError
from motionlayers.methods.weights import init_from


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
        backend=data.get("backend", "dis-medium"),
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
    one (`MethodSpec.datasets`, e.g. event windows), else flows ``{"flow": (2, H, W)}``."""
    from motionlayers.methods import get_method

    spec = get_method(str(config.get("method", "em")))
    if spec.datasets is not None:
        return spec.datasets(config)
    data, seed = config["data"], int(config.get("seed", 0))
    if str(data.get("source", "synthetic")) == "synthetic":
        train, val = synthetic_datasets(data, seed)
    else:
        train, val = folder_datasets(data, seed)
    return FlowItems(train), FlowItems(val)


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
) -> L.LightningModule:
    """Train ``config["method"]`` on its data; returns the trained module (last state).

    Args:
        config: a resolved recipe (see `motionlayers.methods.config`).
        out: output folder (checkpoints, logs, resolved config).
        resume: checkpoint to resume from; default ``out/checkpoints/last.ckpt`` if present.
        init: a trained model (weights file or checkpoint) to start a new run from: tensors
            whose names and shapes match are copied (`weights.init_from`); ignored when the run
            resumes. Default ``config["init_from"]``.
        devices, accelerator: passed to the Trainer; several devices use DDP.
        datasets: ``(train, val)`` to use instead of ``config["data"]`` (tests, notebooks).
        progress: show the progress bar.
    """
    from motionlayers.methods import get_method

    method = get_method(str(config.get("method", "em")))
    init = init if init is not None else config.get("init_from")
    if init is not None and not Path(init).is_file():  # before any flow is computed
        raise InputError(init, "model to initialise from does not exist")
    out = Path(out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    L.seed_everything(int(config.get("seed", 0)), workers=True, verbose=False)
    train_set, val_set = datasets if datasets is not None else build_datasets(config)
    data, trainer_cfg = config["data"], dict(config.get("trainer", {}))
    loader_args: dict[str, Any] = dict(
        batch_size=int(data.get("batch_size", 8)), num_workers=int(data.get("num_workers", 0))
    )
    train_loader = DataLoader(train_set, shuffle=True, drop_last=False, **loader_args)
    val_loader = DataLoader(val_set, shuffle=False, **loader_args)
    model_args = dict(config.get("model", {}))
    model_args.setdefault("seed", int(config.get("seed", 0)))
    module = method.module(**model_args)
    last = out / "checkpoints" / "last.ckpt"
    ckpt_path = Path(resume) if resume is not None else (last if last.is_file() else None)
    if ckpt_path is not None and not ckpt_path.is_file():
        raise InputError(ckpt_path, "checkpoint to resume from does not exist")
    if init is not None and ckpt_path is None:
        fresh = init_from(module, init)
        print(f"initialised from {init}; fresh: {', '.join(fresh) or 'none'}")
    interval = min(int(trainer_cfg.pop("val_check_interval", 1000)), len(train_loader))
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
    trainer = L.Trainer(
        default_root_dir=out,
        accelerator=accelerator,
        devices=devices,
        strategy="ddp" if devices_count > 1 else "auto",
        max_steps=int(trainer_cfg.pop("max_steps", 1000)),
        val_check_interval=interval,
        callbacks=[best, latest] + ([TQDMProgressBar()] if progress else []),
        logger=CSVLogger(out, name="logs"),
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **trainer_cfg,
    )
    trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
    trainer.save_checkpoint(last)  # the steps since the last periodic save
    return module
