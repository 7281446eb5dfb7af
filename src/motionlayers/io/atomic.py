"""Atomic writes that never touch what the tool did not create.

- `atomic_path`: one file, written to a temporary sibling and renamed into place (``os.replace``
  is atomic on one filesystem): the file is complete or absent.
- `atomic_directory`: a set of outputs (files and folders, the *entries*) written into an output
  folder that may hold the user's own files. The entries are built in a staging folder inside
  the output folder and moved into place only when all are complete. The output folder itself
  is never replaced: only the entries are, and only when the tool created them before.

What the tool created is recorded in ``OUT/.motionlayers-outputs.json`` (`MANIFEST`): the
relative path of every file it wrote. An existing entry holding anything not listed there (a
user's folder named ``masks``, or a note the user put in ``masks/``) is never replaced or
deleted: the run is refused before it starts.

Interruptions: on an exception, Ctrl-C or SIGTERM (turned into an exception by the command
line) the staging folder is removed and the previous outputs are left as they were. A run killed
outright (SIGKILL) leaves its staging folder behind: the next run into the same output folder
(of any ``motionlayers`` command) finds it, unlocked, and removes it, or, when the kill came in
the middle of moving the entries into place, finishes the move (the staging folder holds a
journal, ``COMMIT``, written before the first move). So outputs are always either all the
previous run's or all the new run's, and staging folders do not pile up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from motionlayers.errors import InputError

try:  # POSIX: a live run holds a lock on its staging folder
    import fcntl
except ImportError:  # pragma: no cover - Windows: staging folders are told apart by process id
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".motionlayers-outputs.json"
"""File in an output folder listing every file the tool wrote there (relative paths)."""
STAGE_PREFIX = ".motionlayers-stage-"
"""Name prefix of the staging folders inside an output folder."""
RESUME_PREFIX = ".motionlayers-resume-"
"""Name prefix of a staging folder kept on interruption so that a run can resume
(`atomic_directory(resume_key=...)`)."""
_LOCK = "lock"
_JOURNAL = "COMMIT"
_OLD = ".old"


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not thread-safe, and
# outputs are written from worker threads. mkstemp/mkdtemp create 0600/0700 entries; the final
# files and folders get the permissions a plain open()/mkdir() would give them.
_UMASK = _process_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix so that writers that pick a format from the
    extension (OpenCV, NumPy) still work.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(path, f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(path, f"output folder {parent} is not writable")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_not_input(output: str | Path, inputs: Sequence[str | Path]) -> None:
    """Raise `InputError` when the output folder is, contains or lies inside one of ``inputs``.

    Paths are compared resolved (symbolic links followed), so ``-o DIR/..`` is caught too.
    """
    out = Path(output).resolve()
    for source in inputs:
        resolved = Path(source).resolve()
        if out == resolved:
            relation = "is"
        elif out in resolved.parents:
            relation = "contains"
        elif resolved in out.parents:
            relation = "lies inside"
        else:
            continue
        raise InputError(
            output, f"the output folder {relation} the input {source}; choose another output folder"
        )


def read_manifest(folder: Path) -> set[str]:
    """The relative paths of the files the tool wrote in ``folder`` (empty when none)."""
    path = folder / MANIFEST
    if not path.is_file():
        return set()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return {str(name) for name in record["files"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(path, f"unreadable list of motionlayers outputs ({error})") from error


def _files_under(root: Path, entry: str) -> list[str]:
    """Relative paths (to ``root``) of every file, link or other non-folder under ``entry``."""
    path = root / entry
    if path.is_symlink() or not path.is_dir():
        return [entry] if os.path.lexists(path) else []
    found = []
    for folder, dirs, files in os.walk(path):
        base = Path(folder).relative_to(root)
        found += [(base / name).as_posix() for name in files]
        # os.walk lists links to folders among dirs and does not follow them
        found += [(base / d).as_posix() for d in dirs if (Path(folder) / d).is_symlink()]
    return found


def _foreign(root: Path, entry: str, owned: set[str]) -> str | None:
    """The first file under ``root/entry`` that the tool did not write, or None (an existing
    entry that the tool never wrote counts, even when it is an empty folder)."""
    if os.path.lexists(root / entry) and not any(
        name == entry or name.startswith(entry + "/") for name in owned
    ):
        return entry
    for name in _files_under(root, entry):
        if name not in owned:
            return name
    return None


def _refuse_foreign(root: Path, entries: Collection[str], owned: set[str]) -> None:
    for entry in entries:
        name = _foreign(root, entry, owned)
        if name is not None:
            raise InputError(
                root / entry,
                f"exists and was not written by motionlayers ({name}); it is never replaced: "
                "move it away or choose another output folder",
            )


def _lock(stage: Path) -> IO[str]:
    handle = open(stage / _LOCK, "w", encoding="ascii")
    handle.write(str(os.getpid()))
    handle.flush()
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def _is_abandoned(stage: Path) -> bool:
    """Whether no live process holds ``stage`` (its lock is free, or its owner has exited)."""
    lock = stage / _LOCK
    if not lock.exists():
        return True
    try:
        with open(lock, encoding="ascii") as handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return False
                return True
            pid = int(handle.read() or 0)  # pragma: no cover - Windows
    except (OSError, ValueError):
        return True
    try:  # pragma: no cover - Windows
        os.kill(pid, 0)
    except OSError:
        return True
    return False


def _move_entries(root: Path, stage: Path, journal: dict[str, Any]) -> None:
    """Carry out (or finish) a commit: idempotent, so that an interrupted commit can resume."""
    old = stage / _OLD
    old.mkdir(exist_ok=True)
    for entry in journal["write"]:
        new = stage / entry
        if not os.path.lexists(new):
            continue  # moved already
        if os.path.lexists(root / entry):
            os.replace(root / entry, old / entry)
        os.replace(new, root / entry)
    for entry in journal["remove"]:
        if os.path.lexists(root / entry):
            os.replace(root / entry, old / entry)
    with atomic_path(root / MANIFEST) as tmp:
        tmp.write_text(json.dumps({"files": sorted(journal["files"])}, indent=0))


def _commit(root: Path, stage: Path, entries: Collection[str] | None, prune: bool) -> None:
    written = sorted(
        name.name
        for name in stage.iterdir()
        if name.name not in (_LOCK, _JOURNAL, _OLD) and not name.name.startswith(".")
    )
    if entries is not None:
        unexpected = set(written) - set(entries)
        if unexpected:
            raise RuntimeError(f"outputs {sorted(unexpected)} were not declared")
    owned = read_manifest(root)
    _refuse_foreign(root, written, owned)  # checked again: the folder may have changed
    owned_entries = {name.split("/", 1)[0] for name in owned}
    remove = sorted(owned_entries - set(written)) if prune else []
    remove = [e for e in remove if _foreign(root, e, owned) is None]
    replaced = set(written) | set(remove)
    files = {name for name in owned if name.split("/", 1)[0] not in replaced}
    for entry in written:
        files.update(_files_under(stage, entry))
    journal = {"write": written, "remove": remove, "files": sorted(files)}
    with atomic_path(stage / _JOURNAL) as tmp:
        tmp.write_text(json.dumps(journal))
    _move_entries(root, stage, journal)


def recover_stages(root: Path) -> None:
    """Finish or remove the staging folders that killed runs left in the output folder ``root``.

    A folder with a commit journal was killed while moving its entries into place: the move is
    finished. Any other abandoned staging folder is removed. Live runs' folders are left alone.
    """
    if not root.is_dir():
        return
    for stage in root.iterdir():
        journal = stage / _JOURNAL
        interrupted = stage.name.startswith(RESUME_PREFIX) and journal.is_file()
        if not (stage.name.startswith(STAGE_PREFIX) or interrupted) or not stage.is_dir():
            continue
        if not _is_abandoned(stage):
            continue
        if journal.is_file():
            with contextlib.suppress(OSError, ValueError, KeyError):
                _move_entries(root, stage, json.loads(journal.read_text()))
        shutil.rmtree(stage, ignore_errors=True)


def _prepare_root(path: Path) -> list[Path]:
    """Create the output folder if needed; the folders this call created, deepest first."""
    if os.path.lexists(path) and not path.is_dir():
        raise InputError(path, "exists and is not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK):
            raise InputError(path, "output folder is not writable")
        return []
    missing = [p for p in [path, *path.parents] if not os.path.lexists(p)]
    try:
        path.mkdir(parents=True)
    except OSError as error:
        raise InputError(path, f"cannot create output folder: {error.strerror}") from error
    os.chmod(path, 0o777 & ~_UMASK)
    return missing


def _remove_created(created: list[Path]) -> None:
    """Remove the folders a failed run created, when empty: it leaves nothing behind."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def atomic_directory(
    path: str | Path,
    *,
    entries: Collection[str] | None = None,
    inputs: Sequence[str | Path] = (),
    prune: bool | None = None,
    resume_key: str | None = None,
) -> Iterator[Path]:
    """Yield a staging folder; on success its entries are moved into the output folder ``path``.

    Args:
        path: the output folder; created if missing, never replaced as a whole.
        entries: the top-level names the block may write (checked before the block runs:
            an existing one that the tool did not write refuses the run); None: whatever it
            writes (checked when the block ends).
        inputs: the command's inputs: an output folder that is, contains or lies inside one
            of them is refused (`check_not_input`).
        prune: also remove the tool's earlier entries that this run did not write (default:
            True when ``entries`` is None, so that a regenerated dataset has no stale files).
        resume_key: keep the staging folder when the block fails, under a name made from this
            key, and hand it back to the next run with the same key (for long runs that write
            their results as they go; an abandoned folder of another key is removed).

    Raises:
        InputError: the output path is a file, not writable, dangerous (see ``inputs``) or holds
            files of the user's where an entry must go.
    """
    path = Path(path)
    check_not_input(path, inputs)
    created = _prepare_root(path)
    try:
        recover_stages(path)
        if entries is not None:
            _refuse_foreign(path, entries, read_manifest(path))
        stage, resumable = _open_stage(path, resume_key)
    except BaseException:
        _remove_created(created)
        raise
    handle = None
    succeeded = False
    try:
        handle = _lock(stage)
        yield stage
        _commit(path, stage, entries, entries is None if prune is None else prune)
        succeeded = True
    finally:
        if handle is not None:
            handle.close()
        if succeeded or not resumable:
            shutil.rmtree(stage, ignore_errors=True)
        if not succeeded:
            _remove_created(created)


def _open_stage(root: Path, resume_key: str | None) -> tuple[Path, bool]:
    """A new (or, for ``resume_key``, the kept) staging folder; whether it is resumable."""
    if resume_key is None:
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root))
        os.chmod(stage, 0o777 & ~_UMASK)
        return stage, False
    name = RESUME_PREFIX + resume_key
    for other in root.iterdir():
        if other.name.startswith(RESUME_PREFIX) and other.name != name and other.is_dir():
            if _is_abandoned(other):  # an earlier run with other settings: its work is dropped
                shutil.rmtree(other, ignore_errors=True)
    stage = root / name
    if stage.is_dir() and not _is_abandoned(stage):
        raise InputError(root, "another motionlayers run is writing into this output folder")
    stage.mkdir(exist_ok=True)
    (stage / _JOURNAL).unlink(missing_ok=True)
    return stage, True


__all__ = [
    "MANIFEST",
    "RESUME_PREFIX",
    "STAGE_PREFIX",
    "atomic_directory",
    "atomic_path",
    "check_not_input",
    "read_manifest",
    "recover_stages",
]
