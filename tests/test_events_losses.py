"""Event deblurring objectives: optimum at the true motion, finite gradients, inputs untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionlayers.errors import InputError
from motionlayers.events import event_flow, image_of_warped_events, sample_masks
from motionlayers.losses.events import (
    AverageTimestampLoss,
    ContrastLoss,
    MultiReferenceFocusLoss,
    average_timestamp_loss,
    contrast,
    contrast_loss,
    focus,
    multi_reference_focus_loss,
)

H, W = 30, 40
TRUE = (60.0, -30.0)  # px/s
STEP = 10.0


def moving_pattern(seed: int = 0, n: int = 2000) -> tuple[torch.Tensor, ...]:
    """Events of 40 dots and a vertical edge translating at TRUE px/s for 0.1 s.

    Positions are rounded to pixels, as a sensor does. Returns float64 (x, y, t, p).
    """
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 0.1, n))
    x0 = np.concatenate([rng.uniform(5, 30, 40), np.full(H, 10.0)])
    y0 = np.concatenate([rng.uniform(5, 28, 40), np.arange(H, dtype=float)])
    which = rng.integers(0, len(x0), n)
    x = np.rint(x0[which] + TRUE[0] * t)
    y = np.rint(y0[which] + TRUE[1] * t)
    keep = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    p = np.where(which % 2 == 0, 1.0, -1.0)
    return tuple(torch.from_numpy(a[keep]) for a in (x, y, t, p))


def translation_flow(vx: float, vy: float, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    theta = torch.zeros(1, 1, 2, 3, dtype=torch.float64)
    theta[0, 0, :, 0] = torch.tensor([vx, vy], dtype=torch.float64)
    return event_flow(theta, "affine", x, y, H, W)


def scan(score) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The (vx, vy) of the grid with STEP px/s spacing that minimises ``score(flow)``."""
    x, y, _, _ = moving_pattern()
    best, arg = float("inf"), (0.0, 0.0)
    for vx in TRUE[0] + STEP * np.arange(-3, 4):
        for vy in TRUE[1] + STEP * np.arange(-3, 4):
            value = float(score(translation_flow(vx, vy, x, y)))
            if value < best:
                best, arg = value, (vx, vy)
    return arg


def assert_near_truth(arg: tuple[float, float]) -> None:
    assert abs(arg[0] - TRUE[0]) <= STEP and abs(arg[1] - TRUE[1]) <= STEP, arg


def test_contrast_peaks_at_true_velocity() -> None:
    x, y, t, _ = moving_pattern()
    assert_near_truth(scan(lambda f: contrast_loss(image_of_warped_events(x, y, t, f, H, W))))


def test_average_timestamp_minimal_at_true_velocity() -> None:
    x, y, t, p = moving_pattern()
    assert_near_truth(scan(lambda f: average_timestamp_loss(x, y, t, p, f, H, W)))


def test_average_timestamp_known_answers_and_continuity() -> None:
    # ON events at pixel (1, 1) at t = 0, 1, 1 and at (3, 2) at t = 0.5; OFF at (0, 0) at 0.25
    x = torch.tensor([1.0, 1.0, 1.0, 3.0, 0.0], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0, 2.0, 0.0], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    p = torch.tensor([1.0, 1.0, 1.0, 1.0, -1.0], dtype=torch.float64)
    still = torch.zeros(1, 2, 5, dtype=torch.float64)
    # count: sum_q sum_p S^2 / C / sum_p C; forward ON (4/3 + 1/4) / 4, OFF 1/16; backward
    # ON (1/3 + 1/4) / 4, OFF 9/16
    count = average_timestamp_loss(x, y, t, p, still, 4, 5)
    assert count.item() == pytest.approx(19 / 48 + 1 / 16 + 7 / 48 + 9 / 16)
    # pixels: (4/9 + 1/4 + 1/16) / 3 hit pixels forward, (1/9 + 1/4 + 9/16) / 3 backward
    pixels = average_timestamp_loss(x, y, t, p, still, 4, 5, normalise="pixels")
    assert pixels.item() == pytest.approx(121 / 216)
    assert AverageTimestampLoss(4, 5, "pixels")(x, y, t, p, still).item() == pixels.item()
    # a second layer moves the events to empty pixels; a share of 1e-4 changes little
    flow = torch.stack([still[0], torch.full_like(still[0], 2.0)])  # (K = 2, 2, N)
    for normalise, close in (("count", True), ("pixels", False)):
        loss = [
            average_timestamp_loss(x, y, t, p, flow, 4, 5, w, normalise).item()
            for w in (torch.tensor([[1.0], [0.0]]), torch.tensor([[1 - 1e-4], [1e-4]]))
        ]
        assert (abs(loss[1] - loss[0]) < 1e-3) == close, (normalise, loss)
    with pytest.raises(InputError):
        average_timestamp_loss(x, y, t, p, still, 4, 5, normalise="mean")


