"""The machinery under `motionlayers.io.atomic.atomic_directory`: the manifest of what the tool
wrote in an output folder, staging folders and their locks, the journaled commit that moves a
stage's entries into place, and the recovery of what killed runs left behind.

Manifest (`MANIFEST`, JSON): ``files``, the relative path of every file, link and folder (with a
trailing ``/``) the tool wrote; ``entries``, for each top-level entry, the *kind* of output that
wrote it (``"segment"``, ``"flow"``, ...), so that a command prunes only its own earlier entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from motionlayers.errors import InputError
from motionlayers.io.atomic_file import UMASK, atomic_path

try:  # POSIX: a live run holds a lock on its staging folder
    import fcntl
except ImportError:  # pragma: no cover - Windows: staging folders are told apart by process id
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".motionlayers-outputs.json"
"""File in an output folder listing every file the tool wrote there (relative paths)."""
STAGE_PREFIX = ".motionlayers-stage-"
"""Name prefix of the staging folders inside an output folder."""
RESUME_PREFIX = ".motionlayers-resume-"
"""Name prefix of a staging folder kept on interruption so that a run can resume."""
LOCK = "lock"
JOURNAL = "COMMIT"
OLD = ".old"
UNLOCKED_GRACE_S = 60.0
"""A staging folder without its lock file is taken for abandoned only after this long (its
owner creates the lock right after the folder)."""


@dataclass
class Manifest:
    """What the tool wrote in an output folder: ``files`` (relative POSIX paths, folders with a
    trailing ``/``) and the kind of output that wrote each top-level entry."""

    files: set[str] = field(default_factory=set)
    kinds: dict[str, str] = field(default_factory=dict)

    def owns(self, entry: str) -> bool:
        return entry + "/" in self.files or entry in self.files


def read_manifest(folder: Path) -> Manifest:
    """The manifest of ``folder`` (empty when it has none); a damaged one is an `InputError`."""
    path = folder / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        files = {str(name) for name in record["files"]}
        kinds = {str(k): str(v) for k, v in record.get("entries", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(path, f"unreadable list of motionlayers outputs ({error})") from None
    for name in [*files, *kinds]:
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts:
            raise InputError(path, f"damaged list of motionlayers outputs (names {name!r})")
    return Manifest(files, kinds)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    record = {"files": sorted(manifest.files), "entries": dict(sorted(manifest.kinds.items()))}
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(record, indent=0))


def paths_under(root: Path, entry: str) -> list[str]:
    """Relative paths (to ``root``) of ``entry`` and everything under it; folders end in ``/``.
    Links are listed, never followed."""
    path = root / entry
    if path.is_symlink() or not path.is_dir():
        return [entry] if os.path.lexists(path) else []
    found = [entry + "/"]
    for folder, dirs, files in os.walk(path):
        base = Path(folder).relative_to(root)
        found += [(base / name).as_posix() for name in files]
        for name in dirs:  # os.walk lists links to folders among dirs and does not follow them
            link = (Path(folder) / name).is_symlink()
            found.append((base / name).as_posix() + ("" if link else "/"))
    return found


def foreign(root: Path, entry: str, manifest: Manifest) -> str | None:
    """The first path under ``root/entry`` that the tool did not write, or None."""
    for name in paths_under(root, entry):
        if name not in manifest.files:
            return name.rstrip("/")
    return None


def refuse_foreign(root: Path, entries: Collection[str], manifest: Manifest) -> None:
    """`InputError` when one of ``entries`` in ``root`` holds anything the tool did not write."""
    for entry in entries:
        name = foreign(root, entry, manifest)
        if name is not None:
            hint = "" if (root / MANIFEST).exists() else " (no list of motionlayers outputs here)"
            raise InputError(
                root / entry,
                f"exists and was not written by motionlayers{hint} ({name}); it is never "
                "replaced: move it away or choose another output folder",
            )


@contextlib.contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder ``root``: one commit or recovery at a time."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while entries move, so that a commit is never cut halfway
    by them (they are delivered when the block ends). Only the main thread receives signals."""
    blockable = hasattr(signal, "pthread_sigmask") and threading.current_thread() is (
        threading.main_thread()
    )
    held = {signal.SIGINT, signal.SIGTERM}
    if blockable:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if blockable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def lock_stage(stage: Path) -> IO[str]:
    """Mark ``stage`` as held by this process (a lock file, flocked while the handle is open)."""
    handle = open(stage / LOCK, "w", encoding="ascii")  # noqa: SIM115 - held until the run ends
    handle.write(str(os.getpid()))
    handle.flush()
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def is_abandoned(stage: Path) -> bool:
    """Whether no live process holds ``stage`` (its lock is free, or its owner has exited)."""
    lock = stage / LOCK
    if not lock.exists():
        with contextlib.suppress(OSError):
            return time.time() - stage.stat().st_mtime > UNLOCKED_GRACE_S
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


