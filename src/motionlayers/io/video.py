"""Video files: the mp4 writer of the overlays (H.264 through PyAV, OpenCV's mp4v fallback)."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from motionlayers.errors import InputError

VIDEO_CODEC = "libx264"
"""Codec of the overlay videos: H.264 (yuv420p, +faststart) plays in browsers, notebooks and on
GitHub. Written through PyAV; OpenCV's mp4v (MPEG-4 part 2, which browsers do not play) is
the fallback when PyAV or its H.264 encoder is missing."""


class NoEncoderError(RuntimeError):
    """PyAV is installed, but its FFmpeg lacks the H.264 encoder."""


class VideoSink:
    """An mp4 writer (H.264 through PyAV, else OpenCV's mp4v) that fails with `InputError`
    instead of silently writing nothing. Frames are ``(H, W, 3)`` uint8 BGR of the ``size``
    given; H.264 needs even sides, so an odd last row or column is repeated."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path = path
        self.size = size
        self.codec = VIDEO_CODEC
        self._container: Any = None
        self._writer: Any = None
        try:
            self._open_h264(fps)
        except (ImportError, NoEncoderError) as error:  # no PyAV, or no H.264 in its FFmpeg
            warnings.warn(
                f"{path}: H.264 unavailable ({error}); writing MPEG-4 part 2 (mp4v), which "
                "browsers do not play",
                stacklevel=2,
            )
            self._open_mp4v(fps)

    def _open_h264(self, fps: float) -> None:
        import av

        if VIDEO_CODEC not in av.codecs_available:
            raise NoEncoderError(f"PyAV's FFmpeg has no {VIDEO_CODEC} encoder")
        height, width = self.size
        try:
            container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        except OSError as error:
            raise InputError(self.path, f"cannot write a video here: {error}") from error
        stream: Any = container.add_stream(VIDEO_CODEC, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        self._container, self._stream = container, stream

    def _open_mp4v(self, fps: float) -> None:
        height, width = self.size
        self.codec = "mp4v"
        self._writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height)
        )
        if not self._writer.isOpened():
            raise InputError(self.path, "OpenCV cannot write an mp4v video here")

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.write(np.ascontiguousarray(frame_bgr))
            return
        import av

        height, width = frame_bgr.shape[:2]
        if height % 2 or width % 2:
            frame_bgr = np.pad(frame_bgr, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Flush and close the file (safe to call twice)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._container is not None:
            container, self._container = self._container, None
            try:
                container.mux(self._stream.encode(None))
            finally:
                container.close()


__all__ = ["VIDEO_CODEC", "NoEncoderError", "VideoSink"]
