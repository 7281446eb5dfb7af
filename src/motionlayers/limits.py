"""Bounds on what an input file or an option can make motionlayers allocate or loop over.

A file's header or an option's value can ask for any amount of memory or time (a ``.npy`` that
declares 74 GiB, a 3 MB ``.npz`` that inflates to 8 GB, ``--working-size 100000x100000``,
``--window-us 1``). Each bound here is checked where the input is read, *before* the memory is
taken or the loop starts, and a breach is an `InputError` that names the input and states the
bound. ``docs/bad-inputs.md`` lists them with the cases that reach them.

This module imports only the standard library (the command line checks options with it).
Sizes are given ``(width, height)`` here, as they are printed (``WxH``).
"""

from __future__ import annotations

from motionlayers.errors import InputError

MAX_FRAME_PIXELS = 4096 * 4096
"""Largest frame, image or flow field read or decoded (16.8 Mpx: 4096x4096, DCI 4K and UHD
3840x2160 fit). ``segment`` holds a few full-size frames with their upsampled layers and guided
filters at once: about 130 bytes per pixel of a frame (peak memory measured: 0.47 GB for
1024x1024 frames, 0.88 GB for 2048x2048, 8.6 GB for 8000x8000), so frames at this bound take
about 2.5 GB; downscale larger footage first (e.g. ``ffmpeg -vf scale=3840:-2``)."""
MAX_SIDE = 8192
"""Longest side of a frame, flow or sensor (OpenCV's resampling stops at 32767 px a side)."""
MAX_WORKING_PIXELS = 1024 * 1024
"""Largest working size of ``segment`` (1 Mpx, e.g. 1280x720): every frame's flow and soft
masks are kept at this size for the temporal steps, and flow is computed at three times it."""
MAX_WORKING_SIDE = 2048
"""Longest side of a working size."""
MIN_WORKING_SIDE = 8
"""Smallest side of a working size: below it the flow backends and networks have no pixels to
work on (OpenCV DIS needs frames of at least 8 px a side and 12 px on the longer one)."""
MAX_SENSOR_PIXELS = 2048 * 2048
"""Largest event-sensor size (4.2 Mpx; the largest event cameras are 1280x960): windows are
rendered and segmented as ``(H, W)`` images."""
MAX_CLASSICAL_LAYERS = 16
"""Most layers K of the classical methods: each layer adds a motion model fitted at every EM step
(classical-em takes 1.3 s per 128x224 frame with K = 4 and 7 s with K = 16 on two cores, 10
initialisations; the thesis uses K = 2 and 4)."""
MAX_WINDOWS = 100_000
"""Most windows an event recording may be cut into by ``segment`` (each is one network pass
plus refinement, tens of milliseconds to a second)."""
MIN_WINDOW_US = 1_000
"""Shortest window duration (``--window-us``, 1 ms): shorter windows hold too few events to show
motion (EV-LayerSegNet's windows span tens of milliseconds)."""
MIN_WINDOW_EVENTS = 100
"""Fewest events per window (``--window-events``) for the same reason."""
MAX_SEQUENCE_PIXELS = 2**27
"""Most pixels (frames x height x width) of one generated synthetic sequence (134 M: 1 GiB of
float32 flow per channel pair, e.g. 4681 flows of 128x224)."""


def _count(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} Mpx" if pixels >= 100_000 else f"{pixels} px"


def check_pixels(
    source: object,
    width: int,
    height: int,
    limit: int = MAX_FRAME_PIXELS,
    what: str = "frame",
    advice: str = "; downscale it first",
) -> None:
    """Raise `InputError` naming ``source`` if ``width x height`` exceeds ``limit`` pixels or
    `MAX_SIDE` a side; ``what`` names the thing measured (``"frame"``), ``advice`` ends the
    message.

    Example:
        >>> check_pixels("clip.mp4", 640, 480)
    """
    subject = f"{what} of {width}x{height}" if what else f"{width}x{height}"
    if width * height > limit:
        side = int(limit**0.5)
        raise InputError(
            str(source),
            f"{subject} ({_count(width * height)}) is larger than the maximum of {_count(limit)} "
            f"({side}x{side}){advice}",
        )
    if max(width, height) > MAX_SIDE:
        raise InputError(
            str(source), f"{subject} is longer than the maximum of {MAX_SIDE} px a side{advice}"
        )


def check_working_size(size: tuple[int, int] | None, name: str = "working size") -> None:
    """Raise `InputError` unless ``size = (H, W)`` (None: the input's own) lies within
    `MIN_WORKING_SIDE` per side and `MAX_WORKING_PIXELS`."""
    if size is None:
        return
    height, width = (int(v) for v in size)
    if min(height, width) < MIN_WORKING_SIDE:
        raise InputError(
            name,
            f"{width}x{height} (WxH) is too small: each side must be at least "
            f"{MIN_WORKING_SIDE} px",
        )
    if height * width > MAX_WORKING_PIXELS or max(height, width) > MAX_WORKING_SIDE:
        raise InputError(
            name,
            f"{width}x{height} (WxH, {_count(height * width)}) is larger than the maximum of "
            f"{MAX_WORKING_PIXELS} px (e.g. 1280x720 or 1024x1024) and {MAX_WORKING_SIDE} px a "
            "side",
        )


def check_layers(layers: int, limit: int = MAX_CLASSICAL_LAYERS, name: str = "layers") -> None:
    """Raise `InputError` unless ``1 <= layers <= limit``."""
    if layers < 1:
        raise InputError(name, f"must be >= 1, got {layers}")
    if layers > limit:
        raise InputError(name, f"{layers} layers asked; the classical methods take at most {limit}")
