"""Package metadata: one version everywhere, a changelog entry for it, typed-package marker,
licence, and no runtime dependency that nothing imports; optional extras fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import motionlayers
from motionlayers.errors import InputError

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
IMPORT_NAMES = {  # distribution -> the module it is imported as
    "opencv-python-headless": "cv2",
    "pyyaml": "yaml",
    "pillow": "PIL",
}


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


def test_one_version_and_a_changelog_entry_for_it():
    assert PROJECT["version"] == motionlayers.__version__
    assert f"## [{PROJECT['version']}]" in (ROOT / "CHANGELOG.md").read_text()


def test_licence_and_typed_marker_ship():
    assert PROJECT["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "src" / "motionlayers" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in data["package-data"]["motionlayers"]


def test_every_runtime_dependency_is_imported():
    sources = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    unused = []
    for requirement in PROJECT["dependencies"]:
        name = requirement_name(requirement)
        module = IMPORT_NAMES.get(name, name)
        if not re.search(rf"^\s*(import|from) {re.escape(module)}\b", sources, re.MULTILINE):
            unused.append(name)
    assert not unused, f"dependencies that no module of src imports: {unused}"


def test_optional_packages_are_extras():
    extras = PROJECT["optional-dependencies"]
    runtime = {requirement_name(r) for r in PROJECT["dependencies"]}
    for extra, names in (("hdf5", {"h5py", "hdf5plugin"}), ("aedat4", {"lz4", "zstandard"})):
        assert names <= {requirement_name(r) for r in extras[extra]}
        assert not names & runtime
    assert "docs" in extras


def test_hdf5_without_its_extra_names_the_extra(tmp_path, monkeypatch):
    from motionlayers.io import read_events
    from motionlayers.io.event_formats import hdf5

    monkeypatch.setattr(hdf5, "h5py", None)  # as if h5py were not installed
    path = tmp_path / "events.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(InputError, match=r"motionlayers\[hdf5\]") as caught:
        read_events(path, (64, 48))
    assert str(caught.value).startswith(str(path))
