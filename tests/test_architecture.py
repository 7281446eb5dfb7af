"""Architecture guards: the public API surface and the dependency direction of DESIGN.md."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "motionlayers"

# DESIGN.md: arrows point down this list, never up (docs/design.md states where postprocess,
# classical and pipeline sit: post-processing is low, the pipeline composes everything below).
ORDER = [
    "motion",
    "io",
    "flow",
    "events",
    "data",
    "nets",
    "losses",
    "postprocess",
    "classical",
    "methods",
    "eval",
    "viz",
    "pipeline",
    "cli",
]
LEAVES = {"weights", "configs"}  # data folders, no code
# io may not import motion; nets may not import losses (DESIGN.md); weights holds files only.
FORBIDDEN = {("io", "motion"), ("nets", "losses")}

PUBLIC = {
    "motionlayers.motion": [
        "MotionModel",
        "fit",
        "render",
        "weighted_loss",
        "parse_model",
        "params_to_theta",
        "evaluate",
        "normalized_coordinates",
    ],
    "motionlayers.io": ["read_flow", "write_flow", "read_events", "read_mask", "write_mask"],
    "motionlayers.flow": ["get_backend", "iter_flows", "resize_flow", "flow_to_color"],
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {
        name.split(".")[1]
        for name in found
        if name.startswith("motionlayers.") and len(name.split(".")) > 1
    }


@pytest.mark.parametrize("layer", ORDER)
def test_dependencies_point_down(layer: str) -> None:
    folder = PACKAGE / layer
    if not folder.is_dir():
        pytest.skip(f"{layer}/ does not exist yet")
    rank = ORDER.index(layer)
    for path in folder.rglob("*.py"):
        for target in _imports(path):
            if target in ORDER and target != layer:
                assert ORDER.index(target) < rank or layer == "cli", (
                    f"{path.relative_to(PACKAGE)} imports motionlayers.{target}, "
                    f"which sits below {layer}/ in DESIGN.md"
                )
            assert (layer, target) not in FORBIDDEN, f"{path} imports motionlayers.{target}"


def test_motion_imports_torch_only() -> None:
    allowed = {
        "torch",
        "motionlayers",
        "__future__",
        "dataclasses",
        "re",
        "collections",
        "math",
        "typing",
    }
    for path in (PACKAGE / "motion").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_every_subpackage_is_placed_in_the_order() -> None:
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert found - LEAVES == set(ORDER), "place a new subpackage in ORDER and docs/design.md"
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    for module in top:  # the torch-free top-level modules import nothing of the subpackages
        assert not _imports(PACKAGE / f"{module}.py") & set(ORDER), module


SUBPACKAGES = [f"motionlayers.{name}" for name in ORDER if name != "cli"] + ["motionlayers"]


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_name_in_all_exists(package: str) -> None:
    """The API surface: each subpackage's ``__all__`` names what it has (lazy names included)."""
    imported = importlib.import_module(package)
    assert imported.__all__, f"{package} has an empty __all__"
    assert len(set(imported.__all__)) == len(imported.__all__), f"{package}: repeated names"
    for name in imported.__all__:
        assert getattr(imported, name, None) is not None, f"{package}.{name} is missing"


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_exist(module: str) -> None:
    imported = importlib.import_module(module)
    for name in PUBLIC[module]:
        assert hasattr(imported, name), f"{module}.{name} disappeared"
        assert name in imported.__all__, f"{module}.{name} is not in __all__"
