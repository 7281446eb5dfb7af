"""NIMS (thesis ch. 5): a flow classifier, explained by LRP, picks the salient segments.

Training: `NIMSMethod` fits the frame classifier (`motionlayers.nets.classifier`) to generated
flows with exact frame labels (`motionlayers.data.saliency`: case 1 ``parallax``, case 2
``crowd``) with the binary cross-entropy. Its input is the flow divided by its mean L1 norm (as
the segmentation networks read it: a scale-free input; the thesis feeds raw RAFT flow and, for
crowds, relies on the instance norm for the same purpose). Random flips (which negate the flipped
component) augment the training flows; the norm scales are clamped at 0 after every step, so
that LRP's reordering of the blocks is exact (`motionlayers.nets.lrp`).

Inference (`SaliencyScorer`):

1. ``p(salient)`` of each frame and its LRP attribution ``a (H, W)`` (eq. 5.3-5.4);
2. candidate regions: the connected components of a segmentation (the robust affine layers of
   eq. 5.5, ``elaborate``, or any layered method's labels), or the crowd's ``light`` candidates;
3. the regions scoring above the largest one are salient (`motionlayers.postprocess.saliency`).

As a method (``--method nims``), it gives K = 2 masks: 0 the rest, 1 the salient set; the
foreground rule ``saliency`` (`salient_layers`) applies step 2-3 to any method's layers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.nn import functional as F

from motionlayers.classical.robust import robust_layers
from motionlayers.data.saliency import SALIENCY_KINDS, SaliencyFlowDataset
from motionlayers.errors import InputError
from motionlayers.flow.resize import resize_flow
from motionlayers.methods.em_network import normalise_input
from motionlayers.methods.weights import load_trained, write_weights
from motionlayers.nets.classifier import FlowClassifier, clamp_norm_scales
from motionlayers.nets.lrp import relevance_and_logits
from motionlayers.postprocess.components import connected_components
from motionlayers.postprocess.saliency import MIN_REGION, light_candidates, select_salient

SELECTIONS = ("elaborate", "light")
"""Candidate regions: robust affine layers (eq. 5.5) or the light version for crowds."""
SHIPPED_CLASSIFIER = "nims-parallax.pt"
"""The shipped case-1 classifier (the ``saliency`` foreground rule's default)."""


class NIMSMethod(L.LightningModule):
    """The saliency frame classifier as a LightningModule; every argument is a hyperparameter.

    Args:
        layers: K of the NIMS segmentation (2: the rest and the salient set); fixed.
        net: keyword arguments of `FlowClassifier` (``widths``, ``norm``, ``pool``, ``kernel``).
        selection: ``"elaborate"`` (robust layers, case 1) or ``"light"`` (crowds, case 2): how
            `SaliencyScorer` finds the candidate regions with this classifier.
        input_size: ``[h, w]`` the classifier reads the flow resized to (vectors rescaled);
            None: the flow's own size. At 64x112 the three blocks see a larger share of the
            frame than at 128x224, and the case-1 classifier learned faster (an exploratory
            run on 2026-12-03, not a benchmark: validation accuracy 0.70 after about 1 100
            steps at 64x112, 0.57 after 750 steps at 128x224, where that run was stopped).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        input_norm: ``"mean_l1"`` or ``"none"``.
        flip: random horizontal and vertical flips of the training flows.
        seed: seed of the augmentation's generator.
    """

    def __init__(
        self,
        layers: int = 2,
        net: dict[str, Any] | None = None,
        selection: str = "elaborate",
        input_size: list[int] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        input_norm: str = "mean_l1",
        flip: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if layers != 2:
            raise InputError("layers", f"NIMS segments into K=2 (rest, salient), got {layers}")
        if selection not in SELECTIONS:
            raise InputError("selection", f"unknown {selection!r}; valid: {', '.join(SELECTIONS)}")
        self.net = FlowClassifier(**(net or {}))
        self.weights_meta: dict[str, Any] = {}
        self._generator = torch.Generator().manual_seed(seed)

    def network_input(self, flow: torch.Tensor) -> torch.Tensor:
        """What the classifier reads: flows ``(B, 2, H, W)`` in pixels, resized to
        ``input_size`` and normalised."""
        size = self.hparams["input_size"]
        if size is not None:
            flow = resize_flow(flow.float(), int(size[0]), int(size[1]))
        return normalise_input(flow.float(), self.hparams["input_norm"])

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)`` of flows ``(B, 2, H, W)`` in pixels."""
        return self.net(self.network_input(flow))

    @torch.no_grad()
    def probability(self, flow: torch.Tensor) -> torch.Tensor:
        """``p(salient) (B,)`` of flows ``(B, 2, H, W)`` in pixels (eval mode)."""
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(flow.to(self.device)))
        finally:
            self.train(was_training)

    def _flip(self, flow: torch.Tensor) -> torch.Tensor:
        flip_x, flip_y = (torch.rand(2, generator=self._generator) < 0.5).tolist()
        sign = torch.tensor([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0])
        dims = [d for d, on in ((-1, flip_x), (-2, flip_y)) if on]
        flow = flow.flip(dims) if dims else flow
        return flow * sign.to(flow).view(1, 2, 1, 1)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        flow, label = batch["flow"].float(), batch["label"].float()
        if stage == "train" and self.hparams["flip"]:
            flow = self._flip(flow)
        logit = self(flow)
        loss = F.binary_cross_entropy_with_logits(logit, label)
        accuracy = ((logit > 0).float() == label).float().mean()
        on_epoch = stage == "val"
        size = flow.shape[0]
        self.log(f"{stage}_loss", loss, prog_bar=True, on_epoch=on_epoch, batch_size=size)
        self.log(f"{stage}_accuracy", accuracy, prog_bar=True, on_epoch=on_epoch, batch_size=size)
        return loss

    def on_fit_start(self) -> None:
        self._generator.manual_seed(int(self.hparams["seed"]) + self.global_rank)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        clamp_norm_scales(self.net)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])


def build_saliency_datasets(config: dict[str, Any]) -> tuple[SaliencyFlowDataset, ...]:
    """``(train, val)`` generated saliency flows for a recipe's ``data`` section: ``source``
    (``parallax`` or ``crowd``), ``height``, ``width``, ``train_length``, ``val_length``; the
    validation frames use other seeds than the training ones."""
    data = config["data"]
    kind = str(data.get("source", "parallax"))
    if kind not in SALIENCY_KINDS:
        raise InputError(
            "data.source", f"NIMS trains on generated flows: {', '.join(SALIENCY_KINDS)}"
        )
    seed = int(config.get("seed", 0))
    size = {"height": int(data.get("height", 128)), "width": int(data.get("width", 224))}
    train = SaliencyFlowDataset(kind, int(data["train_length"]), seed=seed, **size)
    val = SaliencyFlowDataset(kind, int(data["val_length"]), seed=seed + 1_000_003, **size)
    return train, val


def export_weights(
    checkpoint: str | Path | NIMSMethod, out: str | Path, meta: dict[str, Any] | None = None
) -> Path:
    """Write a trained classifier as a small weights file (float32: LRP reads its weights'
    signs and sums, so they are kept exact)."""
    model = checkpoint if isinstance(checkpoint, NIMSMethod) else load_nims_model(checkpoint)
    return write_weights(model, "nims", out, meta, half=False)


def load_nims_model(path: str | Path, map_location: str | torch.device = "cpu") -> NIMSMethod:
    """A `NIMSMethod` in eval mode from a checkpoint of `train` or a file of `export_weights`."""
    return load_trained(path, NIMSMethod, "nims", "NIMS", map_location)


class SaliencyScorer:
    """A trained classifier that scores frames and picks salient regions.

    Args:
        model: the trained `NIMSMethod`.
        device: where it runs.
    """

    def __init__(self, model: NIMSMethod, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.selection = str(model.hparams["selection"])

    @property
    def min_region(self) -> float:
        """The size floor of salient regions: none for the light candidates (single agents of
        a few pixels), `MIN_REGION` for segments."""
        return 0.0 if self.selection == "light" else MIN_REGION

    def attribution(self, flow: torch.Tensor) -> torch.Tensor:
        """LRP attributions ``(B, H, W)`` of flows ``(B, 2, H, W)`` in pixels (computed at the
        classifier's input size, then resized bilinearly to the flow's)."""
        return self.attribution_and_probability(flow)[0]

    def attribution_and_probability(self, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attributions ``(B, H, W)`` and ``p(salient) (B,)``, from one LRP pass (its
        forward pass gives the logits)."""
        maps, logits = relevance_and_logits(
            self.model.net, self.model.network_input(flow.to(self.device))
        )
        if maps.shape[-2:] != flow.shape[-2:]:
            maps = F.interpolate(maps[:, None], size=flow.shape[-2:], mode="bilinear")[:, 0]
        return maps, torch.sigmoid(logits)

    def probability(self, flow: torch.Tensor) -> torch.Tensor:
        """``p(salient) (B,)``."""
        return self.model.probability(flow)

    def candidate_regions(self, flow: torch.Tensor, attribution: np.ndarray) -> np.ndarray:
        """``(B, H, W)`` int64 regions of flows ``(B, 2, H, W)``: the connected components of
        the robust affine layers (``elaborate``, eq. 5.5, batched) or the light candidates of
        the attributions ``(B, H, W)`` (``light``)."""
        if self.selection == "light":
            flows = flow.detach().cpu().double().numpy()
            return np.stack([light_candidates(f, a) for f, a in zip(flows, attribution)])
        return robust_layers(flow.detach().float().cpu()).regions.numpy()

    def salient(
        self, flow: torch.Tensor, gate: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Salient sets ``(B, H, W)`` bool, attributions ``(B, H, W)`` and ``p (B,)`` of flows
        ``(B, 2, H, W)`` in pixels, with this classifier's own candidate regions; ``gate``:
        no salient region in the frames it does not call salient (p < 0.5)."""
        maps, probability = self.attribution_and_probability(flow)
        attribution, p = maps.cpu().numpy(), probability.cpu().numpy()
        regions = self.candidate_regions(flow, attribution)
        sets = np.stack(
            [select_salient(r, a, min_region=self.min_region) for r, a in zip(regions, attribution)]
        )
        if gate:
            sets &= (p >= 0.5)[:, None, None]
        return sets, attribution, p


def salient_layers(
    labels: torch.Tensor, flow: torch.Tensor, scorer: SaliencyScorer
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``saliency`` foreground rule on any method's labels (thesis 5.4: ST-MS + LRP).

    The candidate regions are the connected components of each frame's layers; the layer of the
    largest one is the background, and every region that does not score above it joins the
    background (a salient part of the background layer stays background: one layer cannot be
    both).

    Args:
        labels: ``(B, H, W)`` int64 layer labels.
        flow: ``(B, 2, H, W)`` the flows they segment, in pixels.
        scorer: the classifier.

    Returns:
        the labels with the non-salient regions relabelled as the background, and the
        background layer ``(B,)`` int64.
    """
    attribution = scorer.attribution(flow).cpu().numpy()
    out = labels.clone()
    background = torch.zeros(len(labels), dtype=torch.long)
    for t, frame in enumerate(labels.cpu().numpy()):
        regions = connected_components(frame)
        sizes = np.bincount(regions.reshape(-1))
        largest = int(np.argmax(sizes))
        bg = int(frame[regions == largest][0])
        salient = select_salient(regions, attribution[t])
        demote = ~salient & (frame != bg)
        out[t][torch.from_numpy(demote).to(out.device)] = bg
        background[t] = bg
    return out, background.to(labels.device)


@lru_cache(maxsize=4)
def shipped_scorer(path: str | None = None, device: str = "cpu") -> SaliencyScorer:
    """The scorer of the classifier in ``path`` (a file or a shipped classifier's name such as
    ``nims-crowd.pt``; None: the shipped case-1 model), loaded once."""
    from motionlayers.methods.registry import WEIGHTS_DIR
    from motionlayers.methods.weights import require_shipped

    if path is None:
        weights = WEIGHTS_DIR / SHIPPED_CLASSIFIER
        require_shipped(weights, "nims", "motionlayers train nims --config nims-parallax -o OUT")
    else:  # a file, or the name of a shipped classifier (nims-crowd.pt)
        from motionlayers.methods.train import trained_file

        weights = trained_file(path, "saliency classifier")
    return SaliencyScorer(load_nims_model(weights), device)


class NIMSPredictor:
    """``--method nims``: flows ``(B, 2, h, w)`` -> masks ``(B, 2, h, w)`` (1: salient).

    Args:
        scorer: the classifier.
        gate: blank the masks of frames that the classifier does not call salient (p < 0.5).
    """

    def __init__(self, scorer: SaliencyScorer, gate: bool = False):
        self.scorer, self.gate = scorer, gate

    def __call__(self, flow: torch.Tensor) -> torch.Tensor:
        sets, _, _ = self.scorer.salient(flow, self.gate)
        return torch.from_numpy(sets.astype(np.int64)).to(flow.device)


def build_predictor(
    layers: int, device: str, weights: Path | None, gate: bool = False
) -> NIMSPredictor:
    """The registry's builder of ``nims`` (K = 2)."""
    if layers != 2:
        raise InputError("--layers", f"nims segments into K=2 (rest, salient), not {layers}")
    if weights is None:
        raise InputError("nims", "needs a trained classifier (--checkpoint)")
    return NIMSPredictor(SaliencyScorer(load_nims_model(weights), device), gate)


__all__ = [
    "SELECTIONS",
    "SHIPPED_CLASSIFIER",
    "NIMSMethod",
    "NIMSPredictor",
    "SaliencyScorer",
    "build_predictor",
    "build_saliency_datasets",
    "export_weights",
    "load_nims_model",
    "salient_layers",
    "shipped_scorer",
]
