"""The machinery under `motionlayers.io.atomic.atomic_directory`: the manifest of what the tool
wrote in an output folder, staging folders and their locks, the journaled commit that moves a
stage's entries into place, and the recovery of what killed runs left behind.

Manifest (`MANIFEST`, JSON): ``files``, for the relative path of every file, link and folder
(with a trailing ``/``) the tool wrote, the file's ``[size, mtime_ns]`` as written (null for a
folder): a file that the user replaced, even under the same name, no longer matches and is the
user's; ``entries``, for each top-level entry, the *kind* of output that wrote it
(``"segment"``, ``"flow"``, ...), so that a command prunes only its own earlier entries.

Locks: a staging folder's ``lock`` file is flocked by its live owner; commits and recoveries
into one output folder take turns on a flock of the folder. Where flock is not available
(Windows, some network filesystems) the tool falls back to the lock files' age: a staging folder
is taken for abandoned after `STALE_AFTER_S`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import tempfile
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
STALE_AFTER_S = 86400.0
"""Where locks cannot be tested (no flock), a staging folder this old is taken for abandoned."""
Stamp = list[int] | None
"""``[size, mtime_ns]`` of a file the tool wrote; None for a folder."""


@dataclass
class Manifest:
    """What the tool wrote in an output folder: ``files`` (relative POSIX paths, folders with a
    trailing ``/``) and the kind of output that wrote each top-level entry."""

    files: dict[str, Stamp] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)


def read_manifest(folder: Path) -> Manifest:
    """The manifest of ``folder`` (empty when it has none); a damaged one is an `InputError`."""
    path = folder / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        files = {str(name): stamp for name, stamp in dict(record["files"]).items()}
        kinds = {str(k): str(v) for k, v in record.get("entries", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(path, f"unreadable list of motionlayers outputs ({error})") from None
    for name in [*files, *kinds]:
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts:
            raise InputError(path, f"damaged list of motionlayers outputs (names {name!r})")
    return Manifest(files, kinds)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    record = {
        "files": dict(sorted(manifest.files.items())),
        "entries": dict(sorted(manifest.kinds.items())),
    }
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


def stamp(path: Path) -> Stamp:
    """What identifies a file the tool wrote (its size and modification time, which a rename
    keeps); None for a folder."""
    if path.is_dir() and not path.is_symlink():
        return None
    info = path.lstat()
    return [info.st_size, info.st_mtime_ns]


def stamps_under(root: Path, entry: str) -> dict[str, Stamp]:
    return {name: stamp(root / name.rstrip("/")) for name in paths_under(root, entry)}


def foreign(root: Path, entry: str, manifest: Manifest) -> str | None:
    """The first path under ``root/entry`` that the tool did not write (or that changed since it
    wrote it), or None."""
    for name in paths_under(root, entry):
        if name not in manifest.files or manifest.files[name] != stamp(root / name.rstrip("/")):
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
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:  # a filesystem without flock (some NFS): go on unlocked
            if error.errno not in (errno.ENOLCK, errno.EBADF, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while entries move, so that a commit is never cut halfway
    by them: their Python handlers only record them meanwhile, and the ones that came are
    raised again, to the handlers of before, when the block ends. Python runs signal handlers
    in the main thread only, so elsewhere this does nothing (nothing interrupts such a thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    before = {sig: signal.signal(sig, lambda number, _frame: caught.append(number)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def lock_stage(stage: Path) -> IO[str]:
    """Mark ``stage`` as held by this process (a lock file, flocked while the handle is open)."""
    handle = open(stage / LOCK, "a+", encoding="ascii")  # noqa: SIM115 - held until the run ends
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise InputError(
                stage.parent, "another motionlayers run is writing into this output folder"
            ) from None
        except OSError:  # no flock on this filesystem: the age of the lock file tells
            pass
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def is_abandoned(stage: Path) -> bool:
    """Whether no live process holds ``stage`` (its lock is free; where locks cannot be tested,
    its lock file is older than `STALE_AFTER_S`)."""
    lock = stage / LOCK
    try:
        age = time.time() - (lock if lock.exists() else stage).stat().st_mtime
    except OSError:
        return True
    if not lock.exists():
        return age > UNLOCKED_GRACE_S
    if fcntl is None:  # pragma: no cover - Windows
        return age > STALE_AFTER_S
    try:
        with open(lock, "a", encoding="ascii") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # no flock on this filesystem
        return age > STALE_AFTER_S
    return True


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
        files = {  # what stays of the earlier outputs: still there, as the tool wrote it
            name: value
            for name, value in manifest.files.items()
            if PurePosixPath(name).parts[0] not in replaced
            and os.path.lexists(root / name.rstrip("/"))
            and stamp(root / name.rstrip("/")) == value
        }
        kinds = {e: k for e, k in manifest.kinds.items() if e not in replaced}
        for entry in written:
            files.update(stamps_under(stage, entry))
            kinds[entry] = kind
        journal = {"write": written, "remove": remove, "files": files, "entries": kinds}
        with atomic_path(stage / JOURNAL) as tmp:
            tmp.write_text(json.dumps(journal))
        finish(root, stage)
        (stage / JOURNAL).unlink()  # done: nobody may replay it once the folder lock is gone


def finish(root: Path, stage: Path) -> None:
    """Carry out, or finish, the commit journaled in ``stage``: idempotent, so that a commit cut
    by a kill or an error is completed by whoever comes next."""
    journal: dict[str, Any] = json.loads((stage / JOURNAL).read_text())
    (stage / OLD).mkdir(exist_ok=True)
    old = Path(tempfile.mkdtemp(dir=stage / OLD))  # a fresh one each time: never in the way
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
    write_manifest(root, Manifest(dict(journal["files"]), dict(journal["entries"])))


def discard(stage: Path) -> None:
    """Remove a staging folder: renamed first to a fresh, journal-less name, so that a kill
    during the removal leaves only an abandoned stage that the next run removes."""
    doomed = stage.with_name(f"{STAGE_PREFIX}discarded-{os.getpid()}-{time.time_ns()}")
    with contextlib.suppress(OSError):
        os.replace(stage, doomed)
        stage = doomed
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
            if not stage.name.startswith((STAGE_PREFIX, RESUME_PREFIX)) or stage.is_symlink():
                continue
            if not stage.is_dir():
                continue
            journaled = (stage / JOURNAL).is_file()
            if stage.name.startswith(RESUME_PREFIX) and not journaled:
                continue  # a stopped run's work, kept for its next run
            if not is_abandoned(stage):
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
    resumable folder of another key is removed, its work dropped). Made under the folder lock,
    so that no recovery takes it for abandoned before it is locked."""
    with folder_lock(root):
        if resume_key is None:
            stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root))
            os.chmod(stage, 0o777 & ~UMASK)
            try:
                return stage, lock_stage(stage)
            except BaseException:
                discard(stage)
                raise
        name = RESUME_PREFIX + resume_key
        for other in root.iterdir():
            if other.name.startswith(RESUME_PREFIX) and other.name != name and other.is_dir():
                if is_abandoned(other):
                    discard(other)
        stage = root / name
        if (stage / JOURNAL).exists():
            raise InputError(
                stage, "an earlier run's outputs could not be moved into place; remove this folder"
            )
        stage.mkdir(exist_ok=True)
        return stage, lock_stage(stage)
