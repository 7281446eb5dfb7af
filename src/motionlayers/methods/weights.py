"""Trained networks on disk: the project's weights file, and safe reading of it and of checkpoints.

A weights file is a trained network without its optimiser state, for shipping:
``{"format": WEIGHTS_FORMAT, "method", "hparams", "state_dict", "meta"}`` saved by `torch.save`.
Every file is read through `safe_load` (``torch.load(weights_only=True)``): a weights file or
Lightning checkpoint holding anything that would run code when unpickled is refused.
`build_trained` rebuilds a method's module from ``hparams`` and ``state_dict``.
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path

if TYPE_CHECKING:  # Lightning is slow to import; the CLI reads this module at start-up
    import lightning as L

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

WEIGHTS_FORMAT = "motionlayers-weights/1"
"""Tag of a weights file (see `write_weights`)."""


def write_weights(
    model: L.LightningModule,
    method: str,
    out: str | Path,
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Save ``model``'s hyperparameters and weights (float16 when ``half``) atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state = {k: v.half() if half and v.is_floating_point() else v for k, v in state.items()}
    payload = {
        "format": WEIGHTS_FORMAT,
        "method": method,
        "hparams": dict(model.hparams),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return Path(out)


def is_weights_file(payload: Any) -> bool:
    """Whether a loaded file's content is a weights file of `write_weights`."""
    return isinstance(payload, dict) and payload.get("format") == WEIGHTS_FORMAT


def safe_load(path: str | Path) -> dict[str, Any]:
    """The dict saved by `torch.save` in ``path`` (a weights file or a Lightning checkpoint),
    read on the CPU with ``torch.load(weights_only=True)``: tensors, containers and primitives
    only, so that a file cannot run code.

    No extra safe globals are allowed: checkpoints written by ``motionlayers train`` (Lightning
    2.6: module hyperparameters as a plain dict, callback and loop states, Adam's state) and
    weights files need none (``torch.serialization.get_unsafe_globals_in_checkpoint`` finds
    none; ``tests/test_checkpoint_safety.py`` keeps it so).

    Raises:
        InputError: missing, empty, corrupt or not a dict; or a file that needs more than
            tensors to load (a pickled object or function): refused, never retried unsafely.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder, not a checkpoint file")
    if not path.is_file():
        raise InputError(path, "checkpoint does not exist")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file, not a motionlayers checkpoint")
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle protocol: noise
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # torch's advice (retry unsafely) is never shown
        raise InputError(path, _refusal(error)) from None
    except PermissionError:
        raise InputError(path, "cannot read the file (permission denied)") from None
    except Exception as error:  # whatever a damaged file makes the reader raise
        if "weights_only" in str(error) or "Weights only" in str(error):
            raise InputError(path, _refusal(error)) from None
        raise InputError(
            path,
            f"not a motionlayers checkpoint (corrupt or not a PyTorch file: "
            f"{type(error).__name__})",
        ) from None
    if not isinstance(payload, dict):
        raise InputError(path, f"not a motionlayers checkpoint (holds a {type(payload).__name__})")
    return payload


def _refusal(error: BaseException) -> str:
    """The problem of a file that the weights-only unpickler refused, naming what it imports."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = f" (it imports {found.group(1)})" if found else ""
    return f"not a motionlayers checkpoint or needs code to load{what}: refused"


@dataclass(frozen=True)
class TrainedModel:
    """A trained network as read by `read_trained_model`.

    Attributes:
        path: the file.
        method: the method of a weights file; None for a Lightning checkpoint (not recorded).
        hparams: the module's constructor arguments.
        state_dict: its tensors (on the CPU, as stored).
        meta: a weights file's ``meta`` (the model card's figures); empty for a checkpoint.
        step: a checkpoint's ``global_step``; None for a weights file.
    """

    path: Path
    method: str | None
    hparams: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    step: int | None


def read_trained_model(
    path: str | Path, what: str = "a motionlayers checkpoint or weights file"
) -> TrainedModel:
    """A weights file (`write_weights`) or a Lightning checkpoint written by ``train``, read
    safely (`safe_load`); ``what`` names the expected file in errors."""
    payload = safe_load(path)
    if is_weights_file(payload):
        method, hparams, meta = payload.get("method"), payload.get("hparams"), payload.get("meta")
        step = None
    else:
        method, hparams, meta = None, payload.get("hyper_parameters"), {}
        step = payload.get("global_step")
    if not isinstance(hparams, dict):
        raise InputError(path, f"not {what} (no hyperparameters)")
    hparams = {k: v for k, v in hparams.items() if k != "_instantiator"}  # LightningCLI's
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(path, f"not {what} (no state_dict of tensors)")
    return TrainedModel(Path(path), method, hparams, state, dict(meta or {}), step)


