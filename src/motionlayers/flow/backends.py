"""Optical-flow backends behind one interface, looked up by name.

A backend is called as ``backend(frame0, frame1, stem=None)`` with two frames ``(H, W, 3)`` uint8
BGR or ``(H, W)`` uint8 grey, and returns the forward flow from ``frame0`` to ``frame1``
``(H, W, 2)`` float32, channel 0 = u (along x), channel 1 = v (along y), in pixels: the pixel
``(x, y)`` of ``frame0`` is seen at ``(x + u, y + v)`` in ``frame1``. ``stem`` names ``frame0``;
only the precomputed backend needs it.

Names: ``dis-medium`` (default, OpenCV DIS, medium preset), ``dis-fast``, ``farneback``,
``precomputed`` (flow files from a folder, matched by stem; ``get_backend("precomputed:FOLDER")``
or ``get_backend("precomputed", folder=FOLDER)``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from motionlayers.defaults import DEFAULT_FLOW_BACKEND as DEFAULT_BACKEND
from motionlayers.errors import InputError, ShapeError
from motionlayers.io.flow import FLOW_FORMATS, read_flow


class FlowBackend:
    """Base class: checks the frames, turns them grey and calls `compute`.

    Subclasses implement ``compute(gray0, gray1) -> (H, W, 2)`` on ``(H, W)`` uint8 images.
    """

    name = "base"
    min_side = 1
    """Smallest side of a frame the backend can work on (px)."""
    min_long_side = 1
    """Smallest longer side of a frame (px)."""

    def __call__(
        self, frame0: np.ndarray, frame1: np.ndarray, stem: str | None = None
    ) -> np.ndarray:
        """Forward flow ``(H, W, 2)`` float32 from ``frame0`` to ``frame1`` (see module doc)."""
        gray0, gray1 = _gray(frame0, "frame0"), _gray(frame1, "frame1")
        if gray0.shape != gray1.shape:
            raise ShapeError(f"frames differ in size: {gray0.shape} and {gray1.shape}")
        self.check_size(*gray0.shape)
        flow = self.compute(gray0, gray1)
        return np.ascontiguousarray(flow, dtype=np.float32)

    def check_size(self, height: int, width: int, name: str | None = None) -> None:
        """Raise `InputError` (naming ``name``, default the backend) if frames of ``(height,
        width)`` are too small for the backend (`min_side`, `min_long_side`)."""
        if min(height, width) < self.min_side or max(height, width) < self.min_long_side:
            raise InputError(
                name or f"{self.name} flow",
                f"frames of {width}x{height} are too small: {self.name} needs at least "
                f"{self.min_side} px on each side and {self.min_long_side} px on the longer one "
                "(choose a larger working size)",
            )

    def compute(self, gray0: np.ndarray, gray1: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class DISBackend(FlowBackend):
    """OpenCV Dense Inverse Search (Kroeger et al., ECCV 2016) with a speed/quality preset."""

    PRESETS = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }

    # OpenCV refuses smaller frames ("width or height >= 12", and its 8 px patches).
    min_side = 8
    min_long_side = 12

    def __init__(self, preset: str = "medium"):
        if preset not in self.PRESETS:
            raise InputError("preset", f"unknown DIS preset '{preset}' ({', '.join(self.PRESETS)})")
        self.name = f"dis-{preset}"
        self._dis = cv2.DISOpticalFlow.create(self.PRESETS[preset])

    def compute(self, gray0: np.ndarray, gray1: np.ndarray) -> np.ndarray:
        return self._dis.calc(gray0, gray1, _flow_buffer(gray0))


class FarnebackBackend(FlowBackend):
    """OpenCV Farneback polynomial-expansion flow (Farneback, SCIA 2003), common parameters."""

    name = "farneback"

    def __init__(
        self,
        pyr_scale: float = 0.5,
        levels: int = 5,
        winsize: int = 15,
        iterations: int = 3,
        poly_n: int = 5,
        poly_sigma: float = 1.2,
    ):
        self.params = (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma)

    def compute(self, gray0: np.ndarray, gray1: np.ndarray) -> np.ndarray:
        pyr_scale, levels, winsize, iterations, poly_n, poly_sigma = self.params
        buffer = _flow_buffer(gray0)
        return cv2.calcOpticalFlowFarneback(
            gray0, gray1, buffer, pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, 0
        )


class PrecomputedBackend(FlowBackend):
    """Flow read from ``folder/<stem>.<ext>`` (any of `FLOW_FORMATS`), ``stem`` naming frame0.

    The frames are only checked for shape; the flow is returned at the file's own size (callers
    such as `iter_flows` resize it with `resize_flow`).
    """

    name = "precomputed"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(self.folder, "flow folder does not exist")
        self.files: dict[str, Path] = {}
        for path in sorted(self.folder.iterdir()):
            if path.is_file() and path.suffix.lower().lstrip(".") in FLOW_FORMATS:
                if path.stem in self.files:
                    raise InputError(path, f"has the same stem as {self.files[path.stem].name}")
                self.files[path.stem] = path
        if not self.files:
            known = ", ".join(f".{f}" for f in FLOW_FORMATS)
            raise InputError(self.folder, f"holds no flow files ({known})")

    def __call__(
        self, frame0: np.ndarray, frame1: np.ndarray, stem: str | None = None
    ) -> np.ndarray:
        if stem is None:
            raise InputError("stem", "the precomputed flow backend needs the stem of frame0")
        if stem not in self.files:
            raise InputError(self.folder, f"no flow file for frame '{stem}'")
        return read_flow(self.files[stem])


BACKENDS: dict[str, Callable[..., FlowBackend]] = {
    "dis-medium": lambda: DISBackend("medium"),
    "dis-fast": lambda: DISBackend("fast"),
    "farneback": FarnebackBackend,
    "precomputed": PrecomputedBackend,
}
"""Registry: backend name -> factory taking the backend's keyword options."""


def available_backends() -> list[str]:
    """The names `get_backend` accepts, sorted."""
    return sorted(BACKENDS)


def register_backend(name: str, factory: Callable[..., FlowBackend]) -> None:
    """Add (or replace) a backend factory under ``name``."""
    BACKENDS[name] = factory


def get_backend(name: str | FlowBackend = DEFAULT_BACKEND, **options: object) -> FlowBackend:
    """Build the backend called ``name`` (a backend instance is returned as it is).

    ``"precomputed:FOLDER"`` is short for ``get_backend("precomputed", folder=FOLDER)``.

    Raises:
        InputError: unknown name (the message lists the valid names) or bad options.
    """
    if isinstance(name, FlowBackend):
        return name
    if name.startswith("precomputed:"):
        name, folder = name.split(":", 1)
        options = {"folder": folder, **options}
    if name not in BACKENDS:
        raise InputError(
            "flow backend", f"unknown {name!r}; valid: {', '.join(available_backends())}"
        )
    try:
        return BACKENDS[name](**options)
    except TypeError as error:
        raise InputError("flow backend", f"bad options for '{name}': {error}") from error


def _gray(frame: np.ndarray, what: str) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise InputError(what, f"expected uint8 pixels, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if frame.ndim != 2:
        raise ShapeError(f"{what}: expected (H, W, 3) BGR or (H, W) grey, got {frame.shape}")
    return np.ascontiguousarray(frame)


def _flow_buffer(gray: np.ndarray) -> np.ndarray:
    """The output array OpenCV fills, ``(H, W, 2)`` float32 (no initial flow is used)."""
    return np.zeros((*gray.shape[:2], 2), dtype=np.float32)
