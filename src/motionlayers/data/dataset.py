"""`SyntheticFlowDataset`: an endless supply of layered flows with exact labels, by index."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.data.layered import SynthConfig, generate_sequence
from motionlayers.data.pairs import estimate_flow
from motionlayers.defaults import DEFAULT_FLOW_BACKEND
from motionlayers.errors import InputError

MODES = ("flow", "frames")


class SyntheticFlowDataset(Dataset):
    """Synthetic layered flows; item ``i`` depends only on ``(seed, i)``.

    Args:
        length: number of items.
        height, width: frame size.
        layers: maximum number of layers ``K`` (background + 1 to ``K - 1`` objects).
        seed: base seed.
        mode: ``"flow"`` (exact flow) or ``"frames"`` (textured image pair; ``flow`` is then the
            flow estimated by ``backend`` and ``gt_flow`` the exact one).
        frames: ``T``; when given, items are sequences of ``T`` flows (``(2, T, H, W)``).
        backend: flow backend of the frames mode.
        **options: any other `SynthConfig` field (``min_area``, ``noise_std``, ...).

    Items are dicts of tensors:
        ``flow`` ``(2, H, W)`` float32 (``(2, T, H, W)`` for sequences), ``labels`` ``(H, W)``
        int64 (``(T, H, W)``), ``theta`` ``(K, 2, J)`` float32 padded with zero models up to
        ``K`` layers, ``layers`` the number of real layers, ``exact`` bool like ``labels``; in
        frames mode also ``gt_flow`` and ``frames`` ``(2, 3, H, W)`` uint8 RGB
        (``(T + 1, 3, H, W)``). All items have the same shapes, so the default collate works.
    """

    def __init__(
        self,
        length: int,
        height: int = 128,
        width: int = 224,
        layers: int = 3,
        seed: int = 0,
        mode: str = "flow",
        frames: int | None = None,
        backend: str = DEFAULT_FLOW_BACKEND,
        **options: Any,
    ):
        if mode not in MODES:
            raise InputError("mode", f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        if length < 0:
            raise InputError("length", f"must be non-negative, got {length}")
        self.length = length
        self.seed = seed
        self.mode = mode
        self.frames = frames
        self.backend = backend
        self.config = SynthConfig(height=height, width=width, layers=layers, **options)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        index %= self.length
        steps = self.frames or 1
        images = self.mode == "frames"
        scene = generate_sequence(self.config, steps, (self.seed, index), images)
        theta = np.zeros((self.config.layers, 2, scene.theta.shape[-1]), dtype=np.float32)
        theta[: len(scene.theta)] = scene.theta
        squeeze = self.frames is None
        item = {
            "flow": torch.from_numpy(scene.flow[:, 0] if squeeze else scene.flow),
            "labels": torch.from_numpy(scene.labels[0] if squeeze else scene.labels),
            "exact": torch.from_numpy(scene.exact[0] if squeeze else scene.exact),
            "theta": torch.from_numpy(theta),
            "layers": torch.tensor(len(scene.theta)),
        }
        if scene.frames is not None:
            estimated = np.stack(
                [
                    estimate_flow(scene.frames[s], scene.frames[s + 1], self.backend)
                    for s in range(steps)
                ],
                axis=1,
            )
            item["gt_flow"] = item["flow"]
            item["flow"] = torch.from_numpy(estimated[:, 0] if squeeze else estimated)
            item["frames"] = torch.from_numpy(
                np.ascontiguousarray(scene.frames.transpose(0, 3, 1, 2))
            )
        return item

    def describe(self) -> dict[str, object]:
        """The dataset's parameters, JSON-ready."""
        return {
            "length": self.length,
            "seed": self.seed,
            "mode": self.mode,
            "frames": self.frames,
            "backend": self.backend,
            "config": self.config.to_dict(),
        }
