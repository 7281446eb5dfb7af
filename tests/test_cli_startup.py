"""Start-up of the ``motionlayers`` command: building the parsers, ``--help`` and argument errors
load none of the heavy libraries (each subcommand imports them when it runs), and real signals
end a run with one line and ``128 + signal``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "lightning", "cv2", "numpy", "scipy", "yaml", "tqdm")

PROBE = textwrap.dedent(
    """
    import json, sys
    from motionlayers.cli.main import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
    """
)


def probe(*argv: str) -> dict:
    """Run ``main(argv)`` in a fresh interpreter: its exit code and the heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stderr.strip().splitlines()[-1])
    return {"code": result["code"], "heavy": sorted(set(result["loaded"]) & set(HEAVY))}


def test_importing_the_package_and_building_the_parser_is_light() -> None:
    code = (
        "import sys, motionlayers, motionlayers.errors, motionlayers.devices; "
        "import motionlayers.cli.main as m; m.build_parser(); "
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["segment", "--help"], 0),
        (["synth", "flow", "--help"], 0),
        (["evaluate", "--help"], 0),
        (["train", "--help"], 0),
        ([], 2),
        (["segment", "clip.avi"], 2),  # -o is missing
        (["evaluate", "a", "b", "--protocol", "nope"], 2),
        (["segment", "clip.avi", "-o", "out", "--working-size", "big"], 1),
        (["segment", "clip.avi", "-o", "out", "--device", "banana"], 1),
    ],
)
def test_help_and_argument_errors_load_no_heavy_library(argv: list[str], code: int) -> None:
    assert probe(*argv) == {"code": code, "heavy": []}


SLEEPER = textwrap.dedent(
    """
    import sys, time
    from motionlayers.cli import main, segment

    def work(args):
        print("working", flush=True)
        time.sleep(30)
        return 0

    segment.run = work
    sys.exit(main.main(["segment", "clip.avi", "-o", "out"]))
    """
)


@pytest.mark.parametrize(
    ("number", "code", "line"),
    [
        (signal.SIGINT, 130, "motionlayers segment: interrupted"),
        (signal.SIGTERM, 143, "motionlayers segment: interrupted by SIGTERM"),
    ],
)
def test_a_signal_ends_the_command_with_one_line(number: int, code: int, line: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SLEEPER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "working\n"
        process.send_signal(number)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert (process.returncode, err) == (code, line + "\n")
