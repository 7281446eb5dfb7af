"""Method recipes: YAML files shipped in `motionlayers/configs`, overridable with ``key=value``.

A recipe is named (``"em"`` -> ``motionlayers/configs/em.yaml``) or given as a path. Overrides use
dotted keys and YAML values: ``model.layers=2``, ``data.source=/videos``, ``model.augment=null``.

`check_config` holds a recipe to its schema: the sections and keys below (``data`` of a flow or
an event method, ``trainer``), and ``model`` checked against the method's constructor (its
parameters and type hints, and ``model.net`` against the network's), so a misspelt key is an
error that lists the valid ones and a value of the wrong type or out of range (``batch_size: 0``,
an integer given as ``2.5``, a NaN learning rate) is an error naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from motionlayers.errors import InputError
from motionlayers.methods.schema import Key, check_section

TOP = {
    "method": Key(str),
    "seed": Key(int, low=0, high=2**32 - 1),
    "model": Key(dict),
    "data": Key(dict),  # required: see check_config
    "trainer": Key(dict),
    "init_from": Key(str | None),
}
_SIDE = Key(int, low=8, high=4096)  # a working size: bounded so that a recipe cannot ask 100 GB
_COMMON_DATA = {
    "source": Key(str),
    "height": _SIDE,
    "width": _SIDE,
    "train_length": Key(int, low=1),
    "val_length": Key(int, low=1),
    "val_fraction": Key(float, low=0.0, high=1.0, strict=True),
    "cache_dir": Key(str | None),
    "batch_size": Key(int, low=1, high=65536),
    "num_workers": Key(int, low=0, high=256),
}
DATA = {
    "flow-pair": {
        **_COMMON_DATA,
        "synthetic_layers": Key(int, low=1, high=64),
        "backend": Key(str),
    },
    "flow-volume": {
        **_COMMON_DATA,
        "synthetic_layers": Key(int, low=1, high=64),
        "synthetic_share": Key(float, low=0.0, high=0.95),
        "backend": Key(str),
        "frames": Key(int, low=1, high=256),
        "val_volumes": Key(int | None, low=1),
    },
    "event-window": {
        **_COMMON_DATA,
        "objects": Key(list[int], low=0, high=64, length=2),
        "duration_ms": Key(float, low=0.0, strict=True),
        "fps_render": Key(float, low=0.0, strict=True),
        "max_speed": Key(float, low=0.0),
        "window_events": Key(int | None, low=1),
        "sensor_size": Key(list[int] | str | None, low=1, length=2),
        "teacher": Key(str | None),
        "teacher_refine": Key(int, low=0, high=1000),
        "targets_dir": Key(str | None),
    },
    "frame-pair": {
        **_COMMON_DATA,
        "real_source": Key(str | None),
        "textures": Key(str | None),
        "real_share": Key(float, low=0.0, high=0.95),
    },
}
"""Keys of ``data`` by the method's input (`motionlayers.methods.registry.MethodEntry.input`)."""
TRAINER = {
    "max_steps": Key(int, low=1),
    "val_check_interval": Key(int, low=1),
    "log_every_n_steps": Key(int, low=1),
    # The methods cast their batches to float32 (``.float()``): the "-true" half and double
    # precisions, which turn the weights to 16 or 64 bits, fail at the first step.
    "precision": Key(str | int, choices=("32-true", "16-mixed", "bf16-mixed", "32", "16", 32, 16)),
    "gradient_clip_val": Key(float | None, low=0.0),
    "gradient_clip_algorithm": Key(str | None, choices=("norm", "value", None)),
    "accumulate_grad_batches": Key(int, low=1),
    "deterministic": Key(bool),
}
"""Keys of ``trainer``: Lightning Trainer arguments the recipes may set (the others, such as the
logger, callbacks and devices, belong to `motionlayers.methods.train`)."""
MODEL_BOUNDS = {
    "layers": Key(int, low=1, high=64),
    "input_size": Key(list[int] | None, low=8, high=4096, length=2),
    "lr": Key(float, low=0.0),
    "alpha": Key(float, low=0.0, strict=True),
    "fit_iterations": Key(int, low=0, high=1000),
    "bins": Key(int, low=1, high=64),
    "events_per_pixel": Key(float, low=0.0, strict=True),
    "seed": Key(int, low=0),
    "focus_kind": Key(str, choices=("variance", "gradient")),
    "beta": Key(float, low=0.0),
    "occlusion_share": Key(float, low=0.0, high=0.5),
    "corrupt_p": Key(float, low=0.0, high=1.0),
    "corrupt_max_run": Key(int, low=1, high=64),
    "warmup_steps": Key(int, low=0),
    "decay_every": Key(int, low=1),
    "variant": Key(str, choices=("soflow", "raft-small")),
    "supervision": Key(str, choices=("mixed", "supervised", "unsupervised")),
    "photometric": Key(str, choices=("ssim", "census", "ssim+census", "l1")),
    "train_iterations": Key(int, low=1, high=64),
    "test_iterations": Key(int, low=1, high=64),
    "gamma": Key(float, low=0.0, high=1.0),
}
"""Ranges and choices of model hyperparameters, by name (their types come from the
constructor's hints; see `_model_rules` for those of the motion models and losses); every
``*_weight`` is a finite number >= 0."""
_NETS = {
    "em": ("unet", "UNet", 2, {"dims": Key(int, choices=(2,))}),  # flows are 2D
    "evlayerseg": ("evlayerseg", "EVLayerSegNet", 2, {}),
    "st": ("unet", "UNet", 2, {"dims": Key(int, choices=(3,))}),  # volumes: 3D
    "lt": ("unet", "UNet", 2, {"dims": Key(int, choices=(3,))}),
    "nims": ("classifier", "FlowClassifier", 0, {}),
    "bdmm": ("unet", "UNet", 2, {"dims": Key(int, choices=(2,))}),
    "soflow": (
        "flownet",
        "RecurrentFlowNet",
        0,
        {
            "stride": Key(int, choices=(2, 4, 8)),
            "correlation": Key(str, choices=("local", "all-pairs")),
            "upsample": Key(str, choices=("convex", "bilinear")),
            "radius": Key(int, low=0, high=32),
            "levels": Key(int, low=1, high=8),
            "lookup_radius": Key(int, low=0, high=16),
            "iterations": Key(int, low=1, high=64),
        },
    ),
}
"""``model.net`` of each method: module of `motionlayers.nets`, class, how many leading
arguments the method sets itself (input channels, K), and rules of its other arguments."""
_AUGMENT = {
    "p": Key(float, low=0.0, high=1.0),
    "min_ratio": Key(float, low=0.0),
    "max_ratio": Key(float, low=0.0),
}


