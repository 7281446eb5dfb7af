"""Learned flow backends: a trained `motionlayers.methods.soflow` network behind the backend
interface (``--flow soflow``, ``--flow raft-small``, or ``--flow soflow:WEIGHTS``).

`motionlayers.flow.BACKENDS` names these factories by import path (flow/ sits below methods/
and never imports it); they live here, beside the network they load.

The network reads colour frames (RGB in ``[0, 1]``), batches consecutive pairs (`iter_flows`
gathers ``batch_size`` of them) and runs on ``device``. Frames larger than ``max_pixels`` are
resized down before the network sees them and the flow is resized back (vectors rescaled): the
networks were trained on small frames and their cost grows with the area.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from motionlayers.defaults import LEARNED_FLOW_WEIGHTS as LEARNED_BACKENDS
from motionlayers.devices import resolve_device
from motionlayers.errors import InputError
from motionlayers.flow.backends import FlowBackend
from motionlayers.flow.resize import resize_flow
from motionlayers.io.frames import resize_image

MAX_PIXELS = 256 * 448
"""Default largest frame area the network reads (larger frames are resized down)."""


def shipped_flow_weights(name: str) -> Path:
    """The installed weights of learned backend ``name``; a clear error when none ship."""
    from motionlayers.methods.registry import WEIGHTS_DIR

    if name not in LEARNED_BACKENDS:
        known = ", ".join(LEARNED_BACKENDS)
        raise InputError("flow backend", f"unknown learned backend {name!r} ({known})")
    path = WEIGHTS_DIR / LEARNED_BACKENDS[name]
    if not path.is_file():
        raise InputError(
            f"--flow {name}",
            f"no {name} weights ship with this installation ({path.name} is missing); train them "
            f"(motionlayers train soflow) and pass --flow {name}:WEIGHTS",
        )
    return path


def _device(device: str) -> str:
    """``"auto"``: a GPU when there is one; any other name checked by `resolve_device`."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return resolve_device(device)


class LearnedFlowBackend(FlowBackend):
    """A trained flow network as a backend.

    Args:
        weights: a weights file or checkpoint of ``motionlayers train soflow``; None: the
            shipped model of ``name``.
        name: the backend's name (``"soflow"`` or ``"raft-small"``: which shipped model).
        device: ``"cpu"``, ``"cuda"``, ... or ``"auto"`` (a GPU when there is one).
        iterations: network updates (default: the model's ``test_iterations``).
        batch_size: pairs per forward pass.
        max_pixels: largest frame area fed to the network (None: any size).
    """

    colour = True
    min_side = 16

    def __init__(
        self,
        weights: str | Path | None = None,
        name: str = "soflow",
        device: str = "auto",
        iterations: int | None = None,
        batch_size: int = 4,
        max_pixels: int | None = MAX_PIXELS,
    ):
        from motionlayers.methods.soflow import load_soflow_model

        path = Path(weights) if weights is not None else shipped_flow_weights(name)
        if batch_size < 1:
            raise InputError("batch_size", f"must be >= 1, got {batch_size}")
        if iterations is not None and iterations < 1:
            raise InputError("iterations", f"must be >= 1, got {iterations}")
        self.name = name if weights is None else f"{name}:{path.name}"
        self.device = _device(device)
        self.model = load_soflow_model(path, self.device)
        self.iterations = iterations
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.weights = path

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(h, w)`` the network reads frames of ``(height, width)`` at."""
        if self.max_pixels is None or height * width <= self.max_pixels:
            return height, width
        scale = math.sqrt(self.max_pixels / (height * width))
        return max(self.min_side, round(height * scale)), max(self.min_side, round(width * scale))

    def compute(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        return self.compute_batch([image0], [image1])[0]

    def compute_batch(self, images0: list[np.ndarray], images1: list[np.ndarray]) -> list:
        """Flows of prepared ``(H, W, 3)`` uint8 BGR images of one size, at their size."""
        import torch

        height, width = images0[0].shape[:2]
        size = self.network_size(height, width)

        def batch(images: list[np.ndarray]) -> torch.Tensor:
            rgb = np.stack([resize_image(image, size)[..., ::-1] for image in images])
            tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)
            return tensor.to(self.device, torch.float32) / 255.0

        with torch.inference_mode():
            flows = self.model(batch(images0), batch(images1), self.iterations).float()
            if size != (height, width):
                flows = resize_flow(flows, height, width)
        return [np.array(flow, np.float32) for flow in flows.permute(0, 2, 3, 1).cpu().numpy()]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"


def soflow_backend(**options: object) -> LearnedFlowBackend:
    """``--flow soflow``: the shipped SoFlow model, or ``weights=PATH``."""
    return LearnedFlowBackend(name="soflow", **options)  # type: ignore[arg-type]


def raft_small_backend(**options: object) -> LearnedFlowBackend:
    """``--flow raft-small``: the shipped RAFT-small-like model, or ``weights=PATH``."""
    return LearnedFlowBackend(name="raft-small", **options)  # type: ignore[arg-type]
