"""Query-based mask decoder (thesis ch. 4, MaskFormer-style): K learned queries, refined by a
transformer decoder over the space-time tokens of a bottleneck, become K mask embeddings; their
dot products with per-pixel embeddings are the K mask logits of a whole volume.

    tokens = bottleneck (B, C, T, h, w) + P(t, i, j)             `SpaceTimePosition`
    q      = TransformerDecoder(queries (K, D), memory = tokens)  (B, K, D), no encoder
    e_k    = Linear(D -> E)(q_k)                                  (B, K, E)
    logit_k(i, t) = <e_k, phi(i, t)>                              phi: (B, E, T, H, W)

Sizes of the authors' code (spec B3, not in the thesis): 5 layers, 2 heads, width 128,
feed-forward 2048, dropout 0.1, post-norm, Xavier-uniform initialisation of every matrix. The
queries attend to each other without positions, so the decoder is permutation-equivariant in its
queries: permuting them permutes the masks.
"""

from __future__ import annotations

import torch
from torch import nn

from motionlayers.errors import InputError, ShapeError


def clip_positions(
    frames: int,
    height: int,
    width: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``(T, h, w, 3)`` coordinates ``(t, i, j)`` of a token grid, each ``linspace(0, 1)`` over
    the clip (0 along an axis of one element): time is normalised per clip, as the authors'
    code does, so a clip of any length spans [0, 1]."""

    def axis(n: int) -> torch.Tensor:
        return (
            torch.linspace(0.0, 1.0, n, dtype=dtype, device=device)
            if n > 1
            else (torch.zeros(1, dtype=dtype, device=device))
        )

    t, i, j = torch.meshgrid(axis(frames), axis(height), axis(width), indexing="ij")
    return torch.stack([t, i, j], dim=-1)


class SpaceTimePosition(nn.Module):
    """A learned position embedding ``Linear(3 -> C)`` of ``(t, i, j)`` (`clip_positions`)
    added to a feature volume ``(B, C, T, h, w)``.

    ``zero_init``: start at zero, so that a network initialised from one without positions
    (ST-MS) computes what it did until the embedding learns something.
    """

    def __init__(self, channels: int, zero_init: bool = False):
        super().__init__()
        self.project = nn.Linear(3, channels)
        if zero_init:
            nn.init.zeros_(self.project.weight)
            nn.init.zeros_(self.project.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.project.out_features:
            raise ShapeError(
                f"SpaceTimePosition: expected (B, {self.project.out_features}, T, h, w), "
                f"got {tuple(x.shape)}"
            )
        grid = clip_positions(*x.shape[2:], dtype=x.dtype, device=x.device)
        return x + self.project(grid).permute(3, 0, 1, 2).unsqueeze(0)


class QueryMaskDecoder(nn.Module):
    """K learned queries -> K mask logits over a volume (see the module doc).

    Args:
        queries: K, the number of masks.
        memory_channels: C, channels of the bottleneck tokens (projected to ``width`` when
            they differ).
        embedding: E, channels of the per-pixel embeddings.
        width: D, the transformer's model width.
        depth: transformer decoder layers.
        heads: attention heads.
        feedforward: hidden width of each layer's feed-forward block.
        dropout: dropout of the attention and feed-forward blocks (training only).

    Shapes:
        ``forward(memory (B, C, T, h, w), pixels (B, E, T, H, W)) -> (B, K, T, H, W)``.
    """

    def __init__(
        self,
        queries: int,
        memory_channels: int,
        embedding: int,
        width: int = 128,
        depth: int = 5,
        heads: int = 2,
        feedforward: int = 2048,
        dropout: float = 0.1,
    ):
        super().__init__()
        if min(queries, memory_channels, embedding, width, depth, heads, feedforward) < 1:
            raise InputError("decoder", "queries, channels, width, depth, heads must be >= 1")
        if width % heads:
            raise InputError("decoder", f"width {width} is not a multiple of heads {heads}")
        if not 0.0 <= dropout < 1.0:
            raise InputError("decoder", f"dropout must be in [0, 1), got {dropout}")
        self.queries = nn.Embedding(queries, width)
        self.memory = (
            nn.Linear(memory_channels, width) if memory_channels != width else nn.Identity()
        )
        layer = nn.TransformerDecoderLayer(
            width, heads, feedforward, dropout, activation="relu", batch_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, depth)
        self.mask_embedding = nn.Linear(width, embedding)
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def refine(self, memory: torch.Tensor) -> torch.Tensor:
        """Mask embeddings ``(B, K, E)`` of bottleneck tokens ``(B, C, T, h, w)``."""
        tokens = self.memory(memory.flatten(2).transpose(1, 2))  # (B, T h w, D)
        target = self.queries.weight.unsqueeze(0).expand(memory.shape[0], -1, -1)
        return self.mask_embedding(self.decoder(target, tokens))

    def forward(self, memory: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        if memory.ndim != 5 or pixels.ndim != 5 or memory.shape[0] != pixels.shape[0]:
            raise ShapeError(
                "QueryMaskDecoder: expected memory (B, C, T, h, w) and pixels (B, E, T, H, W), "
                f"got {tuple(memory.shape)} and {tuple(pixels.shape)}"
            )
        return torch.einsum("bke,bethw->bkthw", self.refine(memory), pixels)


__all__ = ["QueryMaskDecoder", "SpaceTimePosition", "clip_positions"]
