"""Methods registered by name: a LightningModule, its checkpoint loader and its default recipe.

The names are imported on first use (PEP 562): the methods' modules import Lightning, which
takes seconds, and ``motionlayers segment`` needs only the inference networks of submodules such
as `motionlayers.methods.em_network`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motionlayers.errors import InputError

if TYPE_CHECKING:
    import lightning as L
    from torch.utils.data import Dataset

    from motionlayers.methods.em import EMMethod, load_em_model, normalise_input
    from motionlayers.methods.evlayerseg import EVLayerSegMethod, load_evlayerseg_model


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its module class, checkpoint loader and default recipe name.

    ``input`` names what the method segments (``"flow"`` or ``"events"``); ``datasets``, when
    set, builds its ``(train, val)`` datasets from a recipe (default: flow datasets).
    """

    module: type[L.LightningModule]
    load: Callable[..., L.LightningModule]
    config: str
    input: str = "flow"
    datasets: Callable[[dict[str, Any]], tuple[Dataset, Dataset]] | None = None


_LAZY = {
    "EMMethod": "motionlayers.methods.em",
    "load_em_model": "motionlayers.methods.em",
    "normalise_input": "motionlayers.methods.em_network",
    "EVLayerSegMethod": "motionlayers.methods.evlayerseg",
    "load_evlayerseg_model": "motionlayers.methods.evlayerseg",
}


def _registry() -> dict[str, MethodSpec]:
    from motionlayers.methods.em import EMMethod, load_em_model
    from motionlayers.methods.evlayerseg import (
        EVLayerSegMethod,
        build_event_datasets,
        load_evlayerseg_model,
    )

    return {
        "em": MethodSpec(module=EMMethod, load=load_em_model, config="em"),
        "evlayerseg": MethodSpec(
            module=EVLayerSegMethod,
            load=load_evlayerseg_model,
            config="evlayerseg",
            input="events",
            datasets=build_event_datasets,
        ),
    }


def __getattr__(name: str) -> Any:
    if name == "METHODS":
        value: Any = _registry()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # imported once
    return value


def get_method(name: str) -> MethodSpec:
    """The registered method ``name``; an unknown name lists the valid ones."""
    methods: dict[str, MethodSpec] = globals().get("METHODS") or __getattr__("METHODS")
    if name not in methods:
        raise InputError("method", f"unknown method {name!r}; choose from {sorted(methods)}")
    return methods[name]


__all__ = [
    "METHODS",
    "EMMethod",
    "EVLayerSegMethod",
    "MethodSpec",
    "get_method",
    "load_em_model",
    "load_evlayerseg_model",
    "normalise_input",
]
