"""Motion-compensation EM on events (Stoffregen et al. 2019): recovery of two synthetic layers,
the masks from event weights, the refinement of a network's answer and its guards."""

from __future__ import annotations

import pytest
import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.events.compensation import (
    event_masks,
    gaussian_blur,
    motion_compensation_em,
    refine_window,
    search_translations,
    subpixel_offsets,
)
from motionlayers.events.sharpness import contrast
from motionlayers.events.warp import event_flow, splat

H, W = 48, 48
BACKGROUND, OBJECT = (4.0, 0.0), (-3.0, 5.0)  # pixels per window


def _two_layer_events(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Events of two translating point textures over a window (t in [0, 1]): the background
    everywhere, an object in the central square (its points hide the background there), at
    integer pixels as a sensor's. Returns x, y, t and the true layer of every event."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys, ts, layers = [], [], [], []
    for layer, (u, v), count in ((0, BACKGROUND, 260), (1, OBJECT, 70)):
        low, high = (0.0, W) if layer == 0 else (16.0, 32.0)
        px = low + (high - low) * torch.rand(count, generator=gen)
        py = low + (high - low) * torch.rand(count, generator=gen)
        if layer == 0:  # the object occludes the background's points in its square
            keep = ~((px > 14) & (px < 34) & (py > 14) & (py < 34))
            px, py = px[keep], py[keep]
        t = torch.rand(px.shape[0], 12, generator=gen)  # 12 events per point along its path
        x = torch.round(px[:, None] + t * u).flatten()
        y = torch.round(py[:, None] + t * v).flatten()
        inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        xs.append(x[inside])
        ys.append(y[inside])
        ts.append(t.flatten()[inside])
        layers.append(torch.full((int(inside.sum()),), layer))
    x, y, t, label = (torch.cat(v) for v in (xs, ys, ts, layers))
    order = t.argsort()
    return x[order].double(), y[order].double(), t[order].double(), label[order]


def _theta(*velocities: tuple[float, float]) -> torch.Tensor:
    theta = torch.zeros(len(velocities), 2, 3, dtype=torch.float64)
    for k, (u, v) in enumerate(velocities):
        theta[k, :, 0] = torch.tensor([u, v])
    return theta


def _epe(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, label: torch.Tensor) -> float:
    """Mean end-point error (pixels per window) of each event's own layer's model against the
    true motion of that layer."""
    flow = event_flow(theta.double(), "affine", x, y, H, W)  # (K, 2, N)
    own = flow.gather(0, label[None, None].expand(1, 2, -1))[0]  # (2, N)
    true = torch.tensor([BACKGROUND, OBJECT], dtype=torch.float64)[label].T
    return float((own - true).norm(dim=0).mean())


def test_gaussian_blur_keeps_the_mass_and_zero_sigma_is_identity() -> None:
    image = torch.zeros(2, 21, 21, dtype=torch.float64)
    image[:, 10, 10] = 1.0
    blurred = gaussian_blur(image, 1.5)
    assert blurred.sum().item() == pytest.approx(2.0, abs=1e-9)
    assert blurred[0, 10, 10] < 1 and torch.equal(blurred[0], blurred[0].T)
    assert gaussian_blur(image, 0.0) is image


def test_em_recovers_two_layers_from_a_rough_start() -> None:
    x, y, t, label = _two_layer_events()
    start = _theta((2.5, 1.0), (-1.5, 3.5))  # 1.5-2 px per window off each true motion
    weights = torch.full((2, x.shape[0]), 0.5, dtype=torch.float64)
    weights[1, (x > 12) & (x < 36) & (y > 12) & (y < 36)] = 0.7  # a vague object mask
    weights[0] = 1 - weights[1]
    inputs = (x.clone(), weights.clone(), start.clone())
    result = motion_compensation_em(x, y, t, start, weights, H, W, iterations=4)
    assert torch.equal(x, inputs[0]) and torch.equal(weights, inputs[1])
    assert torch.equal(start, inputs[2])
    assert _epe(start, x, y, label) > 1.5
    assert _epe(result.theta, x, y, label) < 0.75  # events sit on pixels: +-0.5 px of noise
    assert torch.allclose(result.weights.sum(0), torch.ones_like(x))
    accuracy = (result.weights.argmax(0) == label).double().mean()
    assert accuracy > 0.9
    assert result.contrast.shape == (2,) and (result.contrast > 0).all()


def test_em_prefers_the_true_motion_to_the_other_layers() -> None:
    """With the true models, EM keeps them: each layer's contrast exceeds its swapped value."""
    x, y, t, label = _two_layer_events(seed=1)
    weights = torch.nn.functional.one_hot(label, 2).T.double()
    true = _theta(BACKGROUND, OBJECT)
    kept = motion_compensation_em(x, y, t, true, weights, H, W, iterations=2)
    swapped = motion_compensation_em(x, y, t, true.flip(0), weights, H, W, iterations=0)
    assert (kept.theta - true).abs().max() < 0.5
    assert (kept.contrast > swapped.contrast).all()


def test_event_masks_average_the_weights_at_pixels_and_fall_back_far_away() -> None:
    x = torch.tensor([1.0, 1.0, 5.0])
    y = torch.tensor([2.0, 2.0, 5.0])
    weights = torch.tensor([[1.0, 0.0, 0.2], [0.0, 1.0, 0.8]], dtype=torch.float64)
    fallback = torch.zeros(2, 40, 40, dtype=torch.float64)
    fallback[1] = 1.0
    masks = event_masks(x, y, weights, 40, 40, fallback=fallback, sigma=1.0)
    assert masks[:, 2, 1].tolist() == pytest.approx([0.5, 0.5])
    assert masks[:, 5, 5].tolist() == pytest.approx([0.2, 0.8])
    assert masks[:, 35, 35].tolist() == [0.0, 1.0]  # no event near: the fallback
    assert torch.allclose(masks.sum(0), torch.ones(40, 40, dtype=torch.float64))


def test_refine_window_improves_a_network_guess_in_its_dtypes() -> None:
    x, y, t, label = _two_layer_events(seed=2)
    masks = torch.full((2, H, W), 0.5)
    masks[1, 14:34, 14:34] = 0.8  # the right place, unsure
    masks[0] = 1 - masks[1]
    theta = _theta((2.0, 1.0), (-1.0, 3.0)).float()
    refined, motion = refine_window(x, y, t, masks, theta, iterations=4)
    assert refined.dtype == torch.float32 and motion.dtype == torch.float32
    assert refined.shape == masks.shape and motion.shape == theta.shape
    assert _epe(motion, x, y, label) < 0.75 < 1.5 < _epe(theta, x, y, label)
    read = refined[:, y.long(), x.long()].argmax(0)
    assert (read == label).double().mean() > 0.9
    # Soft masks, the borders included (the smoothing's zero padding is renormalised).
    torch.testing.assert_close(refined.sum(0), torch.ones_like(refined[0]))


def test_subpixel_offsets_remove_the_pixel_lattice_peak_of_the_contrast() -> None:
    """Events scattered at random have no motion: on integer pixels the contrast of their IWE
    still peaks at zero motion (no bilinear spreading there); spread inside their pixels, it
    does not. The offsets are reproducible and inside the pixel."""
    gen = torch.Generator().manual_seed(5)
    n = 20_000
    x = torch.randint(0, W, (n,), generator=gen).double()
    y = torch.randint(0, H, (n,), generator=gen).double()
    t = torch.rand(n, generator=gen, dtype=torch.float64)
    dx, dy = subpixel_offsets(n, torch.float64)
    assert torch.equal(dx, subpixel_offsets(n, torch.float64)[0])
    assert dx.min() >= -0.5 and dx.max() < 0.5 and dy.abs().max() <= 0.5

    def image_contrast(u: float, spread: bool) -> float:
        ox, oy = (dx, dy) if spread else (0.0, 0.0)
        image = splat(x + ox - (t - 0.5) * u, y + oy, H, W)
        return float(contrast(gaussian_blur(image, 0.5)))

    lattice = image_contrast(0.0, False) / image_contrast(0.7, False)
    spread = image_contrast(0.0, True) / image_contrast(0.7, True)
    assert lattice > 1.1 and abs(spread - 1) < 0.05  # measured: 1.21 and 0.99


def test_translation_search_finds_motions_far_beyond_the_local_peak() -> None:
    """From zero motion (7 px per window off the object's), the grid finds both layers'
    translations to within its finest step; the inputs are not modified."""
    x, y, t, label = _two_layer_events(seed=3)
    weights = torch.nn.functional.one_hot(label, 2).T.double()
    start = _theta((0.0, 0.0), (0.0, 0.0))
    found = search_translations(x, y, t, start, weights, H, W, span=12.0, steps=13)
    assert torch.equal(start, _theta((0.0, 0.0), (0.0, 0.0)))
    assert (found[:, :, 0] - torch.tensor([BACKGROUND, OBJECT])).abs().max() <= 0.5
    assert torch.equal(found[:, :, 1:], start[:, :, 1:])  # only the translations move
    # The offset is added to the current models: from the truth, the search stays there.
    true = _theta(BACKGROUND, OBJECT)
    again = search_translations(x, y, t, true, weights, H, W, span=12.0, steps=13)
    assert (again - true).abs().max() <= 0.5
    subsampled = search_translations(x, y, t, start, weights, H, W, span=12.0, max_events=2000)
    assert (subsampled[:, :, 0] - torch.tensor([BACKGROUND, OBJECT])).abs().max() <= 1.0


def test_refine_window_recovers_an_object_whose_network_motion_is_far_off() -> None:
    """From an object motion 9.9 px per window off, the search puts EM on the peak's top: on
    these sparse point textures EM alone also gets near but stops 0.2-0.5 px away."""
    x, y, t, label = _two_layer_events(seed=4)
    masks = torch.full((2, H, W), 0.3, dtype=torch.float64)
    masks[1, 14:34, 14:34] = 0.8
    masks[0] = 1 - masks[1]
    theta = _theta((4.0, 0.0), (4.0, -2.0))  # the object's motion 9.9 px per window off
    weights = masks[:, y.long(), x.long()]
    stuck = motion_compensation_em(x, y, t, theta, weights, H, W, iterations=8).theta
    refined, found = refine_window(x, y, t, masks, theta, iterations=4)
    assert _epe(found, x, y, label) < 0.2 < _epe(stuck, x, y, label)
    read = refined[:, y.long(), x.long()].argmax(0)
    assert (read == label).double().mean() > 0.9
    # Soft masks, the borders included (the smoothing's zero padding is renormalised).
    torch.testing.assert_close(refined.sum(0), torch.ones_like(refined[0]))


def test_bad_shapes_fail_clearly() -> None:
    x, y, t, _ = _two_layer_events()
    with pytest.raises(ShapeError, match="weights"):
        motion_compensation_em(x, y, t, _theta((0, 0), (1, 1)), torch.ones(3, 5), H, W)
    with pytest.raises(ShapeError, match="theta"):
        motion_compensation_em(x, y, t, torch.zeros(2, 3), torch.ones(2, x.shape[0]), H, W)
    with pytest.raises(InputError, match="rounds"):
        refine_window(x, y, t, torch.ones(2, H, W), _theta((0, 0), (1, 1)), rounds=-1)
    with pytest.raises(ShapeError, match="weights"):
        search_translations(x, y, t, _theta((0, 0), (1, 1)), torch.ones(3, 5), H, W)


def test_one_home_for_the_contrast_and_the_refinement() -> None:
    """The objectives reuse the event core's measures; the refinement lives in the event core."""
    import motionlayers.events as events
    import motionlayers.losses as losses
    import motionlayers.losses.events as event_losses

    assert event_losses.contrast is contrast is losses.contrast is events.contrast
    assert event_losses.focus is events.focus
    assert events.refine_window is refine_window
    image = torch.tensor([[0.0, 2.0], [0.0, 2.0]])  # mean 1, every pixel 1 away: variance 1
    assert float(contrast(image)) == 1.0
    # Gradient focus: horizontal differences are 2 (mean of 4 / 1), vertical ones 0.
    assert float(events.focus(image, "gradient")) == 4.0