def staged_entries(stage: Path) -> list[str]:
    """The top-level outputs a block wrote into ``stage`` (its hidden files are its own)."""
    return sorted(
        p.name
        for p in stage.iterdir()
        if not p.name.startswith(".")
        and p.name
        not in (
            LOCK,
            JOURNAL,
        )
    )


def commit(root: Path, stage: Path, kind: str, prune: bool) -> None:
    """Move the entries of ``stage`` into ``root``: journal first, then the moves, then the
    manifest (`finish`); signals are held back meanwhile and one commit runs at a time."""
    written = staged_entries(stage)
    with folder_lock(root), signals_deferred():
        manifest = read_manifest(root)
        refuse_foreign(root, written, manifest)  # again: the folder may have changed
        remove = []
        if prune:
            remove = [
                entry
                for entry, owner in manifest.kinds.items()
                if owner == kind and entry not in written and foreign(root, entry, manifest) is None
            ]
        replaced = set(written) | set(remove)
        files = {n for n in manifest.files if PurePosixPath(n).parts[0] not in replaced}
        kinds = {e: k for e, k in manifest.kinds.items() if e not in replaced}
        for entry in written:
            files.update(paths_under(stage, entry))
            kinds[entry] = kind
        journal = {"write": written, "remove": remove, "files": sorted(files), "entries": kinds}
        with atomic_path(stage / JOURNAL) as tmp:
            tmp.write_text(json.dumps(journal))
        finish(root, stage)


def finish(root: Path, stage: Path) -> None:
    """Carry out, or finish, the commit journaled in ``stage``: idempotent, so that a commit cut
    by a kill or an error is completed by whoever comes next."""
    journal: dict[str, Any] = json.loads((stage / JOURNAL).read_text())
    old = stage / OLD
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
    write_manifest(root, Manifest(set(journal["files"]), dict(journal["entries"])))


def discard(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)


def close_stage(root: Path, stage: Path, keep: bool) -> None:
    """After a block: a journaled commit is finished (even one that an error or a signal cut);
    otherwise the stage is removed unless ``keep`` (a resumable run that did not succeed). A
    commit that cannot be finished now stays for `recover_stages`."""
    if (stage / JOURNAL).is_file():
        try:
            with folder_lock(root), signals_deferred():
                finish(root, stage)
        except (OSError, ValueError, KeyError):
            return
        discard(stage)
    elif not keep:
        discard(stage)


def recover_stages(root: Path) -> None:
    """Finish or remove the staging folders that killed runs left in the output folder ``root``.

    A folder with a commit journal was killed while moving its entries into place: the move is
    finished (and the folder kept if it cannot be). Any other abandoned staging folder is
    removed, and so are the temporary files of an interrupted manifest write. Live runs'
    folders are left alone; resumable folders without a journal are kept for their next run.
    """
    if not root.is_dir():
        return
    with folder_lock(root):
        for stage in root.iterdir():
            journaled = (stage / JOURNAL).is_file()
            ours = stage.name.startswith(STAGE_PREFIX) or (
                stage.name.startswith(RESUME_PREFIX) and journaled
            )
            if not ours or not stage.is_dir() or not is_abandoned(stage):
                continue
            if journaled:
                try:
                    finish(root, stage)
                except (OSError, ValueError, KeyError):
                    continue
            discard(stage)
        for partial in root.glob("." + Path(MANIFEST).stem + ".*" + Path(MANIFEST).suffix):
            partial.unlink(missing_ok=True)


def new_stage(root: Path, resume_key: str | None) -> tuple[Path, IO[str]]:
    """A staging folder in ``root``, locked (the kept one for ``resume_key``; an abandoned
    resumable folder of another key is removed, its work dropped)."""
    if resume_key is None:
        import tempfile

        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root))
        os.chmod(stage, 0o777 & ~UMASK)
        return stage, lock_stage(stage)
    name = RESUME_PREFIX + resume_key
    for other in root.iterdir():
        if other.name.startswith(RESUME_PREFIX) and other.name != name and other.is_dir():
            if is_abandoned(other):
                discard(other)
    stage = root / name
    if stage.is_dir() and not is_abandoned(stage):
        raise InputError(root, "another motionlayers run is writing into this output folder")
    stage.mkdir(exist_ok=True)
    return stage, lock_stage(stage)
