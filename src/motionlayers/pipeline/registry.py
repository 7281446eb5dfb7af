"""Segmentation methods by name.

A method is built by a factory ``factory(layers: int, device: str, **options)`` and returns either

- a callable ``method(flow (B, 2, h, w)) -> (B, K, h, w)`` soft masks or ``(B, h, w)`` labels, or
- an object with ``predict_masks(flow) -> (B, K, h, w)`` (e.g. a trained ``LightningModule``);

`get_method` wraps both into a `Method` that always returns soft masks ``(B, K, h, w)`` summing to
1 over K, on the flow's device, without gradients. A factory may also be registered as a string
``"package.module:attribute"``, imported on first use; a network method plugs in with e.g.
``register_method("em", "motionlayers.methods.em_network:build_predictor")`` where
``build_predictor`` loads the checkpoint and returns the network (an ``nn.Module`` with
``predict_masks``, moved to ``device``, put in eval mode; Lightning is not needed to segment).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

from motionlayers.classical import classical_em, robust_layers
from motionlayers.defaults import DEFAULT_LAYERS
from motionlayers.errors import InputError, ShapeError
from motionlayers.limits import check_layers
from motionlayers.postprocess.upsample import labels_to_masks

MethodFactory = Callable[..., Any] | str
METHODS: dict[str, MethodFactory] = {}
"""Registry: method name -> factory ``(layers, device, **options)``, or ``"module:attribute"``
naming one, imported on first use (so a heavy network method costs nothing until chosen)."""


class Method:
    """A segmentation method with a uniform interface: ``method(flow) -> (B, K, h, w)``."""

    def __init__(self, name: str, layers: int, predictor: Any):
        self.name = name
        self.layers = layers
        self.predictor = predictor

    def __call__(self, flow: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if hasattr(self.predictor, "predict_masks"):
                out = self.predictor.predict_masks(flow)
            else:
                out = self.predictor(flow)
        if out.ndim == 3:
            out = labels_to_masks(out, self.layers)
        if out.ndim != 4 or out.shape[0] != flow.shape[0] or out.shape[-2:] != flow.shape[-2:]:
            raise ShapeError(
                f"method {self.name}: expected masks (B, K, h, w) or labels (B, h, w) for flow "
                f"{tuple(flow.shape)}, got {tuple(out.shape)}"
            )
        out = out.to(flow.device, torch.float32).clamp_min(0)
        return out / out.sum(1, keepdim=True).clamp_min(1e-8)


def register_method(name: str, factory: MethodFactory) -> None:
    """Add (or replace) the factory of method ``name``."""
    METHODS[name] = factory


def available_methods() -> list[str]:
    """The names `get_method` accepts, sorted."""
    return sorted(METHODS)


def get_method(name: str, layers: int | None = None, device: str = "cpu", **options: Any) -> Method:
    """Build method ``name`` for K = ``layers``; an unknown name lists the valid ones.

    ``layers=None`` takes the method's own K: a trained network's, or `DEFAULT_LAYERS` for the
    classical methods. The resulting `Method.layers` is the K its masks have.
    """
    if name not in METHODS:
        raise InputError(
            "method", f"unknown method {name!r}; valid: {', '.join(available_methods())}"
        )
    if layers is not None and layers < 1:
        raise InputError("layers", f"must be >= 1, got {layers}")
    factory = METHODS[name]
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    predictor = factory(layers=layers, device=device, **options)
    if hasattr(predictor, "to") and hasattr(predictor, "predict_masks"):
        predictor = predictor.to(device)
        if hasattr(predictor, "eval"):
            predictor.eval()
    if layers is None:
        hparams = getattr(predictor, "hparams", {})
        layers = int(hparams["layers"]) if "layers" in hparams else DEFAULT_LAYERS
    return Method(name, layers, predictor)


def _classical_em(layers: int | None, device: str, initialisations: int = 10, **options: Any):
    layers = layers or DEFAULT_LAYERS
    check_layers(layers)  # before any flow is computed

    def run(flow: torch.Tensor) -> torch.Tensor:
        return classical_em(flow, layers, initialisations, **options).masks

    return run


def _robust_layers(layers: int | None, device: str, **options: Any):
    layers = layers or DEFAULT_LAYERS
    check_layers(layers)  # before any flow is computed

    def run(flow: torch.Tensor) -> torch.Tensor:
        return robust_layers(flow, layers, **options).labels

    return run


register_method("em", "motionlayers.methods.em_network:build_predictor")
register_method("classical-em", _classical_em)
register_method("robust-layers", _robust_layers)
