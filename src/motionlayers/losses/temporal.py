"""ST-MS losses on flow volumes (thesis ch. 3, eq. 3.4-3.7): per-frame normalised flow
reconstruction and temporal consistency of the masks, with its occlusion masking.

For a volume of ``T`` flows (a triplet in ch. 3), masks ``m = softmax(net(f))`` over ``K`` and
one space-time model ``theta_k`` per segment over the whole volume::

    L_r = 1/T sum_s  [ sum_i sum_k m_k(i,s) |f(i,s) - f_theta_k(i,s)|_1 ] / [ sum_i |f(i,s)|_1 ]
                                                                                    (eq. 3.4)
    L_c = 1/((T-1) K |I|) sum_{s<T-1} sum_i sum_k  keep(i,s) |m_k(i,s) - m_k(i,s+1)|  (eq. 3.5)
    keep(i,s) = [ |f(i,s+1) - f(i,s)|_1 < lambda ],  lambda the (1 - eta) quantile    (eq. 3.6)
    L = L_r + beta L_c,   beta = 1, no entropy term                                     (eq. 3.7)

For a triplet ``L_c`` is eq. 3.5 exactly (its two transitions). The masked sites count as zero
but stay in the mean (the authors' code; the thesis does not say). theta is fitted to the
volume with the masks as weights and detached (`fit_volume_models`): one IRLS fit of the L1
objective of eq. 3.4, whose per-frame normalisation is folded into the weights, so the fit
minimises ``L_r`` itself for the given masks. The authors start from least squares and polish
with L-BFGS; IRLS reaches the same weighted-L1 optimum.

Convention: flow ``(B, 2, T, H, W)`` u first, pixels; masks ``(B, K, T, H, W)`` summing to one
over K; theta ``(B, K, 2, J)`` of a temporal model (``"quadratic12+linear"``: J = 12 per component,
24 parameters).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionlayers.errors import InputError, ShapeError
from motionlayers.motion import fit, parse_model, render

ST_MODEL = "quadratic12+linear"
"""The space-time model of ST-MS (eq. 3.1-3.3): 12 quadratic coefficients, each linear in t."""
LT_MODEL = "quadratic12+spline3"
"""The space-time model of LT-MS (eq. 4.1-4.5): 12 quadratic coefficients, each a cubic
B-spline in t with control points every 3 frames (4 control points, 48 parameters, for T = 9)."""
OCCLUSION_SHARE = 0.01
"""eta of eq. 3.6: the share of sites with the largest temporal flow differences left out."""


def _check(flow: torch.Tensor, masks: torch.Tensor) -> None:
    if flow.ndim != 5 or flow.shape[1] != 2:
        raise ShapeError(f"flow: expected a volume (B, 2, T, H, W), got {tuple(flow.shape)}")
    if masks.ndim != 5 or masks.shape[0] != flow.shape[0] or masks.shape[2:] != flow.shape[2:]:
        raise ShapeError(
            f"masks: expected (B, K, T, H, W) matching flow {tuple(flow.shape)}, "
            f"got {tuple(masks.shape)}"
        )


def frame_norms(flow: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``sum_i |f(i, s)|_1`` of each frame: ``(B, 2, T, H, W) -> (B, T)``, floored at ``eps``
    per site (a still frame would otherwise divide by zero)."""
    sites = flow.shape[-2] * flow.shape[-1]
    return flow.abs().sum(1).flatten(2).sum(2).clamp_min(eps * sites)


def reconstruction_loss(
    flow: torch.Tensor, masks: torch.Tensor, theta: torch.Tensor, model: str = ST_MODEL
) -> torch.Tensor:
    """L_r of eq. 3.4 per sample: ``(B, 2, T, H, W), (B, K, T, H, W), (B, K, 2, J) -> (B,)``.

    Differentiable in the masks (and in theta if it requires grad)."""
    _check(flow, masks)
    frames, height, width = flow.shape[2:]
    spec = parse_model(model)
    fitted = render(theta, spec, height, width, frames if spec.is_temporal else None)
    if not spec.is_temporal:  # one spatial model for every frame of the volume
        fitted = fitted.unsqueeze(3)
    residual = (flow.unsqueeze(1) - fitted).abs().sum(2)  # (B, K, T, H, W)
    per_frame = (masks * residual).sum(1).flatten(2).sum(2)  # (B, T)
    return (per_frame / frame_norms(flow)).mean(1)


def occlusion_keep(flow: torch.Tensor, share: float = OCCLUSION_SHARE) -> torch.Tensor:
    """eq. 3.6: ``(B, 2, T, H, W) -> (B, T - 1, H, W)`` bool, False at the ``share`` of the
    sites (per sample, over all transitions) whose temporal flow difference
    ``|f(i, s+1) - f(i, s)|_1`` is largest (occlusions, flow errors)."""
    if flow.ndim != 5 or flow.shape[1] != 2:
        raise ShapeError(f"flow: expected a volume (B, 2, T, H, W), got {tuple(flow.shape)}")
    if not 0.0 <= share < 1.0:
        raise InputError("share", f"must be in [0, 1), got {share}")
    difference = (flow[:, :, 1:] - flow[:, :, :-1]).abs().sum(1)  # (B, T-1, H, W)
    if share == 0.0 or difference[0].numel() == 0:
        return torch.ones_like(difference, dtype=torch.bool)
    flat = difference.flatten(1)
    # lambda: the value above which ceil(share * N) sites lie (the (1 - share) quantile);
    # kthvalue has no size limit (torch.quantile stops at 16 M values)
    dropped = math.ceil(share * flat.shape[1] - 1e-9)
    threshold = flat.kthvalue(flat.shape[1] - dropped + 1, dim=1).values.view(-1, 1, 1, 1)
    return difference < threshold


