"""The project's weights file: a trained network without its optimiser state, for shipping.

``{"format": WEIGHTS_FORMAT, "method", "hparams", "state_dict", "meta"}`` saved by `torch.save`;
each method's loader rebuilds its module from ``hparams`` and ``state_dict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from motionlayers.io.atomic import atomic_path

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
