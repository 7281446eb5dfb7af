"""NumPy ``.npy`` and ``.npz`` arrays read header first.

`numpy.load` allocates whatever an array's header declares before it reads a byte of data: a
100-byte ``.npy`` that claims ``(100000, 100000, 2)`` float32 asks for 74 GiB, and a 3 MB
``.npz`` member of zeros inflates to gigabytes. Here the header (shape, dtype) is read first and
handed to the caller's ``check`` (which bounds it), then compared with the bytes that are really
there (the file's size, or the zip member's uncompressed size), and only then is the data read,
exactly as many bytes as declared. Pickled (object) arrays are never loaded.

Every problem is an `InputError` naming the file (and the member of an archive).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from motionlayers.errors import InputError

__all__ = ["ArrayHeader", "load_npy", "load_npz", "npz_keys"]


@dataclass(frozen=True)
class ArrayHeader:
    """What an ``.npy`` header declares: ``shape``, ``dtype``, and ``offset`` (header bytes)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares."""
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


Check = Callable[[ArrayHeader], None]
"""``check(header)`` raises `InputError` when the declared array is not acceptable."""


def read_header(name: str | Path, handle: IO[bytes]) -> ArrayHeader:
    """Read the magic string and header of an ``.npy`` stream; ``name`` names it in errors."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(handle)
        else:
            raise InputError(name, f".npy format version {version[0]}.{version[1]} is not read")
    except (ValueError, EOFError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(name, f"not a NumPy .npy array ({error})") from None
    if dtype.hasobject:
        raise InputError(name, "holds Python objects (a pickle), which are never loaded")
    return ArrayHeader(tuple(int(s) for s in shape), dtype, bool(fortran), handle.tell())


_CHUNK = 1 << 24  # bytes read at a time: no second copy of a large array is ever held


def _read_data(name: str | Path, handle: IO[bytes], header: ArrayHeader) -> np.ndarray:
    """Exactly the declared bytes, read straight into the array."""
    flat = np.empty(int(np.prod(header.shape, dtype=np.int64)), dtype=header.dtype)
    view = flat.data.cast("B")
    filled = 0
    while filled < header.nbytes:
        count = handle.readinto(view[filled : filled + _CHUNK])  # type: ignore[attr-defined]
        if not count:
            raise InputError(
                name, f"truncated: the header declares {header.nbytes} data bytes, found {filled}"
            )
        filled += count
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def load_npy(path: str | Path, check: Check) -> np.ndarray:
    """Load the array of an ``.npy`` file once ``check`` accepts its header and the file holds
    the declared bytes."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = read_header(path, handle)
            check(header)
            found = size - header.offset
            if found < header.nbytes:
                raise InputError(
                    path,
                    f"truncated: the header declares {_bytes(header.nbytes)} of data, "
                    f"the file holds {_bytes(found)}",
                )
            return _read_data(path, handle, header)
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None


def npz_keys(path: str | Path) -> list[str]:
    """The array names of an ``.npz`` archive (its members without ``.npy``)."""
    with _archive(path) as archive:
        return [_key(name) for name in archive.namelist()]


def load_npz(path: str | Path, key: str, check: Check) -> np.ndarray:
    """Load array ``key`` of an ``.npz`` archive once ``check`` accepts its header and the zip
    member's declared uncompressed size matches the header (a member that would inflate beyond
    its array is refused before it is decompressed)."""
    where = f"{path} (array {key!r})"
    with _archive(path) as archive:
        names = {_key(name): name for name in archive.namelist()}
        if key not in names:
            raise InputError(path, f"no array named {key!r} (arrays: {', '.join(names)})")
        info = archive.getinfo(names[key])
        try:
            with archive.open(info) as handle:
                header = read_header(where, handle)
                check(header)
                if info.file_size != header.offset + header.nbytes:
                    raise InputError(
                        where,
                        f"corrupt: the header declares {_bytes(header.nbytes)} of data, the "
                        f"archive member {_bytes(info.file_size - header.offset)}",
                    )
                return _read_data(where, handle, header)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            raise InputError(where, f"corrupt archive member: {error}") from None


def _archive(path: str | Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        if Path(path).stat().st_size == 0:
            raise InputError(path, "is empty (0 bytes)") from None
        raise InputError(path, f"not a readable .npz archive ({error})") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None


def _key(name: str) -> str:
    return name[:-4] if name.endswith(".npy") else name


def _bytes(count: int) -> str:
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    if count >= 2**20:
        return f"{count / 2**20:.1f} MiB"
    return f"{count} bytes"
