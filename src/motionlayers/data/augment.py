"""Flow augmentation of thesis 2.3.4: add a random global quadratic motion field.

The thesis adds to each training flow a quadratic field with random parameters; the segmentation
target is unchanged and the EM loss is invariant to it (Theorem 1, appendix 7.1). The thesis does
not say how the parameters are drawn. Our choice ("matched magnitude"): draw the 12 coefficients
i.i.d. standard normal, render the field on the normalised grid, and rescale it so that its mean
per-pixel L1 norm equals ``ratio * mean_i ||f_i||_1`` of the input flow, with ``ratio`` uniform in
``[min_ratio, max_ratio]``. So the added motion is of the flow's own size whatever the dataset's
scale. A zero flow receives no augmentation.

Volumes (thesis ch. 3, 3.4.3): a flow volume ``(B, 2, T, H, W)`` receives one *space-time* field,
the same for all its frames, of a temporal model (``"quadratic12+linear"`` for ST-MS), its
magnitude matched over the whole volume. `corrupt_one_flow` is ch. 3's second augmentation.

Convention: flow ``(B, 2, H, W)`` or ``(2, H, W)``, or a volume ``(B, 2, T, H, W)``, u first,
pixels; coordinates and times in [-1, 1].
"""

from __future__ import annotations

import torch

from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import parse_model, render


def random_global_flow(
    flow: torch.Tensor,
    *,
    model: str = "quadratic12",
    min_ratio: float = 0.0,
    max_ratio: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random parametric field per sample, of magnitude matched to ``flow``.

    Args:
        flow: ``(B, 2, H, W)`` input flows (their magnitude sets the field's), or volumes
            ``(B, 2, T, H, W)`` with a temporal ``model``.
        model: the parametric model of the field (thesis: quadratic; a temporal one such as
            ``"quadratic12+linear"`` for volumes).
        min_ratio, max_ratio: range of the field's mean L1 norm relative to the flow's.
        generator: random source (CPU generator) for reproducibility.

    Returns:
        the global field, shaped as ``flow`` (same dtype/device).
    """
    spec = parse_model(model)
    if flow.ndim not in (4, 5) or flow.shape[1] != 2 or (flow.ndim == 5) != spec.is_temporal:
        want = "(B, 2, T, H, W)" if spec.is_temporal else "(B, 2, H, W)"
        raise ShapeError(f"flow: expected {want} for model {spec}, got {tuple(flow.shape)}")
    if not 0 <= min_ratio <= max_ratio:
        raise InputError("ratio", f"need 0 <= min_ratio <= max_ratio, got {min_ratio}, {max_ratio}")
    batch, height, width = flow.shape[0], flow.shape[-2], flow.shape[-1]
    frames = flow.shape[2] if flow.ndim == 5 else None
    theta = torch.randn(
        batch, 1, 2, spec.basis_size(frames), generator=generator, dtype=torch.float64
    )
    field = render(theta, spec, height, width, frames)[:, 0]  # (B, 2, [T,] H, W)
    sites = tuple(range(1, field.ndim - 1))
    field_norm = field.abs().sum(1).mean(sites).clamp_min(1e-12)  # (B,)
    target = flow.detach().double().cpu().abs().sum(1).mean(sites)
    ratio = min_ratio + (max_ratio - min_ratio) * torch.rand(
        batch, generator=generator, dtype=torch.float64
    )
    field = field * (ratio * target / field_norm).view(batch, *([1] * (field.ndim - 1)))
    return field.to(dtype=flow.dtype, device=flow.device)


def add_global_motion(
    flow: torch.Tensor,
    *,
    model: str = "quadratic12",
    min_ratio: float = 0.0,
    max_ratio: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``flow + random_global_flow(flow)``: the augmented network input and loss target.

    Accepts ``(B, 2, H, W)``, a single ``(2, H, W)`` or volumes ``(B, 2, T, H, W)`` (with a
    temporal ``model``); returns the same shape. The input is not modified.
    """
    single = flow.ndim == 3
    batch = flow.unsqueeze(0) if single else flow
    out = batch + random_global_flow(
        batch, model=model, min_ratio=min_ratio, max_ratio=max_ratio, generator=generator
    )
    return out[0] if single else out


class GlobalMotionAugment:
    """Dataset transform: adds a global field to ``sample["flow"]`` with probability ``p``.

    Works on a sample dict holding ``"flow"`` ``(2, H, W)`` (a tensor or an array); other keys
    (labels) pass through unchanged, since the target segmentation does not change.
    """

    def __init__(
        self,
        p: float = 1.0,
        model: str = "quadratic12",
        min_ratio: float = 0.0,
        max_ratio: float = 1.0,
        seed: int | None = None,
    ):
        self.p, self.model = p, model
        self.min_ratio, self.max_ratio = min_ratio, max_ratio
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()

    def __call__(self, sample: dict) -> dict:
        if float(torch.rand((), generator=self.generator)) >= self.p:
            return sample
        flow = torch.as_tensor(sample["flow"], dtype=torch.float32)
        out = dict(sample)
        out["flow"] = add_global_motion(
            flow,
            model=self.model,
            min_ratio=self.min_ratio,
            max_ratio=self.max_ratio,
            generator=self.generator,
        )
        return out


def corrupt_one_flow(
    flow: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, int]:
    """Ch. 3's second augmentation: one flow of each volume replaced by noise, to mimic a badly
    estimated flow (thesis 3.4.3); `corrupt_run` of one flow. ``-> (volume, index)``."""
    return corrupt_run(flow, 1, generator)


def corrupt_run(
    flow: torch.Tensor, length: int = 1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, int]:
    """``length`` consecutive flows of each volume replaced by noise (ch. 3: one flow of a
    triplet; ch. 4: runs of a few of the nine flows). The same run for the whole batch, its
    start drawn uniformly; each sample's, channel's and flow's noise is Gaussian with that
    flow's own mean and standard deviation (the authors' code scales by the variance, which for
    flows in pixels is a far larger noise: we read it as a slip). Applied to the network's
    *input* only: the loss keeps the true flow.

    ``(B, 2, T, H, W) -> ((B, 2, T, H, W), start)``; the input is not modified.
    """
    if flow.ndim != 5 or flow.shape[1] != 2:
        raise ShapeError(f"flow: expected (B, 2, T, H, W), got {tuple(flow.shape)}")
    if not 1 <= length <= flow.shape[2]:
        raise InputError("length", f"need 1 <= run length <= {flow.shape[2]} flows, got {length}")
    start = int(torch.randint(flow.shape[2] - length + 1, (), generator=generator))
    chosen = flow[:, :, start : start + length]
    mean = chosen.mean((3, 4), keepdim=True)
    single = chosen[0, 0, 0].numel() <= 1
    std = torch.ones_like(mean) if single else chosen.std((3, 4), keepdim=True)
    noise = torch.randn(chosen.shape, generator=generator, dtype=torch.float32)
    out = flow.clone()
    out[:, :, start : start + length] = noise.to(flow.device, flow.dtype) * std + mean
    return out, start
