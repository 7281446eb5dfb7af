"""Synthetic layered flows: determinism, exact flows per layer, areas, occlusion, corruptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.data import (
    SynthConfig,
    composite,
    generate_layered_flow,
    generate_sequence,
    visible_labels,
)
from motionlayers.errors import InputError
from motionlayers.motion import render, theta_to_params

CONFIG = SynthConfig(height=48, width=80, layers=4)


pytestmark = pytest.mark.usefixtures("one_thread")


def _rendered(theta: np.ndarray, model: str, h: int, w: int, frames: int | None = None):
    return render(torch.as_tensor(theta)[None], model, h, w, frames)[0].numpy().astype(np.float32)


def test_same_seed_same_scene_and_other_seed_differs():
    a = generate_layered_flow(CONFIG, seed=3)
    b = generate_layered_flow(CONFIG, seed=3)
    c = generate_layered_flow(CONFIG, seed=4)
    np.testing.assert_array_equal(a.flow, b.flow)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.kinds == b.kinds
    assert not np.array_equal(a.flow, c.flow)


def test_types_and_shapes():
    scene = generate_layered_flow(CONFIG, seed=0)
    k = len(scene.theta)
    assert scene.flow.shape == (2, 48, 80) and scene.flow.dtype == np.float32
    assert scene.labels.shape == (48, 80) and scene.labels.dtype == np.int64
    assert scene.theta.shape == (k, 2, 6) and scene.model == "quadratic12"
    assert 2 <= k <= 4 and len(scene.kinds) == k
    assert set(np.unique(scene.labels)) == set(range(k))
    assert scene.exact.all() and scene.frame0 is None


@pytest.mark.parametrize("seed", range(6))
def test_flow_is_exactly_the_rendered_model_of_each_label(seed):
    scene = generate_layered_flow(CONFIG, seed=seed)
    layers = _rendered(scene.theta, scene.model, 48, 80)  # (K, 2, H, W)
    for k in range(len(scene.theta)):
        inside = scene.labels == k
        np.testing.assert_array_equal(scene.flow[:, inside], layers[k][:, inside])


@pytest.mark.parametrize("seed", range(8))
def test_object_areas_within_bounds_and_motions_bounded(seed):
    config = SynthConfig(height=48, width=80, layers=5)
    scene = generate_layered_flow(config, seed=seed)
    areas = np.bincount(scene.labels.ravel()) / scene.labels.size
    assert np.all(areas[1:] >= 0.02) and np.all(areas[1:] <= 0.40)
    assert areas[0] >= 0.25
    # background <= 10 % of the width; objects too, plus the contrast shift (2 px)
    assert np.hypot(*scene.flow).max() <= 0.1 * 80 * 1.05 + 2.0
    layers = _rendered(scene.theta, scene.model, 48, 80)
    for k in range(1, len(scene.theta)):
        inside = scene.labels == k
        gap = np.hypot(*(layers[k] - layers[0]))[inside]
        assert gap.mean() >= 0.99  # min_contrast = 1 px (measured on the frame-0 support)


def test_model_kinds_are_respected():
    for seed in range(10):
        scene = generate_layered_flow(CONFIG, seed=seed)
        assert scene.kinds[0] in ("quadratic12", "quadratic8")
        for kind, theta in zip(scene.kinds, scene.theta):
            if kind == "affine":
                np.testing.assert_array_equal(theta[:, 3:], 0.0)
            if kind == "quadratic8":  # the planar-rigid tie holds exactly
                t = torch.as_tensor(theta)
                params = theta_to_params(t, "quadratic8", 48, 80)
                back = torch.as_tensor(np.asarray(params))
                from motionlayers.motion import params_to_theta

                np.testing.assert_allclose(
                    params_to_theta(back, "quadratic8", 48, 80), t, atol=1e-9
                )


def test_occlusion_follows_depth_order():
    supports = np.zeros((3, 6, 6), dtype=bool)
    supports[0] = True
    supports[1, 1:4, 1:4] = True
    supports[2, 2:5, 2:5] = True
    expected = np.zeros((6, 6), dtype=np.int64)
    expected[1:4, 1:4] = 1
    expected[2:5, 2:5] = 2
    np.testing.assert_array_equal(visible_labels(supports), expected)
    labels, image = composite(supports, None)
    np.testing.assert_array_equal(labels, expected)
    assert image is None


def test_corruptions_touch_only_non_exact_pixels():
    clean = generate_layered_flow(CONFIG, seed=5)
    config = SynthConfig(height=48, width=80, layers=4, boundary_blur=1.5, outliers=3)
    noisy = generate_layered_flow(config, seed=5)
    np.testing.assert_array_equal(noisy.labels, clean.labels)
    np.testing.assert_array_equal(noisy.flow[:, noisy.exact], clean.flow[:, noisy.exact])
    assert 0 < (~noisy.exact).sum() < noisy.exact.size
    assert not np.array_equal(noisy.flow, clean.flow)
    gauss = generate_layered_flow(SynthConfig(height=48, width=80, noise_std=0.5), seed=5)
    assert not gauss.exact.any()


def test_bad_configs_raise():
    with pytest.raises(InputError):
        SynthConfig(layers=1)
    with pytest.raises(InputError):
        SynthConfig(layers=30, min_area=0.05)
    with pytest.raises(InputError):
        generate_sequence(CONFIG, frames=0)


def test_sequence_flows_are_linear_in_time_models_and_objects_follow_them():
    frames = 4
    scene = generate_sequence(CONFIG, frames=frames, seed=2)
    k = len(scene.theta)
    assert scene.model == "quadratic12+linear" and scene.theta.shape == (k, 2, 12)
    assert scene.flow.shape == (2, frames, 48, 80) and scene.labels.shape == (frames, 48, 80)
    layers = _rendered(scene.theta, scene.model, 48, 80, frames)  # (K, 2, T, H, W)
    for step in range(frames):
        for layer in range(k):
            inside = scene.labels[step] == layer
            np.testing.assert_array_equal(
                scene.flow[:, step][:, inside], layers[layer][:, step][:, inside]
            )
    # Each object pixel of frame s lands, moved by its flow, on the same object at frame s + 1
    # (or on an object in front of it, or outside the frame).
    for step in range(frames - 1):
        ys, xs = np.nonzero(scene.labels[step] > 0)
        tx = np.round(xs + scene.flow[0, step, ys, xs]).astype(int)
        ty = np.round(ys + scene.flow[1, step, ys, xs]).astype(int)
        inside = (tx >= 0) & (tx < 80) & (ty >= 0) & (ty < 48)
        before = scene.labels[step, ys, xs][inside]
        after = scene.labels[step + 1, ty[inside], tx[inside]]
        assert np.mean(after >= before) > 0.95
