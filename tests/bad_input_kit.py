"""The machinery of the bad-input corpus (``test_bad_inputs.py``): fixture writers (tiny files,
valid or broken on purpose), command lines, and the judge that runs a case through the real
entry point in-process and says whether it behaved.

A case behaves when it ends in a **clear error** (non-zero exit; exactly one line on stderr,
``motionlayers COMMAND: error: INPUT: PROBLEM``, matching the case's pattern; no traceback;
nothing under its folder created, changed or deleted) or, for a near miss (an input that looks
wrong but is valid), when it is **fine** (exit 0, the user's files kept). Anything else is
**failing**. What counts as stderr is what a user sees: Python's ``sys.stderr``, the warnings
Python shows by default, and what native libraries (OpenCV, FFmpeg) write on file descriptor 2.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import tempfile
import traceback
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np

from motionlayers.cli import main as cli_main

OUT = "<OUT>"
"""Placeholder in a case's argv for the output folder the test provides."""
W = H = 32  # frame and flow size of the fixtures


# ---------------------------------------------------------------- fixture writers


def texture_frames(count: int = 3, height: int = H, width: int = W) -> list[np.ndarray]:
    """A smooth texture drifting right by 2 px per frame, ``(H, W, 3)`` uint8 BGR."""
    noise = np.random.default_rng(0).random((height, width + 2 * count, 3)).astype(np.float32)
    big = (cv2.GaussianBlur(noise, (0, 0), 2.0) * 255).astype(np.uint8)
    return [np.ascontiguousarray(big[:, 2 * count - 2 * t :][:, :width]) for t in range(count)]


def png_bytes(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def frames_dir(tmp: Path, files: dict[str, bytes] | None = None, count: int = 3) -> Path:
    """``tmp/frames`` with ``count`` good PNG frames, then ``files`` (name -> bytes) added."""
    folder = tmp / "frames"
    folder.mkdir()
    for i, image in enumerate(texture_frames(count)):
        (folder / f"{i:05d}.png").write_bytes(png_bytes(image))
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return folder


def video(tmp: Path, name: str = "clip.avi", count: int = 3, size: int = W) -> Path:
    """An MJPG video of ``count`` texture frames (black ones when large: they encode fast)."""
    path = tmp / name
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size, size))
    black = [np.zeros((size, size, 3), np.uint8)] * count
    for image in (texture_frames(count, size, size) if size <= 256 else black) if count else []:
        writer.write(image)
    writer.release()
    return path


def mp4(tmp: Path, count: int = 10) -> Path:
    path = tmp / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    for image in texture_frames(count):
        writer.write(image)
    writer.release()
    return path


