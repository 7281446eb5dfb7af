"""Frames in and out: a video file or a folder of images, read one frame at a time.

A frame is a NumPy array ``(H, W, 3)`` uint8 in OpenCV's **BGR** order (grey images are
expanded to three channels). Each frame has a *stem* that names its outputs: an image's file
name without extension, or the zero-padded index ``00000, 00001, ...`` for a video.

Missing, empty or undecodable input raises `InputError` naming the file and the problem; the
checks that need no decoding (existence, listing, opening the video and reading its first frame)
happen when `iter_frames` is called, before any frame is consumed. A frame larger than
`motionlayers.limits.MAX_FRAME_PIXELS` is refused from the image's header or the video's
announced size, before it is decoded. What OpenCV's and FFmpeg's video readers print on stderr
about a damaged file is silenced: the `InputError` is the one message.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.listing import list_by_stem
from motionlayers.limits import MAX_FRAME_PIXELS, check_pixels

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
"""Image file extensions a frames folder may hold (case-insensitive); other files are ignored."""


def list_frames(folder: str | Path) -> list[tuple[str, Path]]:
    """List the images of ``folder`` as ``(stem, path)`` in natural order (2 before 10).

    Raises:
        InputError: the folder is missing, holds no image, or two images share a stem.
    """
    return list_by_stem(folder, IMAGE_EXTENSIONS, "image frames")


def read_image(path: str | Path) -> np.ndarray:
    """Read one image as ``(H, W, 3)`` uint8 BGR.

    Raises:
        InputError: the file is missing, unreadable, undecodable, or its header declares more
            than `MAX_FRAME_PIXELS` (checked before decoding).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist" if not path.exists() else "not a file")
    size = image_size(path)
    if size is not None:
        check_pixels(path, *size, what="image")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(path, "cannot decode image (corrupt, truncated or unsupported)")
    check_pixels(path, image.shape[1], image.shape[0], what="image")
    return image


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from an image file's header, without decoding its pixels; None when
    Pillow does not know the format (OpenCV may still read it).

    Raises:
        InputError: the file cannot be read, or declares more pixels than Pillow's own
            decompression-bomb limit.
    """
    try:
        with open_bounded_image(path, "image", limit=None) as image:
            return image.size
    except InputError:
        raise
    except (UnidentifiedImageError, SyntaxError, ValueError):
        return None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror or error}") from None


@contextlib.contextmanager
def open_bounded_image(
    path: Path, what: str, limit: int | None = MAX_FRAME_PIXELS
) -> Iterator[Image.Image]:
    """``PIL.Image.open(path)`` (lazy: only the header is read) once its size is within
    ``limit`` pixels (`motionlayers.limits.check_pixels`; None: unchecked).

    Pillow warns of "decompression bombs" above 89 Mpx and refuses them above 179 Mpx; the bound
    here is far lower and stated, so its warning is silenced and its refusal is an `InputError`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(
            path,
            f"{what} declares more pixels than Pillow's decompression-bomb limit, far beyond "
            f"the maximum of {MAX_FRAME_PIXELS / 1e6:.1f} Mpx",
        ) from None
    with image:
        if limit is not None:
            check_pixels(path, *image.size, limit, what=what)
        yield image


def write_image(path: str | Path, image: np.ndarray, rgb: bool = True) -> None:
    """Write an ``(H, W, 3)`` (or ``(H, W)``) uint8 image atomically; format from the extension.

    Args:
        image: uint8 pixels, RGB order when ``rgb`` (the default), else BGR as OpenCV uses.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ShapeError(
            f"{path}: expected uint8 (H, W, 3) or (H, W), got {image.dtype} {image.shape}"
        )
    if rgb and image.ndim == 3:
        image = image[:, :, ::-1]
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image)):
            raise InputError(path, "OpenCV could not write the image (unknown extension?)")


def frame_count(source: str | Path) -> int | None:
    """The number of frames of a folder, or a video's announced count (None if it gives none)."""
    source = Path(source)
    if source.is_dir():
        return len(list_frames(source))
    capture = open_video(source)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    return count if count > 0 else None


