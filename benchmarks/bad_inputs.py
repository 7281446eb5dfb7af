"""Run the bad-input corpus (``tests/test_bad_inputs.py``) and write ``docs/bad-inputs.md``.

Each case runs through the real command line, in-process, in a fresh temporary folder, once with
no output folder and once with an output folder that holds files of the user's (when the case
takes one), and is counted as

- **clear error**: non-zero exit, exactly one line on stderr that names the input and the problem
  (the case's pattern), no traceback, nothing created, changed or deleted;
- **fine**: an input that looks wrong but is valid, and the command succeeds, leaving the user's
  files alone;
- **failing**: anything else (a traceback, several lines, an unclear message, a changed file); the
  corpus marks these ``xfail`` with the engineer who fixes them.

    PYTHONPATH=src .venv/bin/python benchmarks/bad_inputs.py [--write docs/bad-inputs.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_corpus():
    """The corpus module, imported from its file (tests are not a package)."""
    sys.path.insert(0, str(ROOT / "tests"))  # for its `bad_input_kit`, as pytest does
    path = ROOT / "tests" / "test_bad_inputs.py"
    spec = importlib.util.spec_from_file_location("test_bad_inputs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def judge(corpus, case) -> tuple[str, str]:
    """``(outcome, detail)`` of ``case``: its worse outcome over the output-folder variants."""
    if case.root_skip and hasattr(os, "geteuid") and os.geteuid() == 0:
        return "not run", "root reads files whatever their permissions"
    results = []
    for existing in (False, True) if case.output else (False,):
        with tempfile.TemporaryDirectory() as folder:
            result = corpus.outcome(case, Path(folder), existing)
            detail = result.detail.replace(folder, "TMP")
        results.append((result.kind, detail))
    failing = [r for r in results if r[0] == "failing"]
    return failing[0] if failing else results[0]


def limits_table() -> list[str]:
    """The bounds of `motionlayers.limits`, with their docstrings' first sentence."""
    import ast

    import motionlayers.limits as limits

    tree = ast.parse(Path(limits.__file__).read_text())
    rows = []
    body = tree.body
    for node, after in zip(body, body[1:]):
        if isinstance(node, ast.Assign) and isinstance(after, ast.Expr):
            name = node.targets[0].id  # type: ignore[attr-defined]
            doc = " ".join(str(after.value.value).split())  # type: ignore[attr-defined]
            rows.append(f"| `{name}` | {getattr(limits, name):,} | {doc} |")
    return ["| bound | value | why |", "|---|---|---|", *rows]


def markdown(corpus, rows: list[tuple[str, object, str, str]], seconds: float) -> str:
    counts = {kind: sum(1 for row in rows if row[2] == kind) for kind in OUTCOMES}
    lines = [
        "# Bad inputs",
        "",
        "Every bad input a user can hand `motionlayers` should end in one line on stderr,",
        "`motionlayers COMMAND: error: INPUT: PROBLEM`, a non-zero exit, nothing half-written and",
        "nothing deleted (issue 23, item 7). The corpus of such inputs lives in the test suite,",
        "`tests/test_bad_inputs.py` (its fixture writers and judge in `tests/bad_input_kit.py`):",
        "each case writes its own tiny fixture, runs the real command line in-process, once",
        "without and once with an existing output folder holding files of the user's, and checks",
        "exactly that. What counts as stderr is what a user sees: Python's, the warnings Python",
        "shows, and what native libraries (OpenCV, FFmpeg) print. Near misses (inputs that look",
        "wrong but are valid) must succeed.",
        "",
        "## Count",
        "",
        f"{len(rows)} cases: **{counts['clear error']} clear errors**, **{counts['fine']} fine** "
        f"(valid near misses), **{counts['failing']} failing** (marked `xfail` in the corpus, "
        f"with who fixes them){_not_run(counts['not run'])}. Regenerate this page with",
        "",
        "    PYTHONPATH=src .venv/bin/python benchmarks/bad_inputs.py --write docs/bad-inputs.md",
        "",
        f"(it took {seconds:.0f} s), or check the corpus with "
        "`.venv/bin/python -m pytest tests/test_bad_inputs.py -q`.",
        "",
        "## Bounds",
        "",
        "What a file or an option can make the tool allocate or loop over is bounded, and each",
        "bound is checked from a file's header or the option's value, before the memory is taken",
        "(`motionlayers/limits.py`):",
        "",
        *limits_table(),
        "",
        "Not bounded: the number of frames of a video (memory grows with it at the working size:",
        "the flows and soft masks of every frame are kept for the temporal steps) and the number",
        "of events of a recording (read whole).",
        "",
        "## Cases",
        "",
        "| group | case | outcome | what the user sees (or what is wrong) |",
        "|---|---|---|---|",
    ]
    for group, case, kind, detail in rows:
        owner = f" (owner: {case.owner})" if case.owner else ""  # type: ignore[attr-defined]
        text = detail.replace("|", "\\|") or "(exit 0)"
        text = re.sub(r"motionlayers ([a-z]+( [a-z]+)?): error: ", r"`\1`: ", text)
        lines.append(f"| {group} | {case.name} | {kind}{owner} | {text} |")  # type: ignore[attr-defined]
    return "\n".join(lines) + "\n"


def _not_run(count: int) -> str:
    return f", {count} not run (file permissions mean nothing to root)" if count else ""


OUTCOMES = ("clear error", "fine", "failing", "not run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="write the markdown page here")
    args = parser.parse_args()
    corpus = load_corpus()
    start = time.perf_counter()
    rows = []
    for group, cases in corpus.GROUPS.items():
        for case in cases:
            kind, detail = judge(corpus, case)
            rows.append((group, case, kind, detail))
            print(f"{kind:12s} {case.name}: {detail}", flush=True)
    seconds = time.perf_counter() - start
    counts = ", ".join(f"{sum(1 for r in rows if r[2] == k)} {k}" for k in OUTCOMES)
    print(f"{len(rows)} cases: {counts} ({seconds:.0f} s)")
    if args.write is not None:
        args.write.write_text(markdown(corpus, rows, seconds))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
