"""EV-LayerSegNet (Farah et al., CVPRW 2025): self-supervised motion layers from event deblurring.

Training step, for a batch of windows of N events each::

    v          = representation(events)                  (voxel grid or ON/OFF counts)
    logits, th = net(v / mean|v|)                        (nets.EVLayerSegNet; th in px/window)
    m          = softmax(logits)                         (K soft masks)
    w_k(e)     = m_k(x_e, y_e)                           (mask read at each event's pixel)
    L          = deblur(events warped by th_k, weighted by w_k)  + lambda_H entropy(w)
                                                         + lambda_A area_imbalance(w)
                                                         + lambda_S smoothness(sum_k m_k th_k)
    net        <- Adam step on L                         (see losses.layered_events)

The motion of a layer is an affine model (6 parameters, basis ``[1, x, y]`` at normalised pixel
centres) in **pixels per window**: event times are fractions of the window (0 at its first event,
1 at its last), so the same network serves windows of any duration; divide by the window's
duration for pixels per second. Inference (`segment_window`) needs no loss: masks and motions
come out of one forward pass, optionally refined on the window by motion-compensation EM.

Defaults, chosen by measurement on simulated windows (textured background, 1-2 objects, affine
ground truth from `motionlayers.data.events`):

- **window size** (96 x 96, 6 scenes): at 1 event per pixel (10 000 events, 1-5 px of motion)
  bilinear splatting blurs sub-pixel warps more than the motion sharpens them and *zero* motion
  scores better than the true one under both objectives; at 3.3 events per pixel (4-15 px) the
  true motion is the minimum of both; hence ``events_per_pixel = 3``.
- **objective** (same scenes): with the true motions and true masks, the seed code's
  average-timestamp loss (``"timestamp"``) is lower than with one motion for every event, the
  motions swapped or zero motion in 6/6 scenes, and lower than with masks optimised freely per
  pixel in 3/3 (e.g. 0.65 vs 0.78). The multi-reference focus loss (``"focus"``) prefers the
  object's motion for every event in 1/6 scenes and per-pixel optimised masks to the true ones
  in 3/3 (e.g. 0.40 vs 0.59): it rewards collapsing events.
- **timestamp normalisation** (64 x 64 windows of 12 288 events, one object, true motions,
  masks from the event labels, 4 windows): the seed code's per-pixel normalisation
  (``timestamp_normalise="pixels"``) jumps from 0.72 with one-hot masks to 0.95 with masks
  0.99/0.01, above zero motion (0.81): soft masks are penalised (training collapsed to one
  layer); the count-weighted form (``"count"``, the default) gives 1.078 / 1.078 / 1.079 for
  one-hot / 0.99 / 0.9 masks, below zero motion (1.209) and swapped motions (1.245); same
  order in 4/4 windows. The measurements of the objective and mixing above and below predate
  it (``"pixels"``).
- **mixing and regularisers** (64 x 64, width 16, 800 training / 32 held-out windows, Adam 1e-3,
  batch 8, 300-600 steps; held-out deblur loss / IoU / object IoU / EPE px per window):
  ``split`` 0.875 / 0.40 / 0.17 / 4.2; split + entropy 0.05 + area 0.05: 0.873 / 0.38 / 0.17
  / 4.6; ``flow`` mixing: 0.854 / 0.37 / 0.15 / 7.5; ``focus``: collapses to zero motion
  (1.000 / 0.36 / 0.00 / 4.5). References on the same windows: true masks and motions 0.724,
  background motion everywhere 0.771, zero motion 0.820, one layer everywhere IoU 0.36 / 0.00.
  So: ``timestamp``, ``split``, no regulariser (they are there as options, as are the seed
  code's ``hard`` mixing and flow smoothness).
- **after the count normalisation** (same protocol, 32 held-out windows, 600-2000 steps):
  ``split`` 1.122 / 0.36 / 0.15 / 4.6 at 2000 steps; ``hard`` + smoothness 0.001: 1.138 / 0.34 /
  0.09 / 4.9; smoothness 0.01: 1.142 / 0.35 / 0.05 / 4.9. References (count normalisation): true
  masks and motions 1.077, background motion everywhere 1.102, zero motion 1.215; one layer
  everywhere IoU 0.36. No variant collapses to one layer any more, but none learns even the
  dominant motion (every loss stays above 1.102): the motion regression is the open problem, not
  the masks. Cause: the motion head saturated (tanh on unnormalised features, one constant
  motion per layer for every window; see `motionlayers.nets.evlayerseg`).
- **normalised motion head** (group norm, LayerNorm, leaky ReLU; same protocol, ``split``):
  1.129 / 0.40 / 0.17 / 4.3 at 600 steps, 1.098 / 0.42 / 0.18 / 3.4 at 2000 (still falling;
  detection rate 0), the first run below the background-motion reference; motions now vary
  across windows (relative spread 0.64, was 1e-8). Group norm in the trunk as well
  (``norm: group``) fell back to constant motions (spread 0.003 at 600 steps, 1.131). Continued
  to 5300 steps (recipe ``evlayerseg-small``), the best validation loss (1.092, step 4300) is the
  shipped ``evlayerseg-default.pt`` then: IoU 0.43, detection rate 0 on the simulated benchmark
  for the network alone, 0.59 and 0.52 with ``segment``'s refinement.
- **self-training** (recipe ``evlayerseg-selftrain``, `motionlayers.methods.teacher_targets`):
  that model fine-tuned for 1000 steps (Adam 3e-4) on its 800 training windows with, next to the
  deblurring loss, the cross-entropy of its masks to its own answers refined on each window
  (``segment --refine 10``) and an L1 pull (weight 0.1) towards the refined motions. IoU on 60
  development sequences, network alone / refined (before: 0.409 / 0.594): cross-entropy weight 1:
  0.535 / 0.612; 3: 0.552 / 0.614; 10: 0.553 / 0.596. The refinement's global translation search
  starts from the network's object mask, so a better mask finds the object's contrast peak more
  often: the gains compound (with the earlier refinement, EM alone, they did not: 0.486 -> 0.496).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import Dataset

from motionlayers.data.events import (
    REPRESENTATIONS,
    EventFolderDataset,
    SyntheticEventDataset,
    find_recordings,
    window_item,
)
from motionlayers.defaults import DEFAULT_REFINE_ITERATIONS, SHIPPED_MODELS
from motionlayers.errors import InputError, ShapeError
from motionlayers.events.compensation import refine_window
from motionlayers.io.event_container import Events
from motionlayers.losses.layered_events import MIXINGS, OBJECTIVES, LayeredDeblurLoss
from motionlayers.losses.targets import mask_cross_entropy, motion_l1
from motionlayers.methods.teacher_targets import RefinedTargets
from motionlayers.methods.weights import build_trained, trained_layers, write_weights
from motionlayers.nets.evlayerseg import EVLayerSegNet

__all__ = [
    "DEFAULT_WEIGHTS",
    "EVLayerSegMethod",
    "EventPredictor",
    "build_event_datasets",
    "build_predictor",
    "export_weights",
    "load_evlayerseg_model",
    "normalise_events_input",
]


def normalise_events_input(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` representation divided by the mean magnitude of its non-zero entries
    (per sample), so that the input does not depend on the event density."""
    magnitude = x.abs()
    count = (magnitude > 0).flatten(1).sum(1).clamp_min(1)
    scale = (magnitude.flatten(1).sum(1) / count).clamp_min(1e-6)
    return x / scale[:, None, None, None]