def iter_frames(
    source: str | Path, size: tuple[int, int] | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """Iterate over the frames of a video file or a folder of images.

    Args:
        source: a video file (anything OpenCV's FFmpeg backend reads) or a folder of images.
        size: ``(height, width)`` to resize every frame to (area when shrinking, bilinear when
            enlarging), or None for the original size.

    Yields:
        ``(stem, frame)``, frame ``(H, W, 3)`` uint8 BGR.

    Raises:
        InputError: at the call if the source is missing, an empty folder, a single image, not a
            readable video or a video without frames; during iteration if an image cannot be
            decoded or differs in size from the first frame.
    """
    source = Path(source)
    if size is not None:
        if len(size) != 2 or min(size) <= 0:
            raise InputError("working size", f"expected (height, width) > 0, got {size}")
        check_pixels("working size", size[1], size[0], what="", advice="")
    if not source.exists():
        raise InputError(source, "does not exist")
    if source.is_dir():
        return _resized(_folder_frames(list_frames(source)), size)
    if source.suffix.lower() in IMAGE_EXTENSIONS:
        raise InputError(source, "is a single image; give a video file or a folder of frames")
    if source.stat().st_size == 0:
        raise InputError(source, "is empty (0 bytes)")
    capture = open_video(source)
    if not capture.isOpened():
        raise InputError(source, "cannot be opened as a video (unsupported or corrupt)")
    try:
        width, height = (
            int(capture.get(p)) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT)
        )
        check_pixels(source, width, height, what="video frame")  # announced, before decoding
        ok, first = read_video_frame(capture)
        if not ok or first is None:
            raise InputError(source, "video holds no frames (empty or undecodable)")
        check_pixels(source, first.shape[1], first.shape[0], what="video frame")
    except BaseException:
        capture.release()
        raise
    return _resized(_video_frames(source, capture, first), size)


def read_frames(
    source: str | Path, size: tuple[int, int] | None = None
) -> tuple[list[str], np.ndarray]:
    """Read all frames at once: stems and an array ``(T, H, W, 3)`` uint8 BGR."""
    stems, frames = [], []
    for stem, frame in iter_frames(source, size):
        stems.append(stem)
        frames.append(frame)
    return stems, np.stack(frames)


def open_video(path: str | Path) -> cv2.VideoCapture:
    """``cv2.VideoCapture(path)``, without the messages its readers print on the process's
    stderr for a corrupt file (the caller reports the problem in one line)."""
    with _native_stderr_silenced():
        return cv2.VideoCapture(str(path))


def read_video_frame(capture: cv2.VideoCapture) -> tuple[bool, np.ndarray | None]:
    """``capture.read()``, without FFmpeg's messages about damaged packets (see `open_video`)."""
    with _native_stderr_silenced():
        return capture.read()


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while inside: OpenCV's AVI parser and FFmpeg write
    there directly (``fprintf``, ``av_log``), past Python's ``sys.stderr``."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W[, C])`` to ``size = (height, width)``: area when shrinking, else bilinear."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrink = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def _folder_frames(entries: list[tuple[str, Path]]) -> Iterator[tuple[str, np.ndarray]]:
    first_shape = None
    for stem, path in entries:
        image = read_image(path)
        if first_shape is None:
            first_shape = image.shape
        elif image.shape != first_shape:
            raise InputError(
                path,
                f"size {image.shape[1]}x{image.shape[0]} differs from the first frame's "
                f"{first_shape[1]}x{first_shape[0]}",
            )
        yield stem, image


def _video_frames(
    source: Path, capture: cv2.VideoCapture, first: np.ndarray
) -> Iterator[tuple[str, np.ndarray]]:
    try:
        index, frame = 0, first
        while True:
            yield f"{index:05d}", frame
            ok, following = read_video_frame(capture)
            if not ok or following is None:
                return
            index, frame = index + 1, following
            if frame.shape != first.shape:  # a stream may change resolution midway
                raise InputError(
                    source,
                    f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, the first frame "
                    f"{first.shape[1]}x{first.shape[0]}",
                )
    finally:
        capture.release()


def _resized(
    frames: Iterator[tuple[str, np.ndarray]], size: tuple[int, int] | None
) -> Iterator[tuple[str, np.ndarray]]:
    if size is None:
        return frames
    return ((stem, resize_image(frame, size)) for stem, frame in frames)
