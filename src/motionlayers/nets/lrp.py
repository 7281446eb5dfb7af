"""Layer-wise relevance propagation through the saliency classifier (thesis 5.2.1-5.2.2).

The classifier (`motionlayers.nets.classifier.FlowClassifier`) is first rewritten in the
interpretation order of eq. 5.2, Conv -> Norm -> ReLU -> MaxPool, with each norm folded into its
conv::

    w' = w gamma / sqrt(V + eps),    b' = (b - E) gamma / sqrt(V + eps) + beta

(`fold_norm`; E and V are a batch norm's running statistics, or, for an instance norm, the mean
and variance it computed on this input's pooled maps: that folding is per input). Max-pool and a
norm with gamma >= 0 commute, so the folded network computes the same logit (`folded_logit`).

The logit of "salient" is then propagated back to the input flow:

- z+ (eq. 5.3) through every layer but the first: ``R_i = sum_j x_i w+_ij / sum_i' x_i' w+_i'j
  R_j`` (bias ignored); the head's average pooling has positive weights, so it is z+ too;
- winner-takes-all through each max-pool (and the head's, when it pools by the maximum): a
  pooled unit's relevance goes to its argmax;
- z^beta (eq. 5.4) on the first conv, whose input (flow) is not bounded below by 0: ``R_i =
  sum_j (x_i w_ij - l_i w+_ij - h_i w-_ij) / sum_i' (...) R_j`` with ``l`` and ``h`` the
  per-frame minimum and maximum of each flow channel.

Every rule redistributes a layer's relevance in full (denominators get a 1e-9 stabiliser, spec
A.4 [U]), so the input's total relevance is the logit: `relevance_trace` returns the totals of
every layer to check it. The pixel attribution is ``a(p) = R_u(p) + R_v(p)``, the evidence for
"salient" (`relevance_maps`: a frame called not salient has its map negated, so that its
regions are still ranked by how much they speak for saliency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from motionlayers.errors import InputError, check_shape
from motionlayers.nets.classifier import FlowClassifier

STABILISER = 1e-9
"""Added to every denominator (with the sign of the denominator)."""


@dataclass(frozen=True)
class FoldedBlock:
    """One block in interpretation order: ``maxpool2(relu(conv(x, weight, bias)))``."""

    weight: torch.Tensor  # (C_out, C_in, k, k)
    bias: torch.Tensor  # (C_out,)
    padding: int


def fold_norm(
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    mean: torch.Tensor,
    var: torch.Tensor,
    gamma: torch.Tensor | None,
    beta: torch.Tensor | None,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv ``weight (C_out, C_in, k, k)`` and ``bias (C_out,)`` with the norm of statistics
    ``mean``, ``var`` and affine ``gamma``, ``beta`` (each ``(C_out,)``) folded in (module doc)."""
    scale = torch.rsqrt(var + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale if beta is None else beta - mean * scale
    base = torch.zeros_like(mean) if bias is None else bias
    return weight * scale.view(-1, 1, 1, 1), base * scale + shift


def fold_network(model: FlowClassifier, flow: torch.Tensor) -> list[FoldedBlock]:
    """The blocks of ``model`` in interpretation order for one input ``flow (1, 2, H, W)``.

    A batch norm folds its running statistics (``model`` must be in eval mode); an instance norm
    folds the statistics of this input's pooled maps (the training order computes them after
    the max-pool, eq. 5.1). Raises InputError when a norm scale is negative (the orders would
    differ; `motionlayers.nets.classifier.clamp_norm_scales` prevents it).
    """
    check_shape(flow, (1, 2, "H", "W"), "fold_network: flow")
    if model.norm_kind == "batch" and model.training:
        raise InputError("classifier", "fold the batch norms of a model in eval mode")
    blocks = []
    x = flow
    for conv_module, norm_module in zip(model.convs, model.norms, strict=True):
        conv = cast(nn.Conv2d, conv_module)
        norm = cast(nn.BatchNorm2d | nn.InstanceNorm2d, norm_module)
        if norm.weight is not None and bool((norm.weight < 0).any()):
            raise InputError(
                "classifier", "a norm has a negative scale: Conv-MaxPool-Norm != Conv-Norm-MaxPool"
            )
        pooled = F.max_pool2d(conv(x), 2)
        if isinstance(norm, nn.BatchNorm2d):
            assert norm.running_mean is not None and norm.running_var is not None
            mean, var = norm.running_mean, norm.running_var
        else:
            mean, var = pooled.mean((0, 2, 3)), pooled.var((0, 2, 3), unbiased=False)
        weight, bias = fold_norm(
            conv.weight, conv.bias, mean, var, norm.weight, norm.bias, norm.eps
        )
        padding = int(conv.padding[0]) if isinstance(conv.padding, tuple) else 0
        blocks.append(FoldedBlock(weight, bias, padding))
        x = torch.relu(norm(pooled))
    return blocks


def folded_logit(model: FlowClassifier, flow: torch.Tensor) -> torch.Tensor:
    """Logits ``(B,)`` of flows ``(B, 2, H, W)`` computed by the folded, reordered network
    (equal to ``model(flow)`` when the folding is right)."""
    logits = []
    for item in flow.split(1):
        x = item
        for block in fold_network(model, item):
            x = F.max_pool2d(
                torch.relu(F.conv2d(x, block.weight, block.bias, padding=block.padding)), 2
            )
        logits.append(model.head(model.pooled(x).flatten(1))[:, 0])
    return torch.cat(logits)


def _positive_conv(x: torch.Tensor, weight: torch.Tensor, padding: int) -> torch.Tensor:
    """The conv with its positive weights only, bias-free (z+)."""
    return F.conv2d(x, weight.clamp(min=0), padding=padding)


def _stabilise(z: torch.Tensor) -> torch.Tensor:
    return z + STABILISER * torch.where(z >= 0, 1.0, -1.0)


def _z_plus(
    layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, relevance: torch.Tensor
) -> torch.Tensor:
    """z+ rule: ``layer`` applied with its positive weights (bias-free); returns ``R_in``."""
    with torch.enable_grad():  # LRP runs inside no_grad inference too
        x = x.detach().requires_grad_(True)
        z = _stabilise(layer(x))
        (grad,) = torch.autograd.grad((z * (relevance / z).detach()).sum(), x)
    return x.detach() * grad


def _z_beta(
    weight: torch.Tensor, padding: int, x: torch.Tensor, relevance: torch.Tensor
) -> torch.Tensor:
    """z^beta rule of the first conv, bounds = per-channel min and max of ``x (1, C, H, W)``."""
    with torch.enable_grad():
        low = x.amin((2, 3), keepdim=True).expand_as(x).detach().requires_grad_(True)
        high = x.amax((2, 3), keepdim=True).expand_as(x).detach().requires_grad_(True)
        x = x.detach().requires_grad_(True)
        z = (
            F.conv2d(x, weight, padding=padding)
            - F.conv2d(low, weight.clamp(min=0), padding=padding)
            - F.conv2d(high, weight.clamp(max=0), padding=padding)
        )
        z = _stabilise(z)
        gx, gl, gh = torch.autograd.grad((z * (relevance / z).detach()).sum(), (x, low, high))
    # the gradients of z carry the minus signs of its bound terms already
    return (x * gx + low * gl + high * gh).detach()


def relevance_trace(model: FlowClassifier, flow: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """LRP of one input ``flow (1, 2, H, W)`` (the classifier's input, normalised as it is fed).

    Returns:
        ``R (2, H, W)`` the input relevance of each flow channel, and the total relevance at
        each stage from the logit down to the input (all equal when relevance is conserved).
    """
    blocks = fold_network(model, flow)
    inputs, indices, sizes = [], [], []
    x = flow.detach()
    with torch.no_grad():
        for block in blocks:
            inputs.append(x)
            active = torch.relu(F.conv2d(x, block.weight, block.bias, padding=block.padding))
            sizes.append(active.shape[-2:])
            x, index = F.max_pool2d(active, 2, return_indices=True)
            indices.append(index)
        if model.head_pool == "max":
            pooled, winners = F.adaptive_max_pool2d(x, model.pool_size, return_indices=True)
        else:
            pooled = F.adaptive_avg_pool2d(x, model.pool_size)
        logit = model.head(pooled.flatten(1))  # (1, 1)
    totals = [float(logit.sum())]
    positive = model.head.weight.detach().clamp(min=0)
    relevance = _z_plus(lambda t: F.linear(t, positive), pooled.flatten(1), logit.detach())
    totals.append(float(relevance.sum()))
    relevance = relevance.view_as(pooled)
    if model.head_pool == "max":  # winner takes all
        spread = torch.zeros_like(x).flatten(2)
        relevance = spread.scatter_add(2, winners.flatten(2), relevance.flatten(2)).view_as(x)
    else:
        relevance = _z_plus(lambda t: F.adaptive_avg_pool2d(t, model.pool_size), x, relevance)
    totals.append(float(relevance.sum()))
    for number in reversed(range(len(blocks))):
        block = blocks[number]
        relevance = F.max_unpool2d(relevance, indices[number], (2, 2), output_size=sizes[number])
        if number == 0:
            relevance = _z_beta(block.weight.detach(), block.padding, inputs[0], relevance)
        else:
            relevance = _z_plus(
                partial(_positive_conv, weight=block.weight.detach(), padding=block.padding),
                inputs[number],
                relevance,
            )
        totals.append(float(relevance.sum()))
    return relevance[0], totals


def relevance_and_logits(
    model: FlowClassifier, flow: torch.Tensor, evidence: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel attributions ``a (B, H, W) = R_u + R_v`` of flows ``(B, 2, H, W)`` (the input as
    the classifier reads it), one LRP pass per frame (an instance norm folds per frame), and
    the logits ``(B,)`` that pass computed.

    Args:
        evidence: map the evidence *for* "salient" whatever the decision: the rules are linear
            in the starting relevance, so a frame with a negative logit (called not salient)
            has its map negated, i.e. LRP started from ``|logit|``. False: started from the
            logit itself (its map sums to the logit).
    """
    check_shape(flow, ("B", 2, "H", "W"), "relevance_maps: flow")
    maps, logits = [], []
    for item in flow.split(1):
        relevance, totals = relevance_trace(model, item)
        sign = -1.0 if evidence and totals[0] < 0 else 1.0
        maps.append(sign * relevance.sum(0))
        logits.append(totals[0])
    return torch.stack(maps), torch.tensor(logits, dtype=flow.dtype, device=flow.device)


def relevance_maps(
    model: FlowClassifier, flow: torch.Tensor, evidence: bool = True
) -> torch.Tensor:
    """The attributions ``(B, H, W)`` of `relevance_and_logits`."""
    return relevance_and_logits(model, flow, evidence)[0]


__all__ = [
    "STABILISER",
    "FoldedBlock",
    "fold_network",
    "fold_norm",
    "folded_logit",
    "relevance_and_logits",
    "relevance_maps",
    "relevance_trace",
]
