"""EM flow-reconstruction loss with entropy (thesis ch. 2, eq. 2.12-2.17; eq. 4.4).

For masks ``m = softmax(net(f))`` and per-layer models ``theta`` fitted to the flow with the masks
as weights (then detached, eq. 2.16-2.17), the loss of one sample is (eq. 2.15, constant
``I log(K Z)`` dropped since it depends on neither ``m`` nor ``theta``, Theorem 2)::

    L = (1 / alpha) * sum_i sum_k m_ik delta(f_i, theta_k c(i)) / N_data
        + sum_i sum_k m_ik log m_ik / I

Normalisation (``normalise``):
    ``"pixels"`` (default): ``N_data = I``, the number of sites, so the loss is a per-pixel mean
        of eq. 2.15 divided by I. alpha = 1e-2 as in the thesis then weighs residuals in pixels.
    ``"flow"``: eq. 4.4, ``N_data = sum_i ||f_i||_1`` (the data term is a relative residual,
        invariant to the flow's scale); the entropy stays a per-pixel mean.
    ``"none"``: ``N_data = I = 1``: eq. 2.15 verbatim (sums).

Convention: flow ``(B, 2, H, W)`` u first, pixels; masks ``(B, K, H, W)`` summing to 1 over K;
theta ``(B, K, 2, J)`` (see `motionlayers.motion`). Volumes ``(B, 2, T, H, W)`` work the same.
"""

from __future__ import annotations

import torch
from torch import nn

from motionlayers.errors import InputError, ShapeError, check_choice
from motionlayers.motion import fit, weighted_loss

NORMALISATIONS = ("pixels", "flow", "none")


def negative_entropy(masks: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``sum_i sum_k m_ik log m_ik`` per sample: ``(B, K, *S) -> (B,)`` (<= 0)."""
    return (masks * masks.clamp_min(eps).log()).flatten(1).sum(1)


def _check(flow: torch.Tensor, masks: torch.Tensor) -> None:
    if flow.ndim not in (4, 5) or flow.shape[1] != 2:
        raise ShapeError(f"flow: expected (B, 2, H, W) or (B, 2, T, H, W), got {tuple(flow.shape)}")
    if (
        masks.ndim != flow.ndim
        or masks.shape[0] != flow.shape[0]
        or masks.shape[2:] != flow.shape[2:]
    ):
        raise ShapeError(
            f"masks: expected (B, K, ...) matching flow {tuple(flow.shape)}, "
            f"got {tuple(masks.shape)}"
        )


def em_loss(
    flow: torch.Tensor,
    masks: torch.Tensor,
    theta: torch.Tensor,
    *,
    model: str = "quadratic12",
    distance: str = "l1",
    alpha: float = 1e-2,
    normalise: str = "pixels",
    eps: float = 1e-6,
) -> torch.Tensor:
    """EM loss for given models ``theta`` (see module doc).

    Args:
        flow: ``(B, 2, H, W)`` (or a volume ``(B, 2, T, H, W)`` with a temporal model).
        masks: ``(B, K, H, W)`` soft masks (differentiable).
        theta: ``(B, K, 2, J)`` models; the gradient reaches them only if they require it.
        model, distance: as in `motionlayers.motion.fit` (``l1``, ``l2``, ``squared``).
        alpha: likelihood scale of eq. 2.10 (thesis: 1e-2).
        normalise: ``"pixels"``, ``"flow"`` (eq. 4.4) or ``"none"``.
        eps: floor of the flow norm in ``"flow"`` normalisation.

    Returns:
        ``(B,)`` per-sample losses.
    """
    _check(flow, masks)
    check_choice(normalise, NORMALISATIONS, "normalise")
    if alpha <= 0:
        raise InputError("alpha", f"must be > 0, got {alpha}")
    data = weighted_loss(flow, masks, theta, model=model, distance=distance).sum(1)  # (B,)
    entropy = negative_entropy(masks)
    sites = float(flow[0, 0].numel())
    if normalise == "none":
        return data / alpha + entropy
    if normalise == "flow":
        norm = flow.abs().flatten(1).sum(1).clamp_min(eps)
        return data / (alpha * norm) + entropy / sites
    return (data / alpha + entropy) / sites


def fit_models(
    flow: torch.Tensor,
    masks: torch.Tensor,
    *,
    model: str = "quadratic12",
    distance: str = "l1",
    iterations: int = 10,
) -> torch.Tensor:
    """E-step stand-in: models fitted to ``flow`` weighted by ``masks``, detached (eq. 2.16).

    ``(B, 2, H, W), (B, K, H, W) -> (B, K, 2, J)``.
    """
    _check(flow, masks)
    return fit(flow.detach(), masks.detach(), model, distance, iterations=iterations).detach()


def em_loss_fitted(
    flow: torch.Tensor,
    masks: torch.Tensor,
    *,
    model: str = "quadratic12",
    distance: str = "l1",
    alpha: float = 1e-2,
    normalise: str = "pixels",
    iterations: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit theta (detached), then the EM loss: returns ``(loss (B,), theta (B, K, 2, J))``."""
    theta = fit_models(flow, masks, model=model, distance=distance, iterations=iterations)
    loss = em_loss(
        flow, masks, theta, model=model, distance=distance, alpha=alpha, normalise=normalise
    )
    return loss, theta


class EMLoss(nn.Module):
    """Thin module around `em_loss_fitted`; ``forward(flow, masks)`` returns the batch mean.

    ``(B, 2, H, W), (B, K, H, W) -> ()``; the last fitted theta is kept in ``self.theta``.
    """

    def __init__(
        self,
        model: str = "quadratic12",
        distance: str = "l1",
        alpha: float = 1e-2,
        normalise: str = "pixels",
        iterations: int = 10,
    ):
        super().__init__()
        self.model, self.distance, self.alpha = model, distance, alpha
        self.normalise, self.iterations = normalise, iterations
        self.theta: torch.Tensor | None = None

    def forward(self, flow: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        loss, self.theta = em_loss_fitted(
            flow,
            masks,
            model=self.model,
            distance=self.distance,
            alpha=self.alpha,
            normalise=self.normalise,
            iterations=self.iterations,
        )
        return loss.mean()
