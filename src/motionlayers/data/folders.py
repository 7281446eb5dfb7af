"""Training flows from folders: videos, folders of frames or folders of flow files, cached.

`FlowFolderDataset(root, size)` finds its sources under ``root``: ``root`` itself when it is a
video, a folder of frames or a folder of flow files; otherwise every such entry directly inside
``root`` (one level, sorted). Frames and videos go through `motionlayers.flow.iter_flows` with the
chosen backend, computed at ``oversample`` times the working size then resized, as ``segment``
does; flow files (``.flo``, ``.pfm``, ``.npy``, ``.npz``; ``.png`` counts as frames) are read and
resized with vector rescaling. Each source's flows are cached as ``.npy`` ``(2, H, W)`` float32
under ``cache_dir/<key>/`` where the key hashes the resolved source path, the size, the backend
and the oversampling; a ``done`` file marks a complete cache entry.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.defaults import DEFAULT_FLOW_BACKEND, DEFAULT_WORKING_SIZE
from motionlayers.errors import InputError
from motionlayers.flow import FLOW_OVERSAMPLING, iter_flows, resize_flow
from motionlayers.io.atomic import atomic_path
from motionlayers.io.flow import read_flow
from motionlayers.io.frames import IMAGE_EXTENSIONS

FLOW_FILE_EXTENSIONS = (".flo", ".pfm", ".npy", ".npz")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")


def _files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions)


def source_kind(path: Path) -> str | None:
    """``"video"``, ``"frames"``, ``"flows"`` or None (not a source)."""
    if path.is_file():
        return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else None
    if not path.is_dir():
        return None
    if _files(path, FLOW_FILE_EXTENSIONS):
        return "flows"
    if len(_files(path, IMAGE_EXTENSIONS)) >= 2:
        return "frames"
    return None


def find_sources(root: str | Path) -> list[tuple[Path, str]]:
    """The ``(path, kind)`` sources of ``root`` (see module doc); InputError if none."""
    root = Path(root)
    if not root.exists():
        raise InputError(root, "does not exist")
    kind = source_kind(root)
    if kind:
        return [(root, kind)]
    found = (
        [(p, k) for p in sorted(root.iterdir()) if (k := source_kind(p))] if root.is_dir() else []
    )
    if not found:
        raise InputError(root, "holds no video, folder of frames or folder of flow files")
    return found


def cache_key(source: Path, size: tuple[int, int], backend: str, oversample: int = 1) -> str:
    """Stable key of a source's flows: hash of resolved path, size, backend and oversampling."""
    text = f"{source.resolve()}|{size[0]}x{size[1]}|{backend}"
    if oversample != 1:
        text += f"|x{oversample}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _source_flows(
    source: Path, kind: str, size: tuple[int, int], backend: str, progress: bool, oversample: int
):
    if kind == "flows":
        for path in _files(source, FLOW_FILE_EXTENSIONS):
            yield path.stem, resize_flow(read_flow(path), *size)
    else:
        pairs = iter_flows(source, backend, size=size, progress=progress, oversample=oversample)
        for stem, _frame, flow in pairs:
            yield stem, flow


def cache_source(
    source: Path,
    kind: str,
    size: tuple[int, int],
    backend: str,
    cache_dir: Path,
    progress: bool = True,
    oversample: int = FLOW_OVERSAMPLING,
) -> list[Path]:
    """Compute (or reuse) the cached ``.npy`` flows ``(2, H, W)`` of one source."""
    oversample = oversample if kind != "flows" else 1
    folder = cache_dir / cache_key(source, size, backend, oversample)
    done = folder / "done"
    if done.is_file():
        return sorted(folder.glob("[!.]*.npy"))  # not a killed writer's hidden temporary file
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    flows = _source_flows(source, kind, size, backend, progress, oversample)
    for index, (_stem, flow) in enumerate(flows):
        path = folder / f"{index:06d}.npy"
        with atomic_path(path) as tmp:
            np.save(tmp, np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32))
        paths.append(path)
    done.write_text(f"{source.resolve()}\n{size}\n{backend}\nx{oversample}\n")
    return paths


class FlowFolderDataset(Dataset):
    """Flows of every source under ``root`` at the working ``size``, cached as ``.npy``.

    Args:
        root: a video, a folder of frames or of flow files, or a folder holding such entries.
        size: ``(H, W)`` working size.
        backend: flow backend name for videos and frames (default `DEFAULT_FLOW_BACKEND`).
        cache_dir: where the flows are cached (default ``$MOTIONLAYERS_CACHE`` or
            ``~/.cache/motionlayers/flows``).
        progress: show progress bars while computing flow.
        oversample: frames and videos: flow computed at this multiple of ``size``, then resized
            (see `motionlayers.flow.FLOW_OVERSAMPLING`, the default, as in ``segment``).

    Items:
        ``{"flow": (2, H, W) float32 tensor, "source": str, "index": int}``.
    """

    def __init__(
        self,
        root: str | Path,
        size: tuple[int, int] = DEFAULT_WORKING_SIZE,
        backend: str = DEFAULT_FLOW_BACKEND,
        cache_dir: str | Path | None = None,
        progress: bool = True,
        oversample: int = FLOW_OVERSAMPLING,
    ):
        default = Path(os.environ.get("MOTIONLAYERS_CACHE", Path.home() / ".cache/motionlayers"))
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default / "flows"
        self.size = (int(size[0]), int(size[1]))
        self.items: list[tuple[Path, str, int]] = []
        for source, kind in find_sources(root):
            paths = cache_source(
                source, kind, self.size, backend, self.cache_dir, progress, oversample
            )
            self.items += [(path, str(source), i) for i, path in enumerate(paths)]
        if not self.items:
            raise InputError(root, "yielded no flow")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, source, position = self.items[index]
        flow = torch.from_numpy(np.load(path))
        return {"flow": flow, "source": source, "index": position}