def big_png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width x height`` grey pixels, with only a few rows of data:
    a reader must refuse it from the header, before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(4 * (width + 1)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def good_flow(height: int = H, width: int = W) -> np.ndarray:
    flow = np.zeros((height, width, 2), np.float32)
    flow[8:20, 8:20, 0] = 2.0
    return flow


def flo_bytes(flow: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    height, width = size or flow.shape[:2]
    return struct.pack("<fii", 202021.25, width, height) + flow.astype("<f4").tobytes()


def pfm_bytes(flow: np.ndarray, header: bytes | None = None) -> bytes:
    height, width = flow.shape[:2]
    rgb = np.zeros((height, width, 3), "<f4")
    rgb[:, :, :2] = flow
    return (header or f"PF\n{width} {height}\n-1\n".encode()) + rgb[::-1].tobytes()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f4", data: bytes = b"\0" * 64) -> bytes:
    """An ``.npy`` whose header declares ``shape`` of ``descr``, followed by ``data`` only."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + data


def npz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def flow_dir(tmp: Path, bad_name: str, bad: bytes) -> Path:
    """``tmp/flows``: one good ``.flo`` and the bad file ``bad_name`` (read second)."""
    folder = tmp / "flows"
    folder.mkdir()
    (folder / "00000.flo").write_bytes(flo_bytes(good_flow()))
    (folder / bad_name).write_bytes(bad)
    return folder


def event_arrays(n: int = 400, size: tuple[int, int] = (W, H)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "t": np.sort(rng.integers(0, 50_000, n)).astype(np.int64),
        "x": rng.integers(0, size[0], n).astype(np.uint16),
        "y": rng.integers(0, size[1], n).astype(np.uint16),
        "p": rng.integers(0, 2, n).astype(np.int8),
    }


def events_npz(tmp: Path, name: str = "rec.npz", **override: object) -> Path:
    """``tmp/rec.npz`` with plain event arrays and the sensor size, entries replaced or removed
    (None) by ``override``."""
    arrays: dict[str, object] = {**event_arrays(), "width": np.int64(W), "height": np.int64(H)}
    for key, value in override.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp / name
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def events_h5(tmp: Path, datasets: dict[str, object], name: str = "rec.h5") -> Path:
    path = tmp / name
    with h5py.File(path, "w") as handle:
        for key, value in datasets.items():
            handle[key] = value
    return path


def events_txt(tmp: Path, body: str, name: str = "rec.txt") -> Path:
    path = tmp / name
    path.write_text(body)
    return path


def write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def unreadable(path: Path) -> Path:
    path.chmod(0)
    return path.parent


def frames_16bit(tmp: Path) -> Path:
    folder = tmp / "frames"
    folder.mkdir()
    for i, image in enumerate(texture_frames()):
        cv2.imwrite(str(folder / f"{i:05d}.png"), image.astype(np.uint16) * 257)
    return folder


def truncated(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def masks_dir(tmp: Path, name: str) -> Path:
    from motionlayers.io import write_mask

    folder = tmp / name / "seq"
    folder.mkdir(parents=True)
    for i in range(3):
        labels = np.zeros((H, W), np.uint8)
        labels[8:20, 8:20] = 1
        write_mask(folder / f"{i:05d}.png", labels)
    return folder.parent


# ---------------------------------------------------------------- cases and command lines


@dataclass(frozen=True)
class Case:
    """``argv(tmp)`` writes the fixture and returns the command line (`OUT`: the output folder).

    ``expect``: a regex that the one error line must match (it names the input and the
    problem), or `FINE` for an input that looks wrong but is valid: the command must succeed.
    ``output`` False: the command takes no output folder, or the case names its own.
    """

    name: str
    argv: Callable[[Path], list[str]]
    expect: str
    output: bool = True
    owner: str = ""  # who fixes it, while it still fails (an xfail)
    root_skip: bool = False  # needs file permissions that root ignores


FINE = ""
"""`Case.expect` of an input the command must accept."""


FAST = ["--method", "robust-layers", "--no-progress"]  # errors come before any network runs


def seg(source: Callable[[Path], Path], *extra: str) -> Callable[[Path], list[str]]:
    """``segment SOURCE -o OUT`` with the fast classical method."""
    return lambda tmp: ["segment", str(source(tmp)), "-o", OUT, *FAST, *extra]


def seg_frames(*extra: str) -> Callable[[Path], list[str]]:
    return seg(frames_dir, *extra)


def seg_precomputed(files: dict[str, bytes]) -> Callable[[Path], list[str]]:
    """``segment FRAMES --flow precomputed:FLOWS``, FLOWS holding ``files``."""

    def argv(tmp: Path) -> list[str]:
        (tmp / "flows").mkdir()
        for name, data in files.items():
            (tmp / "flows" / name).write_bytes(data)
        return seg_frames("--flow", f"precomputed:{tmp / 'flows'}")(tmp)

    return argv


def seg_flows(bad_name: str, bad: bytes) -> Callable[[Path], list[str]]:
    return seg(lambda tmp: flow_dir(tmp, bad_name, bad))


def seg_events(make: Callable[[Path], Path], *extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["segment", str(make(tmp)), "-o", OUT, "--no-progress", *extra]


def flow_cmd(source: Callable[[Path], Path], *extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["flow", str(source(tmp)), "-o", OUT, "--no-progress", *extra]


def synth(*extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["synth", "flow", "-o", OUT, "--count", "1", "--frame-size", "32x32", *extra]


def seg_size(size: str) -> Callable[[Path], list[str]]:
    return seg_frames("--working-size", size)


def flow_size(size: str) -> Callable[[Path], list[str]]:
    return flow_cmd(frames_dir, "--working-size", size)


NAN_FLOW = good_flow()
NAN_FLOW[3, 4, 1] = np.nan
INF_FLOW = good_flow()
INF_FLOW[0, 0, 0] = np.inf
PNG = png_bytes(texture_frames(1)[0])
SIZE_RE = r"working.size"


# ---------------------------------------------------------------- the judge


def _snapshot(root: Path, skip: str | None = None) -> dict[str, tuple[bool, int, int]]:
    """Every entry under ``root`` (but those under ``skip``): (is a folder, size, mtime in ns);
    a folder's size and time change when an entry is made and removed in it: not recorded."""
    entries = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if skip is not None and (name == skip or name.startswith(skip + os.sep)):
            continue
        info = path.lstat()
        folder = path.is_dir()
        entries[name] = (folder, 0 if folder else info.st_size, 0 if folder else info.st_mtime_ns)
    return entries


@dataclass(frozen=True)
class Outcome:
    """``kind``: "clear error" or "fine" when the case behaved as it must, else "failing";
    ``detail``: the error line, or what went wrong."""

    kind: str
    detail: str


IGNORED_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
"""Warnings Python hides from users by default; any other warning is a line on stderr."""


@contextlib.contextmanager
def native_stderr(into: io.StringIO) -> Iterator[None]:
    """Copy what is written to file descriptor 2 while inside (OpenCV, FFmpeg and other native
    code write there, past ``sys.stderr``) into ``into``."""
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            into.write(capture.read().decode(errors="replace"))


def run_cli(argv: list[str]) -> tuple[int | None, str]:
    """``main(argv)`` in-process: the exit code (None if an exception escaped) and everything a
    user would see on stderr (tracebacks, warnings and native libraries' messages included)."""
    err, native = io.StringIO(), io.StringIO()
    with (
        native_stderr(native),
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("always")
        for category in IGNORED_WARNINGS:
            warnings.simplefilter("ignore", category)
        try:
            code: int | None = cli_main.main(argv)
        except SystemExit as stop:  # argparse's own errors
            code = stop.code if isinstance(stop.code, int) else 1
        except Exception:
            code = None
            err.write(traceback.format_exc())
    shown = [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught]
    return code, native.getvalue() + err.getvalue() + "".join(line + "\n" for line in shown)


def outcome(case: Case, tmp: Path, existing: bool) -> Outcome:
    """Run ``case`` in the empty folder ``tmp`` and judge it (see the module docstring).

    ``existing``: the output folder exists already and holds files of the user's, which must
    survive.
    """
    argv = case.argv(tmp)
    out = tmp / "out"
    if existing and case.output:
        (out / "notes").mkdir(parents=True)
        (out / "thesis_draft.txt").write_text("months of work")
        (out / "notes" / "todo.txt").write_text("back up the thesis")
    before = _snapshot(tmp)
    user_file = {k: v for k, v in before.items() if k.endswith(".txt") and k.startswith("out")}
    code, err = run_cli([str(out) if arg == OUT else arg for arg in argv])
    lines = err.strip().splitlines()
    if "Traceback" in err:
        return Outcome("failing", f"traceback: {lines[-1] if lines else ''}")
    if case.expect == FINE:
        after = _snapshot(tmp)
        if code != 0:
            return Outcome("failing", f"exit {code}: {' | '.join(lines)}")
        if any(after.get(k) != v for k, v in user_file.items()):
            return Outcome("failing", "a file of the user's in the output folder was changed")
        if _snapshot(tmp, "out") != {
            k: v for k, v in before.items() if k.split(os.sep)[0] != "out"
        }:
            return Outcome("failing", "files beside the output were created or changed")
        return Outcome("fine", " | ".join(lines))
    if code == 0:
        return Outcome("failing", "exit 0: the bad input was accepted")
    after = _snapshot(tmp)
    if after != before:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return Outcome("failing", f"files were created, changed or deleted: {changed[:5]}")
    if len(lines) != 1:
        return Outcome("failing", f"{len(lines)} lines on stderr: {' | '.join(lines)}")
    if not re.match(r"motionlayers [a-z]+( [a-z]+)?: error: ", lines[0]):
        return Outcome("failing", f"not an error line: {lines[0]}")
    if not re.search(case.expect, lines[0]):
        return Outcome("failing", f"unclear (expected {case.expect!r}): {lines[0]}")
    return Outcome("clear error", lines[0])