def test_multi_reference_focus_minimal_at_true_velocity() -> None:
    x, y, t, _ = moving_pattern()
    assert_near_truth(scan(lambda f: multi_reference_focus_loss(x, y, t, f, H, W)))
    gradient = scan(lambda f: multi_reference_focus_loss(x, y, t, f, H, W, kind="gradient"))
    assert_near_truth(gradient)


def test_zero_flow_gives_unit_focus_ratio() -> None:
    x, y, t, _ = moving_pattern()
    zero = torch.zeros(1, 1, 2, len(x), dtype=torch.float64)
    assert multi_reference_focus_loss(x, y, t, zero, H, W).item() == pytest.approx(1.0)


def test_contrast_is_variance() -> None:
    image = torch.arange(12.0).reshape(1, 3, 4)
    assert contrast(image).item() == pytest.approx(float(np.var(np.arange(12.0))))
    assert contrast_loss(image).item() == pytest.approx(-float(np.var(np.arange(12.0))))
    assert ContrastLoss()(image).item() == contrast_loss(image).item()
    assert focus(torch.ones(2, 3, 3), "gradient").tolist() == [0.0, 0.0]
    with pytest.raises(InputError):
        focus(image, "sharpness")


def test_layered_gradients_finite_and_inputs_unchanged() -> None:
    x, y, t, p = moving_pattern(n=800)
    x, y, t, p = (a.float() for a in (x, y, t, p))
    copies = [a.clone() for a in (x, y, t, p)]
    theta = torch.zeros(2, 2, 2, 3)
    theta[:, 0, :, 0] = torch.tensor([50.0, -20.0])
    theta.requires_grad_()
    logits = torch.randn(2, 2, H, W, requires_grad=True)
    flow = event_flow(theta, "affine", x, y, H, W)  # (2, 2, 2, N)
    weights = sample_masks(torch.softmax(logits, 1), x, y)  # (2, 2, N)
    losses = [
        contrast_loss(image_of_warped_events(x, y, t, flow, H, W, 0.05, weights)),
        average_timestamp_loss(x, y, t, p, flow, H, W, weights),
        multi_reference_focus_loss(x, y, t, flow, H, W, weights),
    ]
    for loss in losses:
        assert loss.ndim == 0 and torch.isfinite(loss)
        theta.grad, logits.grad = None, None
        loss.backward(retain_graph=True)
        assert theta.grad is not None and torch.isfinite(theta.grad).all()
        assert theta.grad.abs().sum() > 0
        assert logits.grad is not None and torch.isfinite(logits.grad).all()
    for old, new in zip(copies, (x, y, t, p)):
        assert torch.equal(old, new)


def test_single_polarity_and_modules_agree() -> None:
    x, y, t, p = moving_pattern(n=300)
    p = torch.ones_like(p)  # no OFF events: empty images must not give NaN
    flow = translation_flow(*TRUE, x, y).requires_grad_()
    loss = average_timestamp_loss(x, y, t, p, flow, H, W)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(flow.grad).all()
    assert AverageTimestampLoss(H, W)(x, y, t, p, flow).item() == loss.item()
    module = MultiReferenceFocusLoss(H, W, references=(0.0, 1.0), kind="gradient")
    direct = multi_reference_focus_loss(x, y, t, flow, H, W, None, (0.0, 1.0), "gradient")
    assert module(x, y, t, flow).item() == direct.item()
    with pytest.raises(InputError):
        multi_reference_focus_loss(x, y, t, flow, H, W, references=())
