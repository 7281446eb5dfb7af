"""Atomic writes that never touch what the tool did not create.

- `atomic_path`: one file, complete or absent (`motionlayers.io.atomic_file`).
- `atomic_directory`: a set of outputs (files and folders, the *entries*) written into an output
  folder that may hold the user's own files. The entries are built in a staging folder inside
  the output folder and moved into place only when all are complete. The output folder itself
  is never replaced: only the entries are, and only when the tool created them before.

What the tool created is recorded in ``OUT/.motionlayers-outputs.json`` (`MANIFEST`): every file
and folder it wrote, and which kind of output wrote each entry. An existing entry holding
anything not listed there (a user's folder named ``masks``, a note the user put in ``masks/``,
the outputs of motionlayers 0.1, which kept no list) is never replaced or deleted: the run is
refused before it starts.

Interruptions: on an exception, Ctrl-C or SIGTERM (turned into an exception by the command
line) before the commit, the staging folder is removed and the previous outputs stay as they
were; Ctrl-C and SIGTERM are held back during the commit itself, which takes milliseconds. A run
killed outright (SIGKILL) leaves its staging folder behind: the next `atomic_directory` into the
same output folder (``segment``, ``flow``, ``synth``, ``demo``) finds it, unlocked, and removes
it, or, when the kill came in the middle of moving the entries into place, finishes the move
(the staging folder holds a journal, ``COMMIT``, written before the first move). So outputs are
always either all the previous run's or all the new run's, and staging folders do not pile up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from motionlayers.errors import InputError
from motionlayers.io.atomic_file import UMASK, atomic_path
from motionlayers.io.staging import (
    JOURNAL,
    LOCK,
    MANIFEST,
    RESUME_PREFIX,
    STAGE_PREFIX,
    close_stage,
    commit,
    new_stage,
    read_manifest,
    recover_stages,
    refuse_foreign,
)


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
    os.chmod(path, 0o777 & ~UMASK)
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
    kind: str = "output",
    entries: Collection[str] | None = None,
    inputs: Sequence[str | Path] = (),
    prune: bool = True,
    resume_key: str | None = None,
) -> Iterator[Path]:
    """Yield a staging folder; on success its entries are moved into the output folder ``path``.

    Args:
        path: the output folder; created if missing, never replaced as a whole.
        kind: what writes these outputs (``"segment"``, ``"flow"``, ...), recorded per entry.
        entries: the top-level names the block may write, checked before the block runs (an
            existing one that the tool did not write refuses the run); None: whatever it
            writes, checked when the block ends.
        inputs: the command's inputs: an output folder that is, contains or lies inside one
            of them is refused (`check_not_input`).
        prune: also remove the entries that an earlier output of the same ``kind`` wrote and
            this one did not (a regenerated dataset has no stale files; an event segmentation
            replaces a video segmentation's ``foreground/``). Never another kind's, never the
            user's.
        resume_key: keep the staging folder when the block fails, under a name made from this
            key, and hand it back to the next run with the same key (for long runs that write
            their results as they go; an abandoned folder of another key is removed).

    Raises:
        InputError: the output path is a file, not writable, dangerous (see ``inputs``) or holds
            files of the user's where an entry must go; an OSError inside the block, with the
            output's path instead of the staging folder's.
    """
    path = Path(path)
    check_not_input(path, inputs)
    created = _prepare_root(path)
    try:
        recover_stages(path)
        if entries is not None:
            refuse_foreign(path, entries, read_manifest(path))
        stage, lock = new_stage(path, resume_key)
    except BaseException:
        _remove_created(created)
        raise
    succeeded = False
    try:
        try:
            yield stage
        except OSError as error:  # name the user's path, not the staging folder's
            name = str(error.filename or "")
            if not name.startswith(str(stage)):
                raise
            where = path / os.path.relpath(name, stage)
            raise InputError(where, f"cannot write: {error.strerror}") from error
        if entries is not None:
            unexpected = sorted(set(os.listdir(stage)) - set(entries) - {LOCK, JOURNAL})
            unexpected = [name for name in unexpected if not name.startswith(".")]
            if unexpected:
                raise RuntimeError(f"outputs {unexpected} were not declared")
        commit(path, stage, kind, prune)
        succeeded = True
    finally:
        lock.close()
        close_stage(path, stage, keep=resume_key is not None and not succeeded)
        if not succeeded:
            _remove_created(created)


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
