"""Consecutive frames of real videos for the unsupervised loss of flow networks, resized once
and cached (items ``"frame0"``, ``"frame1"`` as `motionlayers.data.flow_pairs` describes)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from motionlayers.data.flow_pairs import _check_index
from motionlayers.data.folders import find_sources
from motionlayers.data.layered import make_rng
from motionlayers.errors import InputError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.frames import IMAGE_EXTENSIONS, iter_frames


def frame_sources(root: Path) -> list[Path]:
    """Videos and folders of frames of ``root`` (`find_sources`: inside a folder of sources,
    an entry with a single frame is not a source and is skipped), with clear errors."""
    try:
        found = find_sources(root)
    except InputError:
        if root.is_dir() and sum(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir()):
            raise InputError(root, "holds a single frame; a pair needs at least two") from None
        if root.is_file() and root.suffix.lower() in IMAGE_EXTENSIONS:
            raise InputError(
                root, "is a single image; give a video or a folder of frames"
            ) from None
        raise
    sources = [path for path, kind in found if kind != "flows"]
    if not sources:
        raise InputError(root, "holds flow files, not frames or videos")
    return sources


def _read_source(source: Path, size: tuple[int, int], cache_dir: Path | None) -> np.ndarray:
    """All frames of ``source`` at ``size``: ``(T, H, W, 3)`` uint8 RGB, from the cache if any.

    The cache file is ``cache_dir/<key>.npy``, the key hashing the resolved path and the size;
    it is written atomically, so a killed run leaves no partial entry."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha1(f"{source.resolve()}|{size[0]}x{size[1]}".encode()).hexdigest()[:16]
        path = cache_dir / f"{key}.npy"
        if path.is_file():
            return np.load(path, mmap_mode="r")
    frames = np.stack([frame[:, :, ::-1] for _stem, frame in iter_frames(source, size)])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.save(tmp, frames)
    return frames


class VideoFramePairs(Dataset):
    """Unlabelled pairs of frames ``gap`` apart from real videos, for unsupervised flow losses.

    Args:
        root: a video, a folder of frames, or a folder whose entries (videos, folders of at
            least two frames) are the sources (`motionlayers.data.folders.find_sources`; folders
            of flow files are skipped).
        size: ``(H, W)`` every frame is resized to, once (area when shrinking).
        gap: frames from ``t`` to ``t + gap`` make a pair.
        cache_dir: where the resized frames are cached (``.npy`` per source); None: in memory.
        flip: flip both frames horizontally for half of the items (fixed per index and seed).
        seed: seed of the flips.
        names: keep only the sources of these names (`sources`); None: all.

    Attributes:
        sources: the names of the sources used (a file's or folder's name), in order.

    Items:
        ``{"frame0", "frame1": (3, H, W) float32 RGB in [0, 1]}``.

    Raises:
        InputError: a missing root, a root with no frames, a source with fewer than
            ``gap + 1`` frames, an unknown name.
    """

    def __init__(
        self,
        root: str | Path,
        size: tuple[int, int],
        gap: int = 1,
        cache_dir: str | Path | None = None,
        flip: bool = True,
        seed: int = 0,
        names: Sequence[str] | None = None,
    ):
        if len(size) != 2 or min(size) < 1:
            raise InputError("size", f"expected (height, width) > 0, got {tuple(size)}")
        if gap < 1:
            raise InputError("gap", f"must be >= 1, got {gap}")
        root = Path(root)
        self.size, self.gap, self.flip, self.seed = (int(size[0]), int(size[1])), gap, flip, seed
        found = {path.name: path for path in frame_sources(root)}
        if names is not None:
            unknown = sorted(set(names) - set(found))
            if unknown:
                raise InputError("names", f"unknown sources {unknown}; valid: {sorted(found)}")
            found = {name: path for name, path in found.items() if name in set(names)}
        self.sources = list(found)
        cache = Path(cache_dir) if cache_dir is not None else None
        self._frames = [_read_source(path, self.size, cache) for path in found.values()]
        self._pairs: list[tuple[int, int]] = []
        for s, (path, frames) in enumerate(zip(found.values(), self._frames)):
            if len(frames) <= gap:
                raise InputError(path, f"has {len(frames)} frame(s); a pair needs {gap + 1}")
            self._pairs += [(s, t) for t in range(len(frames) - gap)]

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        source, start = self._pairs[_check_index(index, len(self._pairs))]
        frames = self._frames[source]
        flipped = self.flip and make_rng((self.seed, index)).uniform() < 0.5
        item = {}
        for key, frame in (("frame0", frames[start]), ("frame1", frames[start + self.gap])):
            image = frame[:, ::-1] if flipped else frame
            tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
            item[key] = tensor.float() / 255
        return item


__all__ = ["VideoFramePairs", "frame_sources"]
