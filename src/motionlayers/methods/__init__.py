"""Methods registered by name: a LightningModule, its checkpoint loader and its default recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
from torch.utils.data import Dataset

from motionlayers.errors import InputError
from motionlayers.methods.em import EMMethod, load_em_model, normalise_input
from motionlayers.methods.evlayerseg import (
    EVLayerSegMethod,
    build_event_datasets,
    load_evlayerseg_model,
)


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


METHODS: dict[str, MethodSpec] = {
    "em": MethodSpec(module=EMMethod, load=load_em_model, config="em"),
    "evlayerseg": MethodSpec(
        module=EVLayerSegMethod,
        load=load_evlayerseg_model,
        config="evlayerseg",
        input="events",
        datasets=build_event_datasets,
    ),
}


def get_method(name: str) -> MethodSpec:
    """The registered method ``name``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise InputError("method", f"unknown method {name!r}; choose from {sorted(METHODS)}")
    return METHODS[name]


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