def build_trained(
    path: str | Path, module: type[ModuleT], method: str, label: str
) -> tuple[ModuleT, TrainedModel]:
    """``module(**hparams)`` with the float32 weights of the trained model in ``path``.

    ``method`` is the registered name a weights file must carry, ``label`` the model's name in
    errors (``"EM"``): another method's file, hyperparameters this module does not take, or
    tensors of another layout are each an InputError naming the file.
    """
    what = f"an {label} checkpoint or weights file"
    problem = f"not {what}"
    trained = read_trained_model(path, what)
    if trained.method not in (None, method):
        raise InputError(path, f"{problem} (weights of method {trained.method!r})")
    try:
        model = module(**trained.hparams)
    except (TypeError, ValueError, KeyError) as error:  # an InputError is a ValueError
        raise InputError(path, f"{problem} (hyperparameters: {error})") from None
    weights = {k: v.float() if v.is_floating_point() else v for k, v in trained.state_dict.items()}
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError:  # tensors of other shapes than the hyperparameters make
        raise InputError(
            path, f"{problem}: tensor shapes differ from its hyperparameters"
        ) from None
    if missing or unexpected:
        raise InputError(
            path,
            f"{problem}: weights of another network version (missing "
            f"{', '.join(missing[:3]) or '-'}; unexpected {', '.join(unexpected[:3]) or '-'})",
        )
    return model, trained


def load_trained(
    path: str | Path,
    module: type[ModuleT],
    method: str,
    label: str,
    map_location: str | torch.device = "cpu",
) -> ModuleT:
    """`build_trained`'s model in eval mode on ``map_location``, with the file's model-card
    figures as its ``weights_meta`` (the methods' ``load_*_model``)."""
    model, trained = build_trained(path, module, method, label)
    model.weights_meta = trained.meta
    return model.to(map_location).eval()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning training checkpoint (weights, optimiser state, step) to resume from, read
    safely (`safe_load`); a weights file has no optimiser state and is refused."""
    payload = safe_load(path)
    if is_weights_file(payload):
        raise InputError(
            path,
            "a weights file (no optimiser state) cannot be resumed; start a new run from it "
            "with --init-from",
        )
    needed = ("state_dict", "global_step", "optimizer_states", "loops", "hyper_parameters")
    if any(key not in payload for key in needed):
        raise InputError(path, "not a Lightning checkpoint written by motionlayers train")
    return payload


def init_from(module: torch.nn.Module, path: str | Path) -> list[str]:
    """Copy into ``module`` the tensors of a trained model whose names and shapes match.

    ``path`` is a weights file (`write_weights`) or a Lightning checkpoint, read safely
    (`safe_load`). Tensors that do not match (the output layer of a network trained with
    another K, say) keep their fresh initialisation: this starts a new run from a trained one,
    unlike resuming, which restores the optimiser and the step too.

    A 2D network initialises its 3D twin (same names, kernels one dimension short, as the EM
    network and ST-MS's 3D U-Net): each 2D kernel becomes the central time slice of the 3D
    kernel, the other slices zero (`inflate_in_time`), so the 3D network starts as the 2D one
    applied to each frame.

    Returns:
        The names of the tensors that were not loaded.

    Raises:
        InputError: unreadable or unsafe file, or no tensor matches.
    """
    state = read_trained_model(path).state_dict
    own = module.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    matched.update(
        {
            k: grown
            for k, v in state.items()
            if (grown := inflate_in_time(v, own.get(k))) is not None
        }
    )
    if not matched:
        raise InputError(path, "no tensor matches this model's names and shapes")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in matched.items()}, strict=False)
    return sorted(set(own) - set(matched))


def inflate_in_time(kernel: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor | None:
    """A 2D convolution kernel ``(C_out, C_in, kh, kw)`` as the 3D kernel shaped like
    ``target`` ``(C_out, C_in, kt, kh, kw)``: the 2D kernel at the central time slice, zeros
    elsewhere (the "centre" inflation of I3D, Carreira and Zisserman 2017: on each frame the
    3D convolution then computes what the 2D one did). None when the shapes do not fit."""
    if (
        target is None
        or kernel.ndim != 4
        or target.ndim != 5
        or target.shape[:2] + target.shape[3:] != kernel.shape
        or target.shape[2] % 2 == 0
    ):
        return None
    out = torch.zeros(target.shape, dtype=target.dtype)
    out[:, :, target.shape[2] // 2] = kernel.to(target.dtype)
    return out


def trained_layers(model: L.LightningModule, requested: int | None, name: str) -> int:
    """The K that ``model`` was trained with; ``requested`` (a user's ``--layers``) must match.

    A network's output layer fixes K, so another K is an error that says what to do instead.
    """
    from motionlayers.errors import InputError

    trained = int(model.hparams["layers"])
    if requested is not None and requested != trained:
        raise InputError(
            "--layers",
            f"the model {name} segments into K={trained} layers, not {requested}; omit "
            f"--layers, or pass a checkpoint trained with model.layers={requested}",
        )
    return trained


def checkpoint_layers(path: str | Path) -> int:
    """K of the trained model in ``path`` (its hyperparameters' ``layers``), read safely."""
    trained = read_trained_model(path)
    layers = trained.hparams.get("layers")
    if not isinstance(layers, int) or layers < 1:
        raise InputError(path, f"not a layered model (hyperparameter layers={layers!r})")
    return layers


def require_shipped(path: Path, model: str, train_command: str) -> Path:
    """``path``, the shipped weights of ``model`` (e.g. "EM model"); when the file is absent
    (a source checkout without the weights, a stripped install), an InputError that names the
    file and says how to get a model: ``train_command``, then ``--checkpoint``."""
    if not path.is_file():
        raise InputError(
            path,
            f"no {model} weights are installed (this file is absent). Reinstall motionlayers, "
            f"or train a model ({train_command}) and pass --checkpoint "
            "OUT/checkpoints/last.ckpt",
        )
    return path
