"""RAFT (Teed and Deng, ECCV 2020) for users who have weights, through ptlflow or torchvision.

No RAFT weights ship with motionlayers and none are downloaded: the user passes a checkpoint
file (``--flow raft:PATH``, ``get_backend("raft", checkpoint=PATH)``). The package that builds
the network is imported only here, when the backend is built:

- ptlflow (``pip install ptlflow``): ``ptlflow.get_model(name)`` with ``name`` ``raft`` or
  ``raft_small``; its models take ``{"images": (B, 2, 3, H, W)}`` BGR in ``[0, 1]`` and return
  ``{"flows": (B, 1, 2, H, W)}``. Checkpoints are Lightning files (``{"state_dict": ...}``).
- torchvision (``pip install torchvision``): ``raft_large`` or ``raft_small`` from
  ``torchvision.models.optical_flow`` built with ``weights=None``; they take two ``(B, 3, H, W)``
  RGB images in ``[-1, 1]`` and ``num_flow_updates``, and return the list of the flows of every
  update, each ``(B, 2, H, W)``. Checkpoints are plain state dicts.

Checkpoints are read with ``torch.load(weights_only=True)`` (tensors only, no code runs), and
loaded strictly; with no ``model`` named, each variant is tried in turn (large, then small).

Convention: frames are padded (replicating the border) at the right and bottom to a multiple of
8 px and at least `MIN_PADDED` px, the flow is cropped back; flow is in pixels, u first, from
frame0 to frame1 (no rescaling: the network sees the frames at their own size).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from motionlayers.devices import resolve_device
from motionlayers.errors import InputError, ShapeError
from motionlayers.flow.backends import FlowBackend

PACKAGES = ("ptlflow", "torchvision")
"""The packages that can build RAFT, in the order ``package=None`` tries them."""
MODELS = ("raft_large", "raft_small")
"""RAFT variants, in the order they are tried when none is named."""
PAD_MULTIPLE = 8
"""RAFT's features are at 1/8 of the frame: sides are padded to a multiple of this."""
MIN_PADDED = 64
"""Smallest padded side: the 4-level correlation pyramid at 1/8 halves 8 px three times."""
_MODULES = {"ptlflow": "ptlflow", "torchvision": "torchvision.models.optical_flow"}
_INSTALL = {"ptlflow": "pip install ptlflow", "torchvision": "pip install torchvision"}
_PTLFLOW_NAMES = {"raft_large": "raft", "raft_small": "raft_small"}