def consistency_loss(
    masks: torch.Tensor, flow: torch.Tensor | None = None, share: float = OCCLUSION_SHARE
) -> torch.Tensor:
    """L_c of eq. 3.5 per sample, with the occlusion masking of eq. 3.6 when ``flow`` is given:
    ``(B, K, T, H, W) [, (B, 2, T, H, W)] -> (B,)``, in [0, 1]."""
    if masks.ndim != 5:
        raise ShapeError(f"masks: expected (B, K, T, H, W), got {tuple(masks.shape)}")
    if masks.shape[2] < 2:
        return masks.new_zeros(masks.shape[0])
    change = (masks[:, :, 1:] - masks[:, :, :-1]).abs().mean(1)  # (B, T-1, H, W)
    if flow is not None:
        _check(flow, masks)
        change = change * occlusion_keep(flow, share)
    return change.flatten(1).mean(1)


def fit_volume_models(
    flow: torch.Tensor,
    masks: torch.Tensor,
    model: str = ST_MODEL,
    iterations: int = 10,
    lbfgs_steps: int = 0,
) -> torch.Tensor:
    """theta minimising L_r for the given masks, detached: ``-> (B, K, 2, J)`` (see module doc:
    the per-frame normalisation of eq. 3.4 enters as a weight on each frame)."""
    _check(flow, masks)
    flow = flow.detach()
    weights = masks.detach() / frame_norms(flow)[:, None, :, None, None]
    if not parse_model(model).is_temporal:
        raise InputError("model", f"{model} is not a space-time model (e.g. {ST_MODEL})")
    return fit(flow, weights, model, "l1", iterations=iterations, lbfgs_steps=lbfgs_steps).detach()


def st_loss(
    flow: torch.Tensor,
    masks: torch.Tensor,
    *,
    model: str = ST_MODEL,
    beta: float = 1.0,
    share: float = OCCLUSION_SHARE,
    iterations: int = 10,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """eq. 3.7 with theta fitted and detached: ``(loss (B,), {"reconstruction", "consistency",
    "theta"})``. ``flow`` is the loss target (uncorrupted); ``masks`` the network's output."""
    if not math.isfinite(beta) or beta < 0:
        raise InputError("beta", f"must be a finite number >= 0, got {beta}")
    spec = parse_model(model)
    if spec.is_temporal:
        theta = fit_volume_models(flow, masks, model, iterations)
        reconstruction = reconstruction_loss(flow, masks, theta, model)
    else:  # the ablation "spatial quadratic model per frame (no alpha_k)" of Table 3.1
        theta, reconstruction = _per_frame_fit(flow, masks, model, iterations)
    consistency = consistency_loss(masks, flow, share)
    loss = reconstruction + beta * consistency
    return loss, {"reconstruction": reconstruction, "consistency": consistency, "theta": theta}


def _per_frame_fit(
    flow: torch.Tensor, masks: torch.Tensor, model: str, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One spatial model per segment and frame: theta ``(B, T, K, 2, J)`` and L_r ``(B,)``."""
    batch, _, frames, height, width = flow.shape
    flat_flow = flow.detach().transpose(1, 2).reshape(batch * frames, 2, height, width)
    flat_masks = masks.transpose(1, 2).reshape(batch * frames, -1, height, width)
    theta = fit(flat_flow, flat_masks.detach(), model, "l1", iterations=iterations).detach()
    fitted = render(theta, model, height, width)  # (B T, K, 2, H, W)
    residual = (flat_flow.unsqueeze(1) - fitted).abs().sum(2)
    per_frame = (flat_masks * residual).flatten(1).sum(1).view(batch, frames)
    loss = (per_frame / frame_norms(flow)).mean(1)
    return theta.view(batch, frames, *theta.shape[1:]), loss


class STLoss(nn.Module):
    """Thin module around `st_loss`: ``forward(flow, masks)`` returns the batch mean; the last
    terms are kept in ``self.terms``."""

    def __init__(
        self,
        model: str = ST_MODEL,
        beta: float = 1.0,
        share: float = OCCLUSION_SHARE,
        iterations: int = 10,
    ):
        super().__init__()
        self.model, self.beta, self.share, self.iterations = model, beta, share, iterations
        self.terms: dict[str, torch.Tensor] = {}

    def forward(self, flow: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        loss, self.terms = st_loss(
            flow,
            masks,
            model=self.model,
            beta=self.beta,
            share=self.share,
            iterations=self.iterations,
        )
        return loss.mean()
