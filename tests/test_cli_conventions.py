"""One name per concept across subcommands (--flow, -o/--output, sizes WxH), old spellings as
warned aliases, the shared defaults written once, --device checked early, and how `main` ends:
one line and a meaningful exit status for errors, Ctrl-C and SIGTERM."""

from __future__ import annotations

import argparse
import ast
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from motionlayers import defaults
from motionlayers.cli import main as cli_main
from motionlayers.cli import segment as segment_command
from motionlayers.cli.options import CONVENTIONS, add_option, format_size, parse_size
from motionlayers.devices import resolve_device
from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_directory

SRC = Path(__file__).resolve().parents[1] / "src" / "motionlayers"


def parse(*argv: str) -> argparse.Namespace:
    return cli_main.build_parser().parse_args(list(argv))


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += all_parsers(child)
    return found


def flat(text: str) -> str:
    return " ".join(text.split())


def test_every_help_states_the_conventions_and_hides_old_spellings() -> None:
    parsers = all_parsers(cli_main.build_parser())
    assert {p.prog for p in parsers} >= {
        "motionlayers",
        "motionlayers segment",
        "motionlayers synth flow",
        "motionlayers synth events",
        "motionlayers train",
    }
    for parser in parsers:
        text = flat(parser.format_help())
        assert flat(CONVENTIONS) in text, parser.prog
        listed = text.replace(flat(CONVENTIONS), "")  # usage, options, descriptions
        assert not re.search(r"--backend\b|--out\b|--size\b", listed), parser.prog


