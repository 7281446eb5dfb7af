"""Segmentation methods: the one registry (`motionlayers.methods.registry`) and one module per
method (``em``, ``st``, ``evlayerseg``, the classical ``baselines``).

The registry is a table of strings and costs nothing to import; the methods' own modules
(Lightning for training, the networks) are imported on first use (PEP 562), so that
``motionlayers segment`` loads only the inference network it runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from motionlayers.methods.registry import (
    INPUT_KINDS,
    METHODS,
    Method,
    MethodEntry,
    Prediction,
    available_methods,
    get_entry,
    get_method,
    get_trainable,
    register_method,
    resolve_layers,
    unregister_method,
)

if TYPE_CHECKING:
    from motionlayers.methods.em import EMMethod, load_em_model
    from motionlayers.methods.em_network import normalise_input
    from motionlayers.methods.evlayerseg import EVLayerSegMethod, load_evlayerseg_model
    from motionlayers.methods.st import STMSMethod, load_st_model

_LAZY = {
    "EMMethod": "motionlayers.methods.em",
    "load_em_model": "motionlayers.methods.em",
    "normalise_input": "motionlayers.methods.em_network",
    "EVLayerSegMethod": "motionlayers.methods.evlayerseg",
    "load_evlayerseg_model": "motionlayers.methods.evlayerseg",
    "STMSMethod": "motionlayers.methods.st",
    "load_st_model": "motionlayers.methods.st",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # imported once
    return value


__all__ = [
    "INPUT_KINDS",
    "METHODS",
    "EMMethod",
    "EVLayerSegMethod",
    "Method",
    "MethodEntry",
    "Prediction",
    "STMSMethod",
    "available_methods",
    "get_entry",
    "get_method",
    "get_trainable",
    "load_em_model",
    "load_evlayerseg_model",
    "load_st_model",
    "normalise_input",
    "register_method",
    "resolve_layers",
    "unregister_method",
]
