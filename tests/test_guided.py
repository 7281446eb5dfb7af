"""Boundaries snapped to image edges: the guided filter's known answers and `snap_labels`."""

from __future__ import annotations

import numpy as np
import pytest

from motionlayers.errors import InputError, ShapeError
from motionlayers.postprocess import guided_filter, snap_labels


def _two_colour_frame(height: int = 60, width: int = 80, edge: int = 45) -> np.ndarray:
    """A reddish left part and a bluish right part meeting at column ``edge``, mild noise."""
    rng = np.random.default_rng(0)
    frame = np.empty((height, width, 3), np.float64)
    frame[:, :edge] = (40, 60, 200)  # BGR
    frame[:, edge:] = (190, 120, 30)
    frame += rng.normal(0, 4, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("subsample", [1, 2])
def test_constants_and_affine_functions_of_the_guide_pass_unchanged(subsample: int) -> None:
    rng = np.random.default_rng(1)
    guide = rng.random((40, 48, 3)).astype(np.float32)
    constant = np.full((40, 48, 2), 0.3, np.float32)
    out = guided_filter(guide, constant, radius=6, eps=1e-6, subsample=subsample)
    assert np.allclose(out, 0.3, atol=1e-4)
    if subsample == 1:  # exact: the local regression finds a globally affine relation
        affine = (guide @ np.array([0.5, -0.2, 0.1], np.float32) + 0.25)[..., None]
        assert np.allclose(guided_filter(guide, affine, radius=6, eps=1e-8), affine, atol=1e-3)


def test_snapping_moves_a_shifted_boundary_onto_the_colour_edge() -> None:
    frame = _two_colour_frame()
    truth = np.zeros((60, 80), np.uint8)
    truth[:, 45:] = 1
    shifted = np.zeros_like(truth)
    shifted[:, 39:] = 1  # the flow's boundary, 6 pixels off
    snapped = snap_labels(shifted, frame, 2, radius=0.4, eps=1e-4, subsample=1)
    assert snapped.dtype == np.uint8 and snapped.shape == truth.shape
    assert np.array_equal(snapped, truth)
    # A window of radius 12 that straddles 6 wrong columns pulls the boundary half-way over.
    partly = snap_labels(shifted, frame, 2, radius=0.2, eps=1e-4, subsample=1)
    assert (partly != truth).mean() <= 0.5 * (shifted != truth).mean()
    assert np.array_equal(snap_labels(shifted, frame, 2, radius=0.0), shifted)


def test_many_layers_keep_their_labels_where_colours_agree() -> None:
    rng = np.random.default_rng(2)
    frame = np.repeat(np.repeat(rng.integers(0, 255, (4, 4, 3)), 20, 0), 20, 1).astype(np.uint8)
    labels = np.repeat(np.repeat(np.arange(16).reshape(4, 4) % 5, 20, 0), 20, 1)
    snapped = snap_labels(labels, frame, 5, radius=0.1, subsample=2)
    assert (snapped == labels).mean() > 0.95 and snapped.max() < 5


def test_bad_shapes_and_options_fail_clearly() -> None:
    frame = _two_colour_frame()
    with pytest.raises(ShapeError, match="agree"):
        snap_labels(np.zeros((10, 10), np.uint8), frame, 2)
    with pytest.raises(ShapeError, match="guide"):
        guided_filter(np.zeros((5, 5)), np.zeros((5, 5, 1)), 2)
    with pytest.raises(ShapeError, match="source"):
        guided_filter(np.zeros((5, 5, 3)), np.zeros((4, 5, 1)), 2)
    with pytest.raises(InputError, match="radius"):
        guided_filter(np.zeros((5, 5, 3)), np.zeros((5, 5, 1)), 0)
