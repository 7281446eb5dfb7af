"""Atomic writes: complete or absent, and with the permissions of a plain write."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from motionlayers.errors import InputError
from motionlayers.io.atomic import (
    MANIFEST,
    RESUME_PREFIX,
    STAGE_PREFIX,
    atomic_directory,
    atomic_path,
    read_manifest,
    recover_stages,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_path_writes_on_success_only_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert target.read_text() == "done" and _mode(target) == _mode(plain)
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "plain.txt"]
    with pytest.raises(InputError, match="does not exist"):
        with atomic_path(tmp_path / "missing" / "c.txt"):
            pass


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_atomic_directory_writes_entries_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_directory(out) as tmp:
        (tmp / "x").write_text("1")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (out / "x").read_text() == "1" and _mode(out) == _mode(plain)
    assert set(read_manifest(out).files) == {"x"} and read_manifest(out).kinds == {"x": "output"}
    with pytest.raises(RuntimeError), atomic_directory(out) as tmp:
        (tmp / "y").write_text("2")
        raise RuntimeError("segmentation failed")
    assert _listing(out) == [MANIFEST, "x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "plain"]


def test_a_failed_run_leaves_no_output_folder_behind(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "a" / "b") as tmp:
        (tmp / "y").write_text("2")
        raise RuntimeError("bad input")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_never_removes_the_users_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis_draft.txt").write_text("years of work")
    entries = ("masks", "motion.json")
    for run in range(2):
        with atomic_directory(out, entries=entries) as tmp:
            (tmp / "masks").mkdir()
            (tmp / "masks" / f"{run}.png").write_text("m")
            (tmp / "motion.json").write_text(str(run))
    assert (out / "thesis_draft.txt").read_text() == "years of work"
    assert _listing(out) == [MANIFEST, "masks", "masks/1.png", "motion.json", "thesis_draft.txt"]
    # a file of the user's inside an entry, or an entry the tool did not write: refused
    (out / "masks" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not written by motionlayers"):
        with atomic_directory(out, entries=entries):
            raise AssertionError("the block must not run")
    assert (out / "masks" / "notes.txt").read_text() == "mine"
    other = tmp_path / "other"
    (other / "masks").mkdir(parents=True)
    with pytest.raises(InputError, match="not written by motionlayers"):
        with atomic_directory(other, entries=entries):
            pass
    # pruning removes the earlier entries of the same kind only (masks/ holds a user's file)
    (out / "masks" / "notes.txt").unlink()
    with atomic_directory(out, kind="flow") as tmp:
        (tmp / "fresh").write_text("f")
    listing = [MANIFEST, "fresh", "masks", "masks/1.png", "motion.json", "thesis_draft.txt"]
    assert _listing(out) == listing
    (out / "masks" / "notes.txt").write_text("mine")
    with atomic_directory(out, kind="output") as tmp:
        (tmp / "other").write_text("o")
    listing = [MANIFEST, "fresh", "masks", "masks/1.png", "masks/notes.txt", "other"]
    assert _listing(out) == [*listing, "thesis_draft.txt"]
    assert set(read_manifest(out).files) == {"fresh", "other", "masks/", "masks/1.png"}
    # an empty folder of the user's inside an entry counts as the user's too
    (out / "masks" / "notes.txt").unlink()
    (out / "masks" / "drafts").mkdir()
    with pytest.raises(InputError, match="drafts"):
        with atomic_directory(out, entries=entries):
            pass


@pytest.mark.parametrize(
    ("output", "source"),
    [("data", "data"), ("data/seq/out", "data/seq"), (".", "data/seq"), ("data", "data/a.mp4")],
)
def test_an_output_that_is_contains_or_lies_inside_the_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, source: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "seq").mkdir(parents=True)
    (tmp_path / "data" / "a.mp4").write_text("v")
    before = _listing(tmp_path)
    with pytest.raises(InputError, match="input"):
        with atomic_directory(output, inputs=[source]):
            pass
    assert _listing(tmp_path) == before


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from motionlayers.io.atomic import atomic_directory
with atomic_directory(sys.argv[1], entries=("masks", "motion.json")) as tmp:
    (tmp / "masks").mkdir()
    (tmp / "masks" / "new.png").write_text("new")
    print("staged", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_keeps_the_previous_outputs(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "out"
    with atomic_directory(out, entries=("masks", "motion.json")) as tmp:
        (tmp / "masks").mkdir()
        (tmp / "masks" / "old.png").write_text("old")
        (tmp / "motion.json").write_text("old")
    before = _listing(out)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "staged"
    assert any(p.name.startswith(STAGE_PREFIX) for p in out.iterdir())
    child.send_signal(sig)
    child.wait(timeout=30)
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
    assert bool(leftovers) == (sig == signal.SIGKILL)  # nothing can clean up after SIGKILL
    recover_stages(out)  # what the next run into ``out`` does first
    assert _listing(out) == before


def test_a_commit_killed_halfway_is_finished_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_directory(out, entries=("a", "b")) as tmp:
        (tmp / "a").write_text("old a")
        (tmp / "b").write_text("old b")
    # a stage whose journal was written and whose first entry was moved before the kill
    stage = out / f"{STAGE_PREFIX}killed"
    stage.mkdir()
    (stage / "lock").write_text("12345")  # its owner was killed: nobody holds the lock
    (stage / "b").write_text("new b")
    (stage / ".old").mkdir()
    os.replace(out / "a", stage / ".old" / "a")
    (out / "a").write_text("new a")
    journal = {"write": ["a", "b"], "remove": [], "files": {}, "entries": {}}
    (stage / "COMMIT").write_text(json.dumps(journal))
    recover_stages(out)
    assert (out / "a").read_text() == "new a" and (out / "b").read_text() == "new b"
    assert _listing(out) == [MANIFEST, "a", "b"]


def test_a_resumable_stage_survives_a_failure_and_comes_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(out, resume_key="k1") as tmp:
        (tmp / "masks").mkdir()
        (tmp / "masks" / "00000.png").write_text("done")
        raise RuntimeError("stopped")
    with atomic_directory(out, resume_key="k1") as tmp:
        assert (tmp / "masks" / "00000.png").read_text() == "done"
        (tmp / "masks" / "00001.png").write_text("done")
    assert _listing(out) == [MANIFEST, "masks", "masks/00000.png", "masks/00001.png"]
    with pytest.raises(RuntimeError), atomic_directory(out, resume_key="k1") as tmp:
        raise RuntimeError("stopped")
    with atomic_directory(out, resume_key="k2") as tmp:  # other settings: the old state goes
        assert list(tmp.iterdir()) == [tmp / "lock"]
    assert not [p for p in out.iterdir() if p.name.startswith(RESUME_PREFIX)]


def test_a_commit_cut_by_an_error_or_a_signal_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or any error) between two moves of a commit: the block's ``finally`` finishes the
    journaled move instead of deleting it, so no entry is lost and the manifest stays true."""
    out = tmp_path / "out"
    replace = os.replace
    for content in ("old", "new"):
        calls = []

        def flaky(src, dst, content=content, calls=calls):
            calls.append(src)
            if content == "new" and len(calls) == 3:
                raise KeyboardInterrupt  # as a signal would, mid-commit
            replace(src, dst)

        monkeypatch.setattr(os, "replace", flaky)
        try:
            with atomic_directory(out, entries=("a", "b")) as tmp:
                for name in ("a", "b"):
                    (tmp / name).mkdir()
                    (tmp / name / "x.txt").write_text(content)
        except KeyboardInterrupt:
            assert content == "new"
        monkeypatch.setattr(os, "replace", replace)
    assert _listing(out) == [MANIFEST, "a", "a/x.txt", "b", "b/x.txt"]
    assert (out / "a" / "x.txt").read_text() == "new" == (out / "b" / "x.txt").read_text()
    with atomic_directory(out, entries=("a", "b")) as tmp:  # and the manifest is still true
        (tmp / "a").mkdir()