def available_configs() -> list[str]:
    """Names of the recipes that ship with the package."""
    folder = resources.files("motionlayers") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _recipe_text(name_or_path: str | Path) -> tuple[str, str]:
    """``(text, label)`` of a recipe: a YAML path, or a packaged name (label ``recipe NAME``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise InputError(path, "config file does not exist")
        try:
            return path.read_text(), str(path)
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(path, f"cannot read the recipe ({type(error).__name__})") from None
    resource = resources.files("motionlayers") / "configs" / f"{name_or_path}.yaml"
    if not resource.is_file():
        raise InputError(
            "--config",
            f"unknown recipe {name_or_path!r}; packaged recipes: "
            f"{', '.join(available_configs())}, or give a .yaml path",
        )
    return resource.read_text(), f"recipe {name_or_path}"


def load_config(name_or_path: str | Path) -> dict[str, Any]:
    """The recipe ``name_or_path`` as a dict (a packaged name, or a YAML file); a YAML error or
    a file that is not a mapping is an InputError naming the file (and the line)."""
    text, label = _recipe_text(name_or_path)
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise InputError(label, f"not valid YAML{where}: {problem}") from None
    if not isinstance(config, dict):
        raise InputError(label, "a recipe must be a YAML mapping (method, model, data, trainer)")
    return config


def describe_configs() -> list[tuple[str, str, str]]:
    """``(name, method, summary)`` of every packaged recipe; the summary is the first sentence
    of the comment the recipe opens with (cut at its first colon past 100 characters)."""
    rows = []
    for name in available_configs():
        text = (resources.files("motionlayers") / "configs" / f"{name}.yaml").read_text()
        head = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            head.append(line.lstrip("#").strip())
        summary = re.split(r"\.\s+(?=[A-Z])|\.$", " ".join(head))[0]
        if len(summary) > 100:
            summary = re.split(r"[:;] ", summary)[0][:100]
        method = str((yaml.safe_load(text) or {}).get("method", "?"))
        rows.append((name, method, summary))
    return rows


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``config`` with each ``dotted.key=yaml_value`` applied (the keys are checked
    by `check_config`)."""
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InputError("--set", f"expected key=value, got {item!r}")
        node = config
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InputError(f"--set {key}", f"{part} is not a mapping")
            node = child
        try:
            node[parts[-1]] = _yaml_value(text)
        except yaml.YAMLError:
            raise InputError(f"--set {key}", f"not a YAML value: {text!r}") from None
    return config


