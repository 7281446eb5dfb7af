"""The README and the documentation site: links that resolve, a CLI reference that covers every
command, and (when the ``docs`` extra is installed) a strict build of the whole site."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("site_hooks", ROOT / "docs" / "site_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_links(text: str) -> list[str]:
    links = [m.group(1).split("#")[0] for m in LINK.finditer(text)]
    return [link for link in links if link and "://" not in link]


def test_readme_links_resolve_in_the_repository():
    links = relative_links((ROOT / "README.md").read_text())
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def site_has(hooks: ModuleType, page: str) -> bool:
    """Whether the built site has ``page``: a file of docs/ or a page the hooks generate."""
    cards = {f"models/{p.name}" for p in (ROOT / "src/motionlayers/weights").glob("*.md")}
    return page in set(hooks.GENERATED) | cards or (ROOT / "docs" / page).is_file()


def test_readme_links_resolve_on_the_site(hooks):
    site = relative_links(hooks.rewrite_readme_links((ROOT / "README.md").read_text()))
    missing = [link for link in site if not site_has(hooks, link)]
    assert not missing, f"README links that the site does not have (README_LINKS): {missing}"


def test_readme_keeps_the_two_set_up_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_cli_reference_has_a_page_per_command(hooks):
    from motionlayers.cli.main import COMMAND_MODULES

    commands = dict(hooks.cli_commands())
    assert {f"motionlayers {name}" for name in COMMAND_MODULES} <= set(commands)
    assert "motionlayers synth flow" in commands  # sub-sub-commands too
    page = hooks.cli_page("motionlayers segment", commands["motionlayers segment"])
    assert "usage: motionlayers segment" in page and "--working-size" in page


def test_the_nav_names_only_pages_that_exist(hooks):
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    missing = [page for page in hooks.nav_paths(config["nav"]) if not site_has(hooks, page)]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]' (make docs)")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "api" / "motion" / "index.html").is_file()
    assert (tmp_path / "cli" / "segment" / "index.html").is_file()