class EVLayerSegMethod(L.LightningModule):
    """EV-LayerSegNet as a LightningModule; every argument is a saved hyperparameter.

    Args:
        layers: K, the number of motion layers.
        net: keyword arguments of `motionlayers.nets.evlayerseg.EVLayerSegNet` (width, depth,
            residual_blocks, flow_convs, hidden, pool, norm, flow_scale).
        representation, bins: network input (``"voxel"`` with ``bins`` bins, or ``"counts"``).
        events_per_pixel: window size the model is trained for, in events per sensor pixel
            (training windows and the default windows of ``motionlayers segment``).
        objective, references, focus_kind, mixing, timestamp_normalise: the deblurring loss,
            see `motionlayers.losses.layered_events` (mixing ``"split"``, ``"flow"`` or
            ``"hard"``; ``timestamp_normalise`` ``"count"``, continuous in the masks, or
            ``"pixels"``, the seed code's).
        entropy_weight, area_weight: weights of the mask regularisers.
        smoothness_weight: weight of the Charbonnier smoothness of the per-pixel flow.
        target_mask_weight, target_motion_weight: self-training; weights of the cross-entropy
            of the masks to ``batch["target_masks"]`` and of the L1 distance of the motions to
            ``batch["target_theta"]`` (`motionlayers.losses.targets`), when the batch has them
            (`motionlayers.methods.teacher_targets.RefinedTargets`, recipe ``data.teacher``).
        lr: Adam learning rate.
        seed: kept for the recipe's record (the data carry their own seeds).
    """

    def __init__(
        self,
        layers: int = 2,
        net: dict[str, Any] | None = None,
        representation: str = "voxel",
        bins: int = 5,
        events_per_pixel: float = 3.0,
        objective: str = "timestamp",
        references: tuple[float, ...] | list[float] = (0.0, 0.5, 1.0),
        focus_kind: str = "variance",
        mixing: str = "split",
        entropy_weight: float = 0.0,
        area_weight: float = 0.0,
        smoothness_weight: float = 0.0,
        timestamp_normalise: str = "count",
        target_mask_weight: float = 0.0,
        target_motion_weight: float = 0.0,
        lr: float = 2e-4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if representation not in REPRESENTATIONS:
            raise InputError("representation", f"unknown {representation!r}: {REPRESENTATIONS}")
        if objective not in OBJECTIVES or mixing not in MIXINGS:
            raise InputError("objective", f"choose objective from {OBJECTIVES}, mixing {MIXINGS}")
        if events_per_pixel <= 0:
            raise InputError("events_per_pixel", f"must be positive, got {events_per_pixel}")
        channels = int(bins) if representation == "voxel" else 2
        self.net = EVLayerSegNet(in_channels=channels, layers=layers, **(net or {}))
        self.loss = LayeredDeblurLoss(
            "affine",
            objective,
            references,
            focus_kind,
            entropy_weight,
            area_weight,
            mixing,
            smoothness_weight,
            timestamp_normalise,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masks (B, K, H, W), theta (B, K, 2, 3) px/window)`` of ``x`` ``(B, C, H, W)``."""
        if x.ndim != 4:
            raise ShapeError(f"input: expected (B, C, H, W), got {tuple(x.shape)}")
        logits, theta = self.net(normalise_events_input(x))
        return torch.softmax(logits, dim=1), theta

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        masks, theta = self(batch["input"].float())
        loss, terms = self.loss(masks, theta, batch["events"].float())
        if "target_masks" in batch:  # self-training (RefinedTargets)
            mask_term = mask_cross_entropy(masks, batch["target_masks"].float())
            motion_term = motion_l1(theta, batch["target_theta"].float())
            hp = self.hparams
            loss = (
                loss
                + hp["target_mask_weight"] * mask_term
                + hp["target_motion_weight"] * motion_term
            )
            terms = {
                **terms,
                "target_masks": mask_term.detach(),
                "target_motion": motion_term.detach(),
            }
        size = int(batch["input"].shape[0])
        sync = stage == "val"
        self.log(f"{stage}_loss", loss, prog_bar=True, batch_size=size, sync_dist=sync)
        for name, value in terms.items():
            self.log(f"{stage}_{name}", value, batch_size=size, sync_dist=sync)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])

    def window_size(self, sensor_size: tuple[int, int]) -> int:
        """Default events per window on a sensor of ``(W, H)``: ``events_per_pixel * W * H``."""
        per_pixel = float(self.hparams["events_per_pixel"])
        return max(2, round(per_pixel * sensor_size[0] * sensor_size[1]))

    @torch.no_grad()
    def segment_window(
        self, events: Events, refine_iterations: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks ``(K, H, W)`` and affine motions ``(K, 2, 3)`` in pixels per window (from the
        window's first to its last event) of one window of events, on the model's device.

        ``refine_iterations > 0`` refines the network's answer on this window: a global search
        of each layer's translation, then that many motion-compensation EM iterations, twice
        (`motionlayers.events.compensation.refine_window`, Stoffregen et al. 2019): slower, and
        more accurate on the simulated benchmark."""
        hp = self.hparams
        item = window_item(events, hp["representation"], int(hp["bins"]))
        return self.refined_answer(item["input"], item["events"], refine_iterations)

    @torch.no_grad()
    def refined_answer(
        self, x: torch.Tensor, events: torch.Tensor, refine_iterations: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`segment_window` on a window already made an item (`window_item`): its input ``x``
        ``(C, H, W)`` and events ``(N, 4)`` rows ``x, y, t, p`` (``t`` in ``[0, 1]``); masks
        ``(K, H, W)`` and motions ``(K, 2, 3)`` on the model's device. Also the self-training
        targets' teacher (`motionlayers.methods.teacher_targets`), so that they are exactly
        what ``segment`` would answer."""
        was_training = self.training
        self.eval()
        try:
            masks, theta = self(x[None].float().to(self.device))
            masks, theta = masks[0], theta[0]
            if refine_iterations > 0:
                ex, ey, et, _ = events.double().to(self.device).unbind(-1)
                masks, theta = refine_window(ex, ey, et, masks, theta, iterations=refine_iterations)
            return masks, theta
        finally:
            self.train(was_training)


DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / SHIPPED_MODELS["evlayerseg"][2]
"""Where the shipped default model goes (`export_weights` of a ``train`` checkpoint)."""


def export_weights(
    checkpoint: str | Path | EVLayerSegMethod,
    out: str | Path,
    meta: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write a checkpoint's network as a small weights file (no optimiser state), in the
    project's weights format ``{"format", "method", "hparams", "state_dict", "meta"}``, floats
    as float16 when ``half``; atomically. Read back by `load_evlayerseg_model`."""
    model = (
        checkpoint
        if isinstance(checkpoint, EVLayerSegMethod)
        else load_evlayerseg_model(checkpoint)
    )
    return write_weights(model, "evlayerseg", out, meta, half)


def load_evlayerseg_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> EVLayerSegMethod:
    """An `EVLayerSegMethod` (eval mode, on ``map_location``) from a Lightning checkpoint
    written by ``train`` or a weights file written by `export_weights`, read safely (a file
    that would run code is refused: `motionlayers.methods.weights.safe_load`)."""
    model, _ = build_trained(path, EVLayerSegMethod, "evlayerseg", "EV-LayerSegNet")
    return model.to(map_location).eval()


class EventPredictor:
    """EV-LayerSegNet as a registered predictor (`motionlayers.methods.registry`): a batch of
    event windows -> masks ``(B, K, H, W)`` and affine motions ``(B, K, 2, 3)`` in pixels per
    window, each window refined by ``refine_iterations`` motion-compensation EM iterations per
    round (0: the network's single pass; see `EVLayerSegMethod.segment_window`)."""

    def __init__(self, model: EVLayerSegMethod, refine_iterations: int):
        self.model = model
        self.refine_iterations = refine_iterations

    def window_size(self, sensor_size: tuple[int, int]) -> int:
        """Default events per window on a sensor of ``(W, H)`` (what the model was trained on)."""
        return self.model.window_size(sensor_size)

    def __call__(self, windows: list[Events]) -> tuple[torch.Tensor, torch.Tensor]:
        answers = [self.model.segment_window(w, self.refine_iterations) for w in windows]
        return torch.stack([m for m, _ in answers]), torch.stack([t for _, t in answers])


def build_predictor(
    layers: int,
    device: str = "cpu",
    weights: str | Path | None = None,
    refine_iterations: int = DEFAULT_REFINE_ITERATIONS,
) -> EventPredictor:
    """The registry's builder: the model in ``weights`` (a checkpoint or the shipped model) on
    ``device``."""
    if refine_iterations < 0:
        raise InputError("--refine", f"must be >= 0, got {refine_iterations}")
    model = load_evlayerseg_model(weights or DEFAULT_WEIGHTS, map_location=device)
    trained_layers(model, layers, Path(weights or DEFAULT_WEIGHTS).name)
    return EventPredictor(model, refine_iterations)


def build_event_datasets(config: dict[str, Any]) -> tuple[Dataset, Dataset]:
    """``(train, val)`` windows for a recipe: ``data.source`` ``"synthetic"`` (simulated on the
    fly, validation on other seeds; cached under ``data.cache_dir`` when set) or a folder of
    recordings (``motionlayers synth events`` output or event files; split by recording,
    ``val_fraction``, seeded).

    The windows hold ``model.events_per_pixel * height * width`` events (``data.window_events``
    overrides it) in the representation of ``model``.

    Self-training: with ``data.teacher`` (a trained EV-LayerSegNet: checkpoint or weights
    file), every window also carries the teacher's answer refined on it
    (``data.teacher_refine`` EM iterations per round, default 10), cached under
    ``data.targets_dir`` (default ``data.cache_dir``); see
    `motionlayers.methods.teacher_targets`. The model learns from them with
    ``model.target_mask_weight`` and ``model.target_motion_weight``.
    """
    data, model = config["data"], config.get("model", {})
    if data.get("teacher") is None:
        if model.get("target_mask_weight") or model.get("target_motion_weight"):
            raise InputError(
                "data.teacher",
                "the recipe weighs targets (model.target_*_weight) but names no "
                "teacher: give --set data.teacher=MODEL",
            )
        return _window_datasets(config)
    train, val = _window_datasets(config)
    cache = data.get("targets_dir") or data.get("cache_dir")
    if cache is None:
        raise InputError(
            "data.teacher",
            "self-training needs data.targets_dir or data.cache_dir (seconds "
            "of refinement per window, cached)",
        )
    teacher = load_evlayerseg_model(data["teacher"])
    wanted = (model.get("representation", "voxel"), int(model.get("bins", 5)))
    found = (teacher.hparams["representation"], int(teacher.hparams["bins"]))
    if wanted != found:
        raise InputError(
            data["teacher"],
            f"teacher reads {found[0]} input with {found[1]} bins, the "
            f"recipe's model {wanted[0]} with {wanted[1]}",
        )
    refine = int(data.get("teacher_refine", 10))
    return (
        RefinedTargets(train, teacher, cache, refine),
        RefinedTargets(val, teacher, cache, refine),
    )


def _window_datasets(config: dict[str, Any]) -> tuple[Dataset, Dataset]:
    """``(train, val)`` windows of a recipe, without targets (see `build_event_datasets`)."""
    data, model, seed = config["data"], config.get("model", {}), int(config.get("seed", 0))
    representation, bins = model.get("representation", "voxel"), int(model.get("bins", 5))
    height, width = int(data.get("height", 128)), int(data.get("width", 128))
    per_pixel = float(model.get("events_per_pixel", 3.0))
    count = int(data.get("window_events") or round(per_pixel * height * width))
    objects = tuple(data.get("objects", (1, 2)))
    if str(data.get("source", "synthetic")) == "synthetic":
        common: dict[str, Any] = dict(
            height=height,
            width=width,
            objects=objects,
            window_events=count,
            duration_ms=float(data.get("duration_ms", 100.0)),
            fps_render=float(data.get("fps_render", 1000.0)),
            max_speed=float(data.get("max_speed", 300.0)),
            representation=representation,
            bins=bins,
            cache_dir=data.get("cache_dir"),
        )
        train = SyntheticEventDataset(int(data["train_length"]), seed=seed, **common)
        val = SyntheticEventDataset(int(data["val_length"]), seed=seed + 1_000_003, **common)
        return train, val
    recordings = find_recordings(data["source"])
    folder: dict[str, Any] = dict(
        window_events=count,
        representation=representation,
        bins=bins,
        sensor_size=data.get("sensor_size"),
        layers=objects[1] + 1,
    )
    if len(recordings) < 2:
        raise InputError(data["source"], "needs at least two recordings (train and validation)")
    order = torch.randperm(len(recordings), generator=torch.Generator().manual_seed(seed))
    val_count = min(
        len(recordings) - 1, max(1, round(len(recordings) * float(data.get("val_fraction", 0.1))))
    )
    val_paths = [recordings[int(i)] for i in order[:val_count]]
    train_paths = [p for p in recordings if p not in val_paths]
    root = data["source"]
    return (
        EventFolderDataset(root, recordings=train_paths, **folder),
        EventFolderDataset(root, recordings=val_paths, **folder),
    )