def _yaml_value(text: str) -> Any:
    """A YAML scalar, except that ``1e-3`` is a float: YAML 1.1 (PyYAML) reads exponents
    without a dot as strings, which no user means on a command line."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def check_config(config: dict[str, Any], method: str, origin: str = "config") -> None:
    """Raise InputError unless ``config`` is a valid recipe of ``method``.

    Args:
        config: a recipe (after overrides).
        method: the registered method it trains (its model and data schemas).
        origin: where the recipe came from, first in messages (``"--set"``, a path).
    """
    from motionlayers.methods.registry import get_trainable

    spec = get_trainable(method)
    check_section(config, TOP, "", origin)
    if "data" not in config:
        raise InputError(origin, "the recipe has no data section (data.source, height, ...)")
    check_section(config["data"], DATA[spec.input], "data.", origin)
    check_section(config.get("trainer") or {}, TRAINER, "trainer.", origin)
    model = config.get("model") or {}
    check_section(
        model, _signature_keys(spec.lightning_module(), 0, _model_rules()), "model.", origin
    )
    if isinstance(model.get("net"), dict) and method in _NETS:
        check_section(model["net"], _net_keys(method), "model.net.", origin)
    if isinstance(model.get("decoder"), dict):
        from motionlayers.nets.mask_decoder import QueryMaskDecoder

        rules = {"dropout": Key(float, low=0.0, high=0.99)}
        keys = _signature_keys(QueryMaskDecoder, 3, rules)  # K and channels: set by the method
        check_section(model["decoder"], keys, "model.decoder.", origin)
    if isinstance(model.get("augment"), dict):
        check_section(model["augment"], _AUGMENT, "model.augment.", origin)
    data = config["data"]
    if str(data.get("source", "synthetic")) == "synthetic":
        for key in ("train_length", "val_length"):
            if key not in data:
                raise InputError(origin, f"data.{key}: missing (synthetic data needs it)")
    objects = data.get("objects")
    if isinstance(objects, list) and len(objects) == 2 and objects[0] > objects[1]:
        raise InputError(f"{origin}: data.objects", f"expected [min, max], got {objects}")


def _model_rules() -> dict[str, Key]:
    """`MODEL_BOUNDS` and the choices of the motion model, distance and normalisations (read
    from their home modules, which import torch: not at start-up)."""
    from motionlayers.losses.em import NORMALISATIONS
    from motionlayers.methods.em_network import INPUT_NORMS
    from motionlayers.motion.distances import DISTANCES
    from motionlayers.motion.models import SPATIAL_EXPONENTS

    return {
        **MODEL_BOUNDS,
        "motion_model": Key(
            str,
            choices=tuple(
                f"{spatial}{temporal}"
                for spatial in SPATIAL_EXPONENTS
                for temporal in ("", "+linear", "+spline", "+spline2", "+spline3", "+spline4")
            ),
        ),
        "distance": Key(str, choices=DISTANCES),
        "normalise": Key(str, choices=NORMALISATIONS),
        "input_norm": Key(str, choices=INPUT_NORMS),
    }


def _net_keys(method: str) -> dict[str, Key]:
    """Keys of ``model.net``: the network's constructor less what the method sets."""
    import importlib

    module, name, skipped, rules = _NETS[method]
    network = getattr(importlib.import_module(f"motionlayers.nets.{module}"), name)
    return _signature_keys(network, skipped, rules)


def _signature_keys(
    cls: Callable[..., Any], skipped: int, bounds: dict[str, Key]
) -> dict[str, Key]:
    """A schema from the type hints of ``cls``'s constructor (all optional, having defaults),
    leaving out its first ``skipped`` parameters; ranges and choices from ``bounds`` (by name)
    and ``*_weight`` (>= 0)."""
    from typing import get_type_hints

    init = cls.__init__  # type: ignore[misc]
    hints = get_type_hints(init)
    names = [p for p in inspect.signature(init).parameters if p != "self"][skipped:]
    keys = {}
    for name in names:
        hint = hints.get(name, Any)
        if name in bounds:
            keys[name] = dataclasses.replace(bounds[name], hint=hint)
        elif name.endswith("_weight"):
            keys[name] = Key(hint, low=0.0)
        else:
            keys[name] = Key(hint)
    return keys


__all__ = [
    "DATA",
    "TOP",
    "TRAINER",
    "apply_overrides",
    "available_configs",
    "check_config",
    "describe_configs",
    "load_config",
]
