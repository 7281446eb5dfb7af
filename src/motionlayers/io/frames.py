"""Frames in and out: a video file or a folder of images, read one frame at a time.

A frame is a NumPy array ``(H, W, 3)`` uint8 in OpenCV's **BGR** order (grey images are
expanded to three channels). Each frame has a *stem* that names its outputs: an image's file
name without extension, or the zero-padded index ``00000, 00001, ...`` for a video.

Missing, empty or undecodable input raises `InputError` naming the file and the problem; the
checks that need no decoding (existence, listing, opening the video and reading its first frame)
happen when `iter_frames` is called, before any frame is consumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from motionlayers.errors import InputError, ShapeError
from motionlayers.io.atomic import atomic_path
from motionlayers.io.listing import list_by_stem

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
"""Image file extensions a frames folder may hold (case-insensitive); other files are ignored."""


def list_frames(folder: str | Path) -> list[tuple[str, Path]]:
    """List the images of ``folder`` as ``(stem, path)`` in natural order (2 before 10).

    Raises:
        InputError: the folder is missing, holds no image, or two images share a stem.
    """
    return list_by_stem(folder, IMAGE_EXTENSIONS, "image frames")


def read_image(path: str | Path) -> np.ndarray:
    """Read one image as ``(H, W, 3)`` uint8 BGR; raise `InputError` if missing or undecodable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist" if not path.exists() else "not a file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(path, "cannot decode image (corrupt or unsupported)")
    return image


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
    capture = cv2.VideoCapture(str(source))
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
    if size is not None and (len(size) != 2 or min(size) <= 0):
        raise InputError("size", f"expected (height, width) > 0, got {size}")
    if not source.exists():
        raise InputError(source, "does not exist")
    if source.is_dir():
        return _resized(_folder_frames(list_frames(source)), size)
    if source.suffix.lower() in IMAGE_EXTENSIONS:
        raise InputError(source, "is a single image; give a video file or a folder of frames")
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise InputError(source, "cannot be opened as a video (unsupported or corrupt)")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise InputError(source, "video holds no frames (empty or undecodable)")
    return _resized(_video_frames(capture, first), size)


def read_frames(
    source: str | Path, size: tuple[int, int] | None = None
) -> tuple[list[str], np.ndarray]:
    """Read all frames at once: stems and an array ``(T, H, W, 3)`` uint8 BGR."""
    stems, frames = [], []
    for stem, frame in iter_frames(source, size):
        stems.append(stem)
        frames.append(frame)
    return stems, np.stack(frames)


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


def _video_frames(capture: cv2.VideoCapture, first: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    try:
        index, frame = 0, first
        while True:
            yield f"{index:05d}", frame
            ok, frame = capture.read()
            if not ok or frame is None:
                return
            index += 1
    finally:
        capture.release()


def _resized(
    frames: Iterator[tuple[str, np.ndarray]], size: tuple[int, int] | None
) -> Iterator[tuple[str, np.ndarray]]:
    if size is None:
        return frames
    return ((stem, resize_image(frame, size)) for stem, frame in frames)
