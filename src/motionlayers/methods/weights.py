"""The project's weights file: a trained network without its optimiser state, for shipping.

``{"format": WEIGHTS_FORMAT, "method", "hparams", "state_dict", "meta"}`` saved by `torch.save`;
each method's loader rebuilds its module from ``hparams`` and ``state_dict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path

if TYPE_CHECKING:  # Lightning is slow to import; the CLI reads this module at start-up
    import lightning as L

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


def init_from(module: torch.nn.Module, path: str | Path) -> list[str]:
    """Copy into ``module`` the tensors of a trained model whose names and shapes match.

    ``path`` is a weights file (`write_weights`) or a Lightning checkpoint. Tensors that do not
    match (the output layer of a network trained with another K, say) keep their fresh
    initialisation: this starts a new run from a trained one, unlike resuming, which restores the
    optimiser and the step too.

    Returns:
        The names of the tensors that were not loaded.

    Raises:
        InputError: unreadable file, or no tensor matches.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        state = payload["state_dict"]
    except Exception as error:  # a missing, truncated or foreign file
        raise InputError(path, f"cannot read a trained model ({type(error).__name__})") from error
    own = module.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise InputError(path, "no tensor matches this model's names and shapes")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in matched.items()}, strict=False)
    return sorted(set(own) - set(matched))


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
