"""Textured frames of synthetic scenes: consistent with the exact flow, trackable by DIS."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from motionlayers.data import SynthConfig, estimate_flow, generate_layered_flow, generate_sequence

CONFIG = SynthConfig(height=96, width=128, layers=3, max_motion=0.05)


pytestmark = pytest.mark.usefixtures("one_thread")


def _interior(labels: np.ndarray, radius: int = 4) -> np.ndarray:
    """Pixels farther than ``radius`` from a label boundary and from the frame border."""
    kernel = np.ones((3, 3), np.uint8)
    edges = cv2.morphologyEx(labels.astype(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0
    size = 2 * radius + 1
    band = cv2.dilate(edges.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    band[:radius], band[-radius:], band[:, :radius], band[:, -radius:] = True, True, True, True
    return ~band


def test_frames_are_deterministic_and_frame0_matches_labels_and_flow():
    a = generate_layered_flow(CONFIG, seed=1, images=True)
    b = generate_layered_flow(CONFIG, seed=1, images=True)
    flow_only = generate_layered_flow(CONFIG, seed=1)
    assert a.frame0 is not None and a.frame1 is not None and b.frame0 is not None
    assert a.frame0.shape == (96, 128, 3) and a.frame0.dtype == np.uint8
    np.testing.assert_array_equal(a.frame0, b.frame0)
    np.testing.assert_array_equal(a.labels, flow_only.labels)
    np.testing.assert_array_equal(a.flow, flow_only.flow)


def test_frame1_sampled_along_the_exact_flow_gives_frame0():
    scene = generate_layered_flow(CONFIG, seed=2, images=True)
    assert scene.frame0 is not None and scene.frame1 is not None
    ys, xs = np.mgrid[0:96, 0:128].astype(np.float32)
    back = cv2.remap(scene.frame1, xs + scene.flow[0], ys + scene.flow[1], cv2.INTER_LINEAR)
    keep = _interior(scene.labels)
    ok = (xs + scene.flow[0] > 1) & (xs + scene.flow[0] < 126)
    ok &= (ys + scene.flow[1] > 1) & (ys + scene.flow[1] < 94)
    error = np.abs(back.astype(float) - scene.frame0.astype(float)).mean(axis=2)
    # Occluded pixels (covered at frame 1 by a layer in front) differ; the rest match.
    assert np.median(error[keep & ok]) < 2.0


def test_dis_flow_on_generated_pair_is_accurate_away_from_boundaries():
    epes = []
    for seed in range(3):
        scene = generate_layered_flow(CONFIG, seed=seed, images=True)
        assert scene.frame0 is not None and scene.frame1 is not None
        estimated = estimate_flow(scene.frame0, scene.frame1, "dis-medium")
        assert estimated.shape == (2, 96, 128)
        epe = np.hypot(*(estimated - scene.flow))
        epes.append(np.median(epe[_interior(scene.labels)]))
    assert max(epes) < 0.5


def test_sequence_frames_shapes():
    scene = generate_sequence(SynthConfig(height=40, width=56), frames=2, seed=0, images=True)
    assert scene.frames is not None
    assert scene.frames.shape == (3, 40, 56, 3) and scene.frames.dtype == np.uint8
    assert scene.flow.shape == (2, 2, 40, 56)
