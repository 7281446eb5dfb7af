"""The scripts of examples/ run (with --quick, on data they make themselves), so they do not rot.

Each is loaded from its file and its ``main(argv)`` called in this process (the libraries are
already imported by the rest of the suite); the checks read what the example wrote.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_docstring_a_main_and_a_quick_flag():
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert len(scripts) >= 5
    for script in scripts:
        source = script.read_text()
        tree = ast.parse(source)
        assert ast.get_docstring(tree), f"{script.name}: no module docstring (the docs use it)"
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
        assert '"--quick"' in source, f"{script.name}: no --quick flag for the tests"


def test_motion_core(capsys):
    example = load("motion_core")
    assert example.main(["--quick"]) == 0
    assert "l1 fit" in capsys.readouterr().out
    errors = example.fit_errors(64, 112)
    assert max(errors["l1"]) < 0.05  # the robust fit recovers both models despite outliers
    assert max(errors["squared"]) > 10 * max(errors["l1"])  # least squares does not


@pytest.mark.slow
def test_segment_video(tmp_path, capsys):
    out = tmp_path / "video"
    assert load("segment_video").main(["--quick", "-o", str(out)]) == 0
    assert "(the input's size)" in capsys.readouterr().out
    assert (out / "overlay.mp4").stat().st_size > 0
    assert len(list((out / "masks").glob("*.png"))) == 6  # every frame of the clip


@pytest.mark.slow
def test_segment_events(tmp_path, capsys):
    out = tmp_path / "events"
    assert load("segment_events").main(["--quick", "-o", str(out)]) == 0
    assert "mean IoU over" in capsys.readouterr().out
    assert json.loads((out / "motion.json").read_text())["frames"]


@pytest.mark.slow
def test_evaluate_davis(tmp_path, capsys):
    out = tmp_path / "evaluate"
    assert load("evaluate_davis").main(["--quick", "-o", str(out)]) == 0
    assert "JF_mean" in capsys.readouterr().out


@pytest.mark.slow
def test_train_tiny_em(tmp_path, capsys):
    out = tmp_path / "train"
    assert load("train_tiny_em").main(["--quick", "-o", str(out)]) == 0
    assert "matched IoU" in capsys.readouterr().out
    assert (out / "checkpoints" / "last.ckpt").is_file()
