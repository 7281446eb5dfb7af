"""Methods registered by name: a LightningModule, its checkpoint loader and its default recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L

from motionlayers.errors import InputError
from motionlayers.methods.em import EMMethod, load_em_model, normalise_input


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its module class, checkpoint loader and default recipe name."""

    module: type[L.LightningModule]
    load: Callable[..., L.LightningModule]
    config: str


METHODS: dict[str, MethodSpec] = {
    "em": MethodSpec(module=EMMethod, load=load_em_model, config="em"),
}


def get_method(name: str) -> MethodSpec:
    """The registered method ``name``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise InputError("method", f"unknown method {name!r}; choose from {sorted(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "EMMethod", "MethodSpec", "get_method", "load_em_model", "normalise_input"]
