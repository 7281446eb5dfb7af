"""End to end: scene -> simulator -> warp -> objectives prefer the scene's true motion."""

from __future__ import annotations

import numpy as np
import torch

from motionlayers.events import event_flow, event_tensors, layer_iwes, sample_masks
from motionlayers.events.scenes import LayeredScene, SceneLayer, random_scene, smooth_texture
from motionlayers.events.simulator import simulate_events
from motionlayers.losses.events import (
    average_timestamp_loss,
    contrast_loss,
    multi_reference_focus_loss,
)

W, H = 64, 48


def simulated(scene: LayeredScene, duration_ms: int = 40) -> tuple[torch.Tensor, ...]:
    times = np.arange(duration_ms + 1) * 1000
    events = simulate_events([scene.frame_at(float(t)) for t in times], times)
    assert len(events) > 3000
    return event_tensors(events, t_origin_us=0, dtype=torch.float64)


def test_losses_prefer_true_translation_of_simulated_texture() -> None:
    rng = np.random.default_rng(0)
    theta = np.array([[200.0, 0.0, 0.0], [-100.0, 0.0, 0.0]])
    scene = LayeredScene([SceneLayer(smooth_texture(rng, 96, 128, 1.5, 0.1, 1.0), theta)], (W, H))
    x, y, t, p = simulated(scene, duration_ms=20)

    def scores(factor: float) -> list[float]:
        th = torch.from_numpy(theta * factor)[None, None]
        flow = event_flow(th, "affine", x, y, H, W)
        iwe = layer_iwes(x, y, t, th, "affine", H, W, t_ref=0.01)
        return [
            contrast_loss(iwe).item(),
            multi_reference_focus_loss(x, y, t, flow, H, W).item(),
            average_timestamp_loss(x, y, t, p, flow, H, W).item(),
        ]

    truth = scores(1.0)
    for factor in (0.0, 0.5, 1.5, -1.0):
        assert all(a < b for a, b in zip(truth, scores(factor))), factor


def test_layered_contrast_prefers_true_layers_of_random_scene() -> None:
    scene = random_scene(4, (W, H), objects=1, duration_s=0.04)
    x, y, t, _ = simulated(scene)
    labels = torch.from_numpy(scene.labels_at(20_000))
    masks = torch.nn.functional.one_hot(labels, 2).permute(2, 0, 1)[None].double()
    theta = torch.from_numpy(scene.theta)[None]  # (1, K, 2, 3) px/s

    def contrast(th: torch.Tensor) -> float:
        return contrast_loss(layer_iwes(x, y, t, th, "affine", H, W, 0.02, masks).sum(1)).item()

    assert contrast(theta) < contrast(torch.zeros_like(theta))
    assert contrast(theta) < contrast(theta.flip(1))  # layers' motions swapped
    weights = sample_masks(masks, x, y, "nearest")
    flow = event_flow(theta, "affine", x, y, H, W)
    focus = multi_reference_focus_loss(x, y, t, flow, H, W, weights).item()
    assert focus < 1.0  # sharper than the unwarped events
