"""One synthetic layered flow (and its image pair), and flow estimated on generated frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motionlayers.data.layered import LayeredSequence, Seed, SynthConfig, generate_sequence
from motionlayers.defaults import DEFAULT_FLOW_BACKEND
from motionlayers.flow import FlowBackend, get_backend


@dataclass
class LayeredFlow:
    """One synthetic scene (see `motionlayers.data.layered`).

    Attributes:
        flow: ``(2, H, W)`` float32 exact flow from frame 0 to frame 1 (u first, pixels), with the
            corruptions of the config where ``exact`` is False.
        labels: ``(H, W)`` int64 exact labels at frame 0 (0 = background, then depth order).
        theta: ``(K, 2, 6)`` float64 quadratic12 models, one per layer.
        model: ``"quadratic12"``.
        kinds: the kind each layer was drawn as.
        exact: ``(H, W)`` bool, pixels where ``flow`` equals the rendered model of its label.
        frame0, frame1: ``(H, W, 3)`` uint8 RGB images, or None in flow mode.
    """

    flow: np.ndarray
    labels: np.ndarray
    theta: np.ndarray
    model: str
    kinds: list[str]
    exact: np.ndarray
    frame0: np.ndarray | None = None
    frame1: np.ndarray | None = None

    @classmethod
    def from_sequence(cls, sequence: LayeredSequence) -> LayeredFlow:
        """The first step of a one-step `LayeredSequence`."""
        frames = sequence.frames
        return cls(
            flow=sequence.flow[:, 0],
            labels=sequence.labels[0],
            theta=sequence.theta,
            model=sequence.model,
            kinds=sequence.kinds,
            exact=sequence.exact[0],
            frame0=None if frames is None else frames[0],
            frame1=None if frames is None else frames[1],
        )


def generate_layered_flow(
    config: SynthConfig | None = None, seed: Seed = 0, images: bool = False
) -> LayeredFlow:
    """Draw one layered flow with exact labels (and the image pair when ``images``)."""
    return LayeredFlow.from_sequence(generate_sequence(config, 1, seed, images))


def estimate_flow(
    frame0: np.ndarray, frame1: np.ndarray, backend: str | FlowBackend = DEFAULT_FLOW_BACKEND
) -> np.ndarray:
    """Flow estimated by a project backend on generated RGB frames: ``(2, H, W)`` float32.

    Args:
        frame0, frame1: ``(H, W, 3)`` uint8 RGB (as generated).
        backend: a backend name (`motionlayers.flow.available_backends`) or instance.
    """
    estimator = get_backend(backend) if isinstance(backend, str) else backend
    flow = estimator(frame0[:, :, ::-1].copy(), frame1[:, :, ::-1].copy())  # backends take BGR
    return np.ascontiguousarray(flow.transpose(2, 0, 1))
