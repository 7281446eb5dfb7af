"""Method recipes: YAML files shipped in `motionlayers/configs`, overridable with ``key=value``.

A recipe is named (``"em"`` -> ``motionlayers/configs/em.yaml``) or given as a path. Overrides use
dotted keys and YAML values: ``model.layers=2``, ``data.source=/videos``, ``model.augment=null``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from motionlayers.errors import InputError


def available_configs() -> list[str]:
    """Names of the recipes that ship with the package."""
    folder = resources.files("motionlayers") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path) -> dict[str, Any]:
    """The recipe ``name_or_path`` as a dict (a packaged name, or a YAML file)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise InputError(path, "config file does not exist")
        text = path.read_text()
    else:
        resource = resources.files("motionlayers") / "configs" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise InputError(
                "--config",
                f"unknown recipe {name_or_path!r}; packaged recipes: "
                f"{', '.join(available_configs())}, or give a .yaml path",
            )
        text = resource.read_text()
    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise InputError(str(name_or_path), "a recipe must be a YAML mapping")
    return config


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``config`` with each ``dotted.key=yaml_value`` applied (new keys allowed)."""
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
                raise InputError("--set", f"{key}: {part} is not a mapping")
            node = child
        node[parts[-1]] = _yaml_value(text)
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
