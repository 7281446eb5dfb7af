"""Optical-flow backends behind one interface, looked up by name.

A backend is called as ``backend(frame0, frame1, stem=None)`` with two frames ``(H, W, 3)`` uint8
BGR or ``(H, W)`` uint8 grey, and returns the forward flow from ``frame0`` to ``frame1``
``(H, W, 2)`` float32, channel 0 = u (along x), channel 1 = v (along y), in pixels: the pixel
``(x, y)`` of ``frame0`` is seen at ``(x + u, y + v)`` in ``frame1``. ``stem`` names ``frame0``;
only the precomputed backend needs it.

Grey backends (``colour = False``) compute on ``(H, W)`` grey images; colour backends
(``colour = True``, e.g. learned networks) receive the ``(H, W, 3)`` uint8 BGR frames unchanged
(grey frames are replicated to three channels). A backend with ``batch_size > 1`` computes
several pairs in one `FlowBackend.compute_pairs` call (`iter_flows` gathers them).

Names: ``dis-medium`` (default, OpenCV DIS, medium preset), ``dis-fast``, ``dis-fine`` (DIS tuned
by measurement, see `DISBackend.PRESETS`), ``farneback``, ``precomputed`` (flow files from a
folder, matched by stem; ``get_backend("precomputed:FOLDER")`` or ``get_backend("precomputed",
folder=FOLDER)``), ``raft`` (RAFT through ptlflow or torchvision with the user's checkpoint;
``get_backend("raft:CHECKPOINT")``, see `motionlayers.flow.raft`), ``soflow`` and ``raft-small``
(the project's trained flow networks, `motionlayers.methods.flow_backend`; ``soflow:WEIGHTS``
for a model of one's own).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from motionlayers.defaults import DEFAULT_FLOW_BACKEND as DEFAULT_BACKEND
from motionlayers.defaults import DIS_FINE_SETTINGS
from motionlayers.errors import InputError, ShapeError
from motionlayers.io.flow import FLOW_FORMATS, read_flow


class FlowBackend:
    """Base class: checks the frames, converts them (grey or colour) and calls `compute`.

    Subclasses implement ``compute(image0, image1) -> (H, W, 2)`` on ``(H, W)`` uint8 grey
    images, or on ``(H, W, 3)`` uint8 BGR images when `colour` is True. A backend that computes
    several pairs at once sets `batch_size` and overrides `compute_pairs` (using
    `prepare_pairs` for the checks).
    """

    name = "base"
    colour = False
    """True: `compute` receives ``(H, W, 3)`` uint8 BGR frames (grey frames replicated to three
    channels); False: ``(H, W)`` uint8 grey."""
    batch_size = 1
    """Pairs `iter_flows` gathers for one `compute_pairs` call (1: one call per pair)."""
    min_side = 1
    """Smallest side of a frame the backend can work on (px)."""
    min_long_side = 1
    """Smallest longer side of a frame (px)."""

    def __call__(
        self, frame0: np.ndarray, frame1: np.ndarray, stem: str | None = None
    ) -> np.ndarray:
        """Forward flow ``(H, W, 2)`` float32 from ``frame0`` to ``frame1`` (see module doc)."""
        image0, image1 = self.prepare(frame0, frame1)
        return _as_flow(self.compute(image0, image1))

    def compute_pairs(
        self,
        frames0: list[np.ndarray],
        frames1: list[np.ndarray],
        stems: list[str] | None = None,
    ) -> list[np.ndarray]:
        """Forward flows ``[(H, W, 2)]`` float32, one per pair ``(frames0[i], frames1[i])``.

        The frames are as `__call__` takes them. With `batch_size` 1 each pair is one
        `__call__` (with ``stems[i]``, which the precomputed backend needs); otherwise the
        checked pairs (`prepare_pairs`) go to `compute_batch` ``batch_size`` at a time.

        Raises:
            ShapeError: the lists differ in length, or the frames of a pair differ in size.
            InputError: a frame is not uint8 or too small (see `__call__`).
        """
        _check_lengths(frames0, frames1)
        if stems is not None and len(stems) != len(frames0):
            raise ShapeError(f"{len(stems)} stems for {len(frames0)} frame pairs")
        if self.batch_size == 1:
            named = stems if stems is not None else [None] * len(frames0)
            return [self(a, b, stem=stem) for a, b, stem in zip(frames0, frames1, named)]
        images0, images1 = self.prepare_pairs(frames0, frames1)
        flows: list[np.ndarray] = []
        for start in range(0, len(images0), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            flows.extend(_as_flow(f) for f in self.compute_batch(images0[chunk], images1[chunk]))
        return flows

    def compute_batch(self, images0: list[np.ndarray], images1: list[np.ndarray]) -> list:
        """Flows of up to `batch_size` prepared pairs of one size (`compute`'s inputs); a
        batching backend overrides this (default: `compute` on each pair)."""
        return [self.compute(image0, image1) for image0, image1 in zip(images0, images1)]

    def prepare(self, frame0: np.ndarray, frame1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two frames checked and converted as `compute` takes them (see `colour`)."""
        convert = _bgr if self.colour else _gray
        image0, image1 = convert(frame0, "frame0"), convert(frame1, "frame1")
        if image0.shape != image1.shape:
            raise ShapeError(f"frames differ in size: {image0.shape} and {image1.shape}")
        self.check_size(*image0.shape[:2])
        return image0, image1

    def prepare_pairs(
        self, frames0: list[np.ndarray], frames1: list[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """`prepare` for each pair; all pairs must share one size (they are batched)."""
        _check_lengths(frames0, frames1)
        pairs = [self.prepare(frame0, frame1) for frame0, frame1 in zip(frames0, frames1)]
        sizes = {image0.shape for image0, _ in pairs}
        if len(sizes) > 1:
            raise ShapeError(f"frame pairs of one batch differ in size: {sorted(sizes)}")
        return [image0 for image0, _ in pairs], [image1 for _, image1 in pairs]

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

    def compute(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class DISBackend(FlowBackend):
    """OpenCV Dense Inverse Search (Kroeger et al., ECCV 2016): a preset plus keyword overrides.

    Args:
        preset: a key of `PRESETS`: OpenCV's ``ultrafast``, ``fast``, ``medium``, or ``fine``
            (the medium preset with the overrides of `TUNED`, chosen by measurement).
        **settings: overrides on top of the preset, named as in `SETTINGS` (e.g.
            ``patch_size=12, variational_iterations=10``).

    Raises:
        InputError: an unknown preset or setting name, or a value out of its range.
    """

    PRESETS = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }
    TUNED: dict[str, dict[str, int | float | bool]] = {"fine": dict(DIS_FINE_SETTINGS)}
    """Overrides that a named preset adds to its OpenCV preset (see `DIS_FINE_SETTINGS`)."""
    SETTINGS: dict[str, tuple[str, type, float]] = {
        "patch_size": ("setPatchSize", int, 1),
        "patch_stride": ("setPatchStride", int, 1),
        "finest_scale": ("setFinestScale", int, 0),
        "coarsest_scale": ("setCoarsestScale", int, -1),
        "gradient_descent_iterations": ("setGradientDescentIterations", int, 1),
        "variational_iterations": ("setVariationalRefinementIterations", int, 0),
        "variational_alpha": ("setVariationalRefinementAlpha", float, 0.0),
        "variational_delta": ("setVariationalRefinementDelta", float, 0.0),
        "variational_gamma": ("setVariationalRefinementGamma", float, 0.0),
        "mean_normalization": ("setUseMeanNormalization", bool, 0),
        "spatial_propagation": ("setUseSpatialPropagation", bool, 0),
    }
    """Setting name -> (OpenCV setter, type, smallest value)."""

    # OpenCV refuses smaller frames ("width or height >= 12", and its 8 px patches); with
    # larger patches, a side of one patch and a longer side of 1.5 patches (measured: patch 12
    # needs 12x17, patch 16 16x23).
    min_side = 8
    min_long_side = 12

    def __init__(self, preset: str = "medium", **settings: int | float | bool):
        if preset not in self.PRESETS:
            raise InputError("preset", f"unknown DIS preset '{preset}' ({', '.join(self.PRESETS)})")
        self.name = f"dis-{preset}"
        self.settings = {**self.TUNED.get(preset, {}), **settings}
        self._dis = cv2.DISOpticalFlow.create(self.PRESETS[preset])
        for key, value in self.settings.items():
            setter, kind = _dis_setting(key, value, self.SETTINGS)
            getattr(self._dis, setter)(kind(value))
        patch = self._dis.getPatchSize()
        self.min_side = max(self.min_side, patch)
        self.min_long_side = max(self.min_long_side, -(-3 * patch // 2))

    def compute(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        return self._dis.calc(image0, image1, _flow_buffer(image0))

    def __repr__(self) -> str:
        extra = "".join(f", {key}={value!r}" for key, value in self.settings.items())
        return f"{type(self).__name__}(name={self.name!r}{extra})"


def _dis_setting(
    key: str, value: object, table: dict[str, tuple[str, type, float]]
) -> tuple[str, type]:
    """The setter and type of DIS setting ``key`` once ``value`` is checked against it."""
    if key not in table:
        raise InputError("dis setting", f"unknown '{key}'; valid: {', '.join(sorted(table))}")
    setter, kind, low = table[key]
    if kind is bool:
        if not isinstance(value, bool | np.bool_):
            raise InputError(key, f"expected True or False, got {value!r}")
    elif (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or (kind is int and float(value) != int(value))
        or not np.isfinite(value)
        or value < low
    ):
        what = "an integer" if kind is int else "a finite number"
        raise InputError(key, f"expected {what} >= {low:g}, got {value!r}")
    return setter, kind


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


def _raft(checkpoint: str | Path | None = None, **options: object) -> FlowBackend:
    """`motionlayers.flow.raft.RAFTBackend`, imported only when asked for."""
    if checkpoint is None:
        raise InputError(
            "flow backend",
            "raft needs a checkpoint file of RAFT weights (none ship with motionlayers): "
            "--flow raft:PATH, or get_backend('raft', checkpoint=PATH)",
        )
    from motionlayers.flow.raft import RAFTBackend

    return RAFTBackend(checkpoint, **options)  # type: ignore[arg-type]


def _plugin(reference: str) -> Callable[..., FlowBackend]:
    """A factory defined above flow/ (a learned network in `motionlayers.methods`), imported
    on first use from its ``"module:attribute"`` path: flow/ never imports the layers that
    build on it (DESIGN.md), and naming a backend costs nothing until it is built."""

    def factory(**options: object) -> FlowBackend:
        module, _, attribute = reference.partition(":")
        return getattr(importlib.import_module(module), attribute)(**options)

    return factory


BACKENDS: dict[str, Callable[..., FlowBackend]] = {
    "dis-fast": lambda **settings: DISBackend("fast", **settings),
    "dis-fine": lambda **settings: DISBackend("fine", **settings),
    "dis-medium": lambda **settings: DISBackend("medium", **settings),
    "farneback": FarnebackBackend,
    "precomputed": PrecomputedBackend,
    "raft": _raft,
    "raft-small": _plugin("motionlayers.methods.flow_backend:raft_small_backend"),
    "soflow": _plugin("motionlayers.methods.flow_backend:soflow_backend"),
}
"""Registry: backend name -> factory taking the backend's keyword options."""

VALUE_OPTIONS: dict[str, str] = {
    "precomputed": "folder",
    "raft": "checkpoint",
    "raft-small": "weights",
    "soflow": "weights",
}
"""Backends spelled ``NAME:VALUE`` -> the option VALUE sets (``precomputed:FOLDER``,
``raft:CHECKPOINT``, ``soflow:WEIGHTS``)."""


def available_backends() -> list[str]:
    """The names `get_backend` accepts, sorted."""
    return sorted(BACKENDS)


def register_backend(
    name: str, factory: Callable[..., FlowBackend], value_option: str | None = None
) -> None:
    """Add (or replace) a backend factory under ``name``; with ``value_option``,
    ``"NAME:VALUE"`` is short for ``get_backend(NAME, **{value_option: VALUE})``."""
    BACKENDS[name] = factory
    if value_option is not None:
        VALUE_OPTIONS[name] = value_option


def get_backend(name: str | FlowBackend = DEFAULT_BACKEND, **options: object) -> FlowBackend:
    """Build the backend called ``name`` (a backend instance is returned as it is).

    ``"NAME:VALUE"`` sets the option of `VALUE_OPTIONS` for NAME: ``"precomputed:FOLDER"`` is
    short for ``get_backend("precomputed", folder=FOLDER)``, ``"raft:PATH"`` for
    ``get_backend("raft", checkpoint=PATH)``.

    Raises:
        InputError: unknown name (the message lists the valid names) or bad options.
    """
    if isinstance(name, FlowBackend):
        return name
    prefix, colon, value = name.partition(":")
    if colon and prefix in VALUE_OPTIONS:
        if not value:
            raise InputError("flow backend", f"'{name}' names no {VALUE_OPTIONS[prefix]}")
        name, options = prefix, {VALUE_OPTIONS[prefix]: value, **options}
    if name not in BACKENDS:
        raise InputError(
            "flow backend", f"unknown {name!r}; valid: {', '.join(available_backends())}"
        )
    try:
        return BACKENDS[name](**options)
    except TypeError as error:
        raise InputError("flow backend", f"bad options for '{name}': {error}") from error


def _gray(frame: np.ndarray, what: str) -> np.ndarray:
    """``(H, W)`` uint8 grey from ``(H, W, 3)`` BGR, ``(H, W, 1)`` or ``(H, W)``."""
    frame = _checked(frame, what)
    if frame.ndim == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(frame)


def _bgr(frame: np.ndarray, what: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR as given (grey replicated to three channels)."""
    frame = _checked(frame, what)
    if frame.ndim == 2:
        return np.ascontiguousarray(np.repeat(frame[:, :, None], 3, axis=2))
    return np.ascontiguousarray(frame)


def _checked(frame: np.ndarray, what: str) -> np.ndarray:
    """``frame`` as uint8 ``(H, W, 3)`` or ``(H, W)`` (a single channel is squeezed)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise InputError(what, f"expected uint8 pixels, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ShapeError(f"{what}: expected (H, W, 3) BGR or (H, W) grey, got {frame.shape}")
    return frame


def _check_lengths(frames0: list[np.ndarray], frames1: list[np.ndarray]) -> None:
    if len(frames0) != len(frames1):
        raise ShapeError(f"{len(frames0)} first frames for {len(frames1)} second frames")


def _as_flow(flow: np.ndarray) -> np.ndarray:
    """A backend's result as contiguous ``(H, W, 2)`` float32."""
    return np.ascontiguousarray(flow, dtype=np.float32)


def _flow_buffer(image: np.ndarray) -> np.ndarray:
    """The output array OpenCV fills, ``(H, W, 2)`` float32 (no initial flow is used)."""
    return np.zeros((*image.shape[:2], 2), dtype=np.float32)
