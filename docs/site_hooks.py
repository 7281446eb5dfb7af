"""MkDocs hooks (``mkdocs.yml: hooks``): pages generated at build time from the sources.

- ``index.md``: the README, its links rewritten to the site's pages (`README_LINKS`);
- ``changelog.md``: CHANGELOG.md; ``models/<name>.md``: the shipped weights' model cards;
- ``cli/<command>.md``: the ``--help`` of every ``motionlayers`` command and sub-command, from the
  argparse parsers themselves (`motionlayers.cli.main.build_parser`), so the reference cannot
  drift from the code; the nav entry ``CLI reference`` is filled with them;
- ``examples.md``: each script of examples/ with its docstring and source.

A relative link in the README that `README_LINKS` does not map stays as it is, and the strict
build then fails on it: add a rule here rather than a link that only works on GitHub.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mkdocs is imported by the hooks that need it: the tests import this module
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

ROOT = Path(__file__).resolve().parent.parent
HELP_COLUMNS = "100"  # argparse wraps to $COLUMNS: fixed, so the pages do not depend on a terminal

# README link prefix -> site path prefix (first match wins).
README_LINKS = (
    ("docs/", ""),
    ("src/motionlayers/weights/", "models/"),
    ("CHANGELOG.md", "changelog.md"),
    ("examples/", "examples.md#"),
    ("LICENSE", "license.md"),
)
LINK = re.compile(r"(\]\()([^)#\s]+)([^)]*\))")


@cache
def cli_commands() -> tuple[tuple[str, argparse.ArgumentParser], ...]:
    """``((command words, parser), ...)`` for ``motionlayers`` and every (sub-)sub-command, in the
    order ``--help`` lists them (built once per build)."""
    os.environ["COLUMNS"] = HELP_COLUMNS
    from motionlayers.cli.main import build_parser

    found: list[tuple[str, argparse.ArgumentParser]] = []

    def walk(words: str, parser: argparse.ArgumentParser) -> None:
        found.append((words, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(f"{words} {name}", child)

    walk("motionlayers", build_parser())
    return tuple(found)


def cli_page(words: str, parser: argparse.ArgumentParser) -> str:
    return f"# `{words}`\n\n```text\n$ {words} --help\n{parser.format_help()}```\n"


def cli_path(words: str) -> str:
    rest = words.split()[1:]
    return "cli/" + ("-".join(rest) if rest else "index") + ".md"


def rewrite_readme_links(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "mailto:")):
            return match.group(0)
        for prefix, site in README_LINKS:
            if target.startswith(prefix):
                rest = target[len(prefix) :]
                if site.endswith("#"):  # examples/segment_video.py -> examples.md#segment-video
                    rest = Path(rest).stem.replace("_", "-") if rest else ""
                    site = site if rest else site[:-1]
                return match.group(1) + site + rest + match.group(3)
        return match.group(0)

    return LINK.sub(replace, text)


EXAMPLE_ORDER = (
    "segment_video",
    "segment_events",
    "evaluate_davis",
    "train_tiny_em",
    "motion_core",
)
"""The examples page's order (the user's path through the package); others follow by name."""


def example_rank(path: Path) -> tuple[int, str]:
    known = path.stem in EXAMPLE_ORDER
    return (EXAMPLE_ORDER.index(path.stem) if known else len(EXAMPLE_ORDER), path.stem)


def examples_page() -> str:
    lines = [
        "# Examples",
        "",
        "One script per main task in `examples/` of the repository. Each makes its own data "
        "(synthetic scenes from `motionlayers.data` and `motionlayers.events`) unless said "
        "otherwise and runs on a CPU in seconds to a minute; `--quick` makes it smaller still "
        "(the test suite runs every example that way).",
        "",
    ]
    scripts = sorted((ROOT / "examples").glob("*.py"), key=example_rank)
    for path in scripts:
        source = path.read_text()
        doc = ast.get_docstring(ast.parse(source)) or ""
        title, _, body = doc.partition("\n")
        anchor = path.stem.replace("_", "-")
        lines += [
            f"## {title.rstrip('.')} {{#{anchor}}}",
            "",
            body.strip(),
            "",
            f"```bash\npython examples/{path.name}\n```",
            "",
            f"```python\n{source}```",
            "",
        ]
    return "\n".join(lines)


def nav_paths(nav: object) -> set[str]:
    """Every page path named in a nav (nested lists of ``{title: path or list}``)."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(nav_paths(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return nav_paths(list(nav.values()))
    return set()


def page_title(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the nav's ``CLI reference`` entry with one page per command, and append the pages
    of docs/ that the nav does not name (so that a page someone adds is never left out)."""
    pages = [{words: cli_path(words)} for words, _ in cli_commands()]
    nav = config.nav or []
    for entry in nav:
        if isinstance(entry, dict) and "CLI reference" in entry:
            entry["CLI reference"] = pages
    named = nav_paths(nav)
    for path in sorted(Path(config.docs_dir).rglob("*.md")):
        uri = path.relative_to(config.docs_dir).as_posix()
        if uri not in named:
            nav.append({page_title(path): uri})
    return config


GENERATED = ("index.md", "changelog.md", "license.md", "examples.md")
"""Pages `on_files` adds besides ``models/<card>.md`` and ``cli/<command>.md``."""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from mkdocs.structure.files import File

    def add(uri: str, content: str) -> None:
        files.append(File.generated(config, uri, content=content))

    add("index.md", rewrite_readme_links((ROOT / "README.md").read_text()))
    add("changelog.md", (ROOT / "CHANGELOG.md").read_text())
    add("license.md", "# Licence\n\n```text\n" + (ROOT / "LICENSE").read_text() + "```\n")
    for card in sorted((ROOT / "src" / "motionlayers" / "weights").glob("*.md")):
        add(f"models/{card.name}", card.read_text())
    for words, parser in cli_commands():
        add(cli_path(words), cli_page(words, parser))
    add("examples.md", examples_page())
    return files