@pytest.mark.parametrize(
    ("argv", "dest", "value", "warning"),
    [
        (["flow", "v.avi", "-o", "o", "--backend", "farneback"], "flow", "farneback", "--backend"),
        (["demo", "--backend", "dis-fast"], "flow", "dis-fast", "--backend is deprecated"),
        (["segment", "v.avi", "--out", "o"], "output", "o", "--out is deprecated, use -o/--output"),
        (["evaluate", "p", "g", "--protocol", "fbms", "--out", "r"], "output", "r", "--out"),
        (["segment", "v.avi", "-o", "o", "--size", "48x64"], "size", (48, 64), "--size"),
        (
            ["segment", "v.avi", "-o", "o", "--backend", "farneback"],
            "flow_backend",
            "farneback",
            "--backend",
        ),
        (["flow", "v.avi", "-o", "o", "--size", "48x64"], "working_size", (48, 64), "WxH"),
        (["synth", "flow", "-o", "o", "--size", "24x32"], "frame_size", (24, 32), "--frame-size"),
    ],
)
def test_old_spellings_still_work_with_a_warning(
    argv: list[str], dest: str, value: object, warning: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert getattr(parse(*argv), dest) == value
    err = capsys.readouterr().err
    assert err.startswith("motionlayers: warning: ") and warning in err and err.count("\n") == 1


def test_current_spellings_are_silent_and_sizes_are_width_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse("segment", "v.avi", "-o", "o", "--flow", "farneback", "--working-size", "64x48")
    assert (args.flow_backend, args.size, args.output) == ("farneback", (48, 64), "o")
    # segment leaves unset options out (an option that does not apply to the input is an
    # error): their defaults live in motionlayers.pipeline.options.OPTIONS
    assert not hasattr(parse("segment", "v.avi", "-o", "o"), "size")
    from motionlayers.pipeline.options import OPTIONS

    assert OPTIONS["size"].default == defaults.DEFAULT_WORKING_SIZE
    assert parse("flow", "v.avi", "--output", "o").working_size is None
    assert parse("synth", "flow", "-o", "o", "--frame-size", "32x24").frame_size == (24, 32)
    assert parse("demo").flow == defaults.DEFAULT_FLOW_BACKEND
    assert capsys.readouterr().err == ""
    assert format_size(defaults.DEFAULT_WORKING_SIZE) == "224x128"
    assert parse_size(" 320 X 240 ", "--x") == (240, 320)
    assert parse_size("240x320", "--size", "HxW") == (240, 320)
    for bad in ("big", "0x5", "5x", "-3x4", "3x4x5"):
        with pytest.raises(InputError, match=r"^--x: expected WxH with positive integers"):
            parse_size(bad, "--x")


def test_bad_sizes_and_missing_output_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main.main(["segment", "v.avi", "-o", "o", "--working-size", "big"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "motionlayers segment: error: --working-size: expected WxH with positive integers, "
        "e.g. 320x240, got 'big'\n"
    )
    assert cli_main.main(["segment", "v.avi", "-o", "o", "--size", "1"]) == 1
    assert "--size: expected HxW" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["segment", "v.avi"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "required: -o/--output\n" in err and not re.search(r"--out\b", err)


def test_an_old_spelling_cannot_shadow_an_option() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    with pytest.raises(ValueError, match="--out is already an option"):
        add_option(parser, "--output", renamed={"--out": "--output"})


# --- the shared names and defaults, written once ---------------------------------------------


def test_the_shared_constants_are_assigned_only_in_defaults() -> None:
    """The modules that own a concept import its constants from `motionlayers.defaults`."""
    shared = {name for name in vars(defaults) if name.isupper()}
    assigned = []
    for path in SRC.rglob("*.py"):
        if path.name == "defaults.py":
            continue
        for node in ast.parse(path.read_text()).body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            assigned += [
                f"{path.relative_to(SRC)}: {target.id}"
                for target in targets
                if isinstance(target, ast.Name) and target.id in shared
            ]
    assert assigned == []
    from motionlayers import postprocess
    from motionlayers.pipeline.options import OPTIONS

    assert OPTIONS["size"].default is defaults.DEFAULT_WORKING_SIZE
    assert postprocess.EXPLAINED_RATIO == defaults.EXPLAINED_RATIO  # re-exported


def test_the_registries_start_from_the_listed_names() -> None:
    from motionlayers import eval as evaluation
    from motionlayers import flow

    assert flow.DEFAULT_BACKEND == defaults.DEFAULT_FLOW_BACKEND
    assert tuple(flow.available_backends()) == defaults.FLOW_BACKENDS
    assert tuple(evaluation.PROTOCOLS) == defaults.EVAL_PROTOCOLS
    assert tuple(evaluation.SELECTIONS) == defaults.EVAL_SELECTIONS
    uses_gt = tuple(s.name for s in evaluation.SELECTIONS.values() if s.uses_ground_truth)
    assert uses_gt == defaults.GROUND_TRUTH_SELECTIONS


def test_builtin_methods_are_the_ones_listed_in_defaults() -> None:
    """The registry's flow and event methods are those `--help` lists from defaults (without
    importing the registry), and each shipped model of defaults is installed."""
    from motionlayers.methods.registry import BUILTIN, WEIGHTS_DIR

    flow_methods = sorted(e.name for e in BUILTIN if e.input.startswith("flow"))
    assert tuple(flow_methods) == defaults.FLOW_METHODS
    assert tuple(e.name for e in BUILTIN if e.input == "event-window") == defaults.EVENT_METHODS
    for name, models in defaults.SHIPPED_MODELS.items():
        assert {e.name: e for e in BUILTIN}[name].shipped == models
        for file in models.values():
            assert (WEIGHTS_DIR / file).is_file() and (WEIGHTS_DIR / file).with_suffix(
                ".md"
            ).is_file()
    for file in defaults.LEARNED_FLOW_WEIGHTS.values():  # the flow networks' models
        assert (WEIGHTS_DIR / file).is_file() and (WEIGHTS_DIR / file).with_suffix(".md").is_file()


def test_the_default_flow_backend_is_written_once() -> None:
    """``"dis-medium"`` appears in defaults.py and as the registry's key, nowhere else."""
    places = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        for line in path.read_text().splitlines()
        if '"dis-medium"' in line and not line.lstrip().startswith(("#", "FLOW_BACKENDS"))
    }
    assert places == {"defaults.py", "flow/backends.py"}


# --- --device ----------------------------------------------------------------------------------


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == "cpu" and resolve_device(" CPU ") == "cpu"
    for bad in ("banana", "cuda:x", "gpu", ""):
        with pytest.raises(InputError) as info:
            resolve_device(bad)
        assert (
            str(info.value) == f"--device: {bad!r} is not a torch device (cpu, cuda, cuda:N, mps)"
        )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match=r"^--device cuda: CUDA is not available on this machine$"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(InputError, match=r"^--device cuda:3: this machine has 1 CUDA device"):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(InputError, match="^--device mps: MPS"):
        resolve_device("mps")


@pytest.mark.parametrize("method", ["em", "classical-em"])
def test_segment_checks_the_device_before_anything_else(
    method: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even with a missing input: the device is the first thing checked (it used to end in "not
    an EM checkpoint" or, for classical-em, a traceback)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["segment", "missing.avi", "-o", "o", "--device", "cuda", "--method", method]
    assert cli_main.main(argv) == 1
    assert capsys.readouterr().err == (
        "motionlayers segment: error: --device cuda: CUDA is not available on this machine\n"
    )


# --- how main ends -----------------------------------------------------------------------------


def fail_with(monkeypatch: pytest.MonkeyPatch, action) -> int:
    """Run ``motionlayers segment clip.avi -o OUT`` whose work is ``action(args)``."""
    monkeypatch.setattr(segment_command, "run", action)
    return cli_main.main(["segment", "clip.avi", "-o", "out"])


def test_ctrl_c_is_one_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the signal arrives first
        return 0

    start = time.perf_counter()
    assert fail_with(monkeypatch, interrupted) == 130
    assert time.perf_counter() - start < 4
    assert capsys.readouterr().err == "motionlayers segment: interrupted\n"


def test_sigterm_cleans_up_like_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM raises inside the work, so `atomic_directory` removes its staging folder and the
    user's files stay; the previous SIGTERM handler is back afterwards."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")

    cleaned = []

    def terminated(args: argparse.Namespace) -> int:
        with atomic_directory(out, entries=("masks",)) as stage:
            (stage / "masks").mkdir()
            (stage / "masks" / "00000.png").write_bytes(b"half")
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:  # a second SIGTERM does not cut the clean-up short
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                cleaned.append(True)
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert fail_with(monkeypatch, terminated) == 143 and cleaned == [True]
    assert capsys.readouterr().err == "motionlayers segment: interrupted by SIGTERM\n"
    assert signal.getsignal(signal.SIGTERM) == before
    assert sorted(os.listdir(out)) == ["keep.txt"] and sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(28, "No space left on device", "out/masks/00000.png"), "out/masks/00000.png: No"),
        (FileNotFoundError(2, "No such file or directory", "clip.avi"), "clip.avi: No such file"),
        (PermissionError("plain"), "plain"),
        (MemoryError(), "clip.avi: out of memory"),
    ],
)
def test_system_errors_are_one_line(
    error: BaseException,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def raises(args: argparse.Namespace) -> int:
        raise error

    assert fail_with(monkeypatch, raises) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"motionlayers segment: error: {message}") and err.count("\n") == 1


def test_a_failed_allocation_says_how_much(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fail_with(monkeypatch, lambda args: np.empty((2**40, 2**20), np.float32)) == 1
    err = capsys.readouterr().err
    assert err == (
        "motionlayers segment: error: clip.avi: out of memory (Unable to allocate 4.00 EiB for an "
        "array with shape (1099511627776, 1048576) and data type float32)\n"
    )
    assert fail_with(monkeypatch, lambda args: torch.empty(2**50)) == 1
    err = capsys.readouterr().err
    assert err == (
        "motionlayers segment: error: clip.avi: out of memory (tried to allocate 4194304.0 GiB)\n"
    )


def test_other_runtime_errors_keep_their_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        fail_with(monkeypatch, bug)


def test_a_closed_pipe_is_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def pipe(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert fail_with(monkeypatch, pipe) == 1
    assert capsys.readouterr().err == ""