class RAFTBackend(FlowBackend):
    """RAFT on colour frames, in batches, on a torch device.

    Args:
        checkpoint: the weights file (ptlflow ``.ckpt`` or torchvision state dict ``.pth``).
        package: ``"ptlflow"``, ``"torchvision"``, or None (the first of `PACKAGES` that imports).
        device: a torch device (``cpu``, ``cuda``, ...).
        iterations: the number of recurrent flow updates.
        model: ``"raft_large"``, ``"raft_small"``, or None (the one the checkpoint fits).
        batch_size: pairs per forward pass (`iter_flows` gathers them).
        builder: for tests and other RAFT-compatible networks: ``builder(model_name) ->
            torch.nn.Module`` used instead of the package's (``package`` then says which
            calling convention the module follows; default ``"torchvision"``).

    Raises:
        InputError: the checkpoint is missing or unreadable or fits no variant, no package can
            build RAFT (the message says what to install), or a bad option.
    """

    name = "raft"
    colour = True
    min_side = 1
    min_long_side = 1

    def __init__(
        self,
        checkpoint: str | Path,
        package: str | None = None,
        device: str = "cpu",
        iterations: int = 12,
        model: str | None = None,
        batch_size: int = 4,
        builder: Callable[[str], torch.nn.Module] | None = None,
    ):
        if package is not None and package not in PACKAGES:
            raise InputError("raft package", f"unknown {package!r} ({', '.join(PACKAGES)})")
        if model is not None and model not in MODELS:
            raise InputError("raft model", f"unknown {model!r} ({', '.join(MODELS)})")
        for option, value in (("iterations", iterations), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(option, f"expected an integer >= 1, got {value!r}")
        self.device = resolve_device(device)
        self.iterations = iterations
        self.batch_size = batch_size
        state = read_checkpoint(checkpoint)
        if builder is None:
            self.package, builder = package_builder(package)
        else:
            self.package = package or "torchvision"
        self.model_name, network = build_and_load(builder, state, model, checkpoint)
        self.network = network.to(self.device).eval()
        if self.package == "ptlflow":
            _set_ptlflow_iterations(self.network, iterations)

    def compute(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        return self._run(image0[None], image1[None])[0]

    def compute_batch(self, images0: list[np.ndarray], images1: list[np.ndarray]) -> list:
        return self._run(np.stack(images0), np.stack(images1))

    @torch.inference_mode()
    def _run(self, batch0: np.ndarray, batch1: np.ndarray) -> list[np.ndarray]:
        """``(B, H, W, 3)`` uint8 BGR pairs -> B flows ``(H, W, 2)`` float32."""
        height, width = batch0.shape[1:3]
        image0, image1 = (_to_tensor(batch, self.device) for batch in (batch0, batch1))
        image0, image1 = pad_frames(image0), pad_frames(image1)
        flow = run_network(self.network, self.package, image0, image1, self.iterations)
        cropped = flow[:, :, :height, :width].float().cpu().permute(0, 2, 3, 1).numpy()
        return [np.ascontiguousarray(f, dtype=np.float32) for f in cropped]

    def __repr__(self) -> str:
        return (
            f"RAFTBackend(package={self.package!r}, model={self.model_name!r}, "
            f"device={self.device!r}, iterations={self.iterations})"
        )


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: a plain one, or the ``state_dict`` (or ``model``) entry.

    Read with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        InputError: the file is missing, unreadable, or holds no dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "RAFT checkpoint file does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike
        raise InputError(path, f"cannot be read as a PyTorch checkpoint ({error})") from error
    if isinstance(loaded, dict):
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not loaded:
        raise InputError(path, "holds no state dict of RAFT weights")
    if not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise InputError(path, "holds a dict that is not a state dict of tensors")
    return loaded


def package_builder(package: str | None) -> tuple[str, Callable[[str], torch.nn.Module]]:
    """``(package, builder)``: the package named (or the first that imports) and a function
    that builds an untrained RAFT variant by name.

    Raises:
        InputError: the package (or, with None, every package) cannot be imported.
    """
    failures = []
    for name in (package,) if package else PACKAGES:
        try:
            module = importlib.import_module(_MODULES[name])
        except Exception as error:  # an install can be broken (e.g. missing CUDA ops)
            failures.append(f"{name}: {type(error).__name__}: {error}")
            continue
        return name, _builder(name, module)
    install = " or ".join(f"'{_INSTALL[n]}'" for n in ((package,) if package else PACKAGES))
    raise InputError(
        "raft flow",
        f"needs {package or 'ptlflow or torchvision'} to build RAFT ({install}); "
        f"import failed: {'; '.join(failures)}",
    )


def _builder(package: str, module: Any) -> Callable[[str], torch.nn.Module]:
    """The function that builds an untrained variant with ``module`` of ``package``."""
    if package == "ptlflow":
        return lambda model: module.get_model(_PTLFLOW_NAMES[model])
    return lambda model: getattr(module, model)(weights=None)


def build_and_load(
    builder: Callable[[str], torch.nn.Module],
    state: dict[str, torch.Tensor],
    model: str | None,
    checkpoint: str | Path,
) -> tuple[str, torch.nn.Module]:
    """``(variant, network)``: the first variant (``model``, or each of `MODELS`) whose
    network loads ``state`` strictly.

    Raises:
        InputError: the weights fit no variant (the message gives the first mismatch).
    """
    errors = []
    for name in (model,) if model else MODELS:
        network = builder(name)
        try:
            network.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError, ValueError) as error:
            errors.append(f"{name}: {str(error).splitlines()[0]}")
            continue
        return name, network
    raise InputError(checkpoint, f"does not hold RAFT weights that fit {'; '.join(errors)}")


def pad_frames(images: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` padded at the right and bottom (border replicated) to sides that are
    multiples of `PAD_MULTIPLE` and at least `MIN_PADDED`."""
    height, width = images.shape[-2:]
    padded = [max(MIN_PADDED, -(-side // PAD_MULTIPLE) * PAD_MULTIPLE) for side in (height, width)]
    if padded == [height, width]:
        return images
    return F.pad(images, (0, padded[1] - width, 0, padded[0] - height), mode="replicate")


def run_network(
    network: torch.nn.Module,
    package: str,
    image0: torch.Tensor,
    image1: torch.Tensor,
    iterations: int,
) -> torch.Tensor:
    """Flow ``(B, 2, H, W)`` from two ``(B, 3, H, W)`` BGR images in ``[0, 1]``, in the
    calling convention of ``package`` (see the module docstring)."""
    if package == "ptlflow":
        output: Any = network({"images": torch.stack([image0, image1], dim=1)})
        flows = output["flows"] if isinstance(output, dict) else None
        if not isinstance(flows, torch.Tensor) or flows.ndim != 5:
            raise ShapeError("ptlflow RAFT: expected {'flows': (B, 1, 2, H, W)} from the model")
        return flows[:, -1]
    rgb0, rgb1 = (image.flip(1) * 2 - 1 for image in (image0, image1))
    predictions = network(rgb0, rgb1, num_flow_updates=iterations)
    flow = predictions[-1] if isinstance(predictions, list | tuple) else predictions
    if not isinstance(flow, torch.Tensor) or flow.ndim != 4 or flow.shape[1] != 2:
        raise ShapeError("torchvision RAFT: expected a list of (B, 2, H, W) flows from the model")
    return flow


def _to_tensor(batch: np.ndarray, device: str) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float32 in ``[0, 1]`` on ``device``."""
    return torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float() / 255.0


def _set_ptlflow_iterations(network: torch.nn.Module, iterations: int) -> None:
    """ptlflow keeps the number of updates in ``args.iters`` (older) or ``iters`` (newer)."""
    args = getattr(network, "args", None)
    if args is not None and hasattr(args, "iters"):
        args.iters = iterations
    if hasattr(network, "iters"):
        setattr(network, "iters", iterations)  # noqa: B010 (an int attribute, not a Module)