def test_a_damaged_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"files": {"../../home/thesis.txt": [1, 2]}}))
    with pytest.raises(InputError, match="damaged"):
        with atomic_directory(tmp_path, entries=("masks",)):
            pass


def test_a_file_the_user_put_under_the_tools_name_is_the_users(tmp_path: Path) -> None:
    """The manifest records each file as written (size, modification time): a file the user
    saved later under the same name is not pruned, and not replaced."""
    out = tmp_path / "out"
    with atomic_directory(out, kind="segment", entries=("windows.csv", "masks")) as tmp:
        (tmp / "windows.csv").write_text("index\n")
    (out / "windows.csv").unlink()
    (out / "windows.csv").write_text("the user's own table, much longer\n")
    with atomic_directory(out, kind="segment", entries=("masks",)) as tmp:
        (tmp / "masks").mkdir()
    assert (out / "windows.csv").read_text().startswith("the user's")
    with pytest.raises(InputError, match="not written by motionlayers"):
        with atomic_directory(out, kind="segment", entries=("windows.csv",)):
            pass


def test_ctrl_c_during_a_commit_waits_for_its_end(tmp_path: Path) -> None:
    from motionlayers.io import staging

    out = tmp_path / "out"
    finish = staging.finish

    def interrupted_finish(root: Path, stage: Path) -> None:
        signal.raise_signal(signal.SIGINT)  # arrives between the journal and the moves
        finish(root, stage)

    staging.finish = interrupted_finish
    try:
        with pytest.raises(KeyboardInterrupt), atomic_directory(out, entries=("a",)) as tmp:
            (tmp / "a").write_text("complete")
    finally:
        staging.finish = finish
    assert (out / "a").read_text() == "complete" and _listing(out) == [MANIFEST, "a"]


_CONCURRENT_WRITER = """
import sys
from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_directory
for run in range(15):
    try:
        with atomic_directory(sys.argv[1], kind=sys.argv[2], entries=(sys.argv[2],)) as tmp:
            (tmp / sys.argv[2]).write_text(str(run))
    except InputError as error:  # a clear refusal is fine; anything else is a bug
        assert "another motionlayers run" in str(error), error
"""


def test_two_runs_into_one_folder_take_turns(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runs = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT_WRITER, str(out), kind])
        for kind in ("a", "b")
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    assert _listing(out) == [MANIFEST, "a", "b"]
    assert set(read_manifest(out).files) == {"a", "b"}
