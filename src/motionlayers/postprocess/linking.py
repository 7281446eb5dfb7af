"""Temporal linking of layer labels between consecutive predictions (thesis 3.3.5, eq. 3.9).

A per-frame segmentation numbers its layers arbitrarily: layer 2 at time t may be layer 0 at t+1.
Linking renames the labels of each prediction so that a layer keeps its number over time. For
each label ``l`` of the current prediction the thesis takes

    l* = argmax_k  J(k_t^{t-1}, l_t^t) + J(k_{t-1}^{t-1}, l_{t-1}^t)          (eq. 3.9)

the sum of the IoUs (``J``) of the segments that two overlapping predictions share. With one
prediction per flow field (`Linker`, `link_masks`) the sum has one term: the IoU between the
already linked labels at ``t - 1`` and the new labels at ``t``. A method that segments volumes
(ST-MS's triplets) predicts each frame several times, and `VolumeLinker` sums the IoUs over the
frames that two consecutive volumes share, eq. 3.9 itself. Propagating from ``t = 0`` links the
sequence.

Two variants of the argmax: ``"greedy"`` (eq. 3.9 literally; two labels may go to the same ``k``,
which merges them) and ``"hungarian"`` (a one-to-one assignment maximising the summed IoU,
`scipy.optimize.linear_sum_assignment`; labels are only permuted, never merged).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from motionlayers.defaults import LINK_CUT, LINKINGS
from motionlayers.errors import InputError, ShapeError
from motionlayers.postprocess.upsample import masks_to_labels


def _check_linking(method: str) -> None:
    if method not in LINKINGS:
        raise InputError("linking", f"unknown method {method!r}; valid: {', '.join(LINKINGS)}")


def iou_matrix(reference: np.ndarray, labels: np.ndarray, layers: int) -> np.ndarray:
    """IoU of every pair of segments: ``J[k, l] = IoU(reference == k, labels == l)``.

    Args:
        reference, labels: ``(H, W)`` (or any equal shape) integer labels in ``[0, layers)``.

    Returns:
        ``(layers, layers)`` float64; 0 where both segments are empty.
    """
    if reference.shape != labels.shape:
        raise ShapeError(f"iou_matrix: shapes differ, {reference.shape} vs {labels.shape}")
    ref = reference.reshape(-1).astype(np.int64)
    cur = labels.reshape(-1).astype(np.int64)
    inter = np.bincount(ref * layers + cur, minlength=layers * layers).reshape(layers, layers)
    area_ref = np.bincount(ref, minlength=layers)[:layers]
    area_cur = np.bincount(cur, minlength=layers)[:layers]
    union = area_ref[:, None] + area_cur[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def relabel_table(score: np.ndarray, method: str = "hungarian") -> np.ndarray:
    """New name of each current label from a score matrix ``score[k, l]`` (eq. 3.9's sum of IoUs).

    Returns:
        ``(K,)`` int64 ``table`` with ``table[l] = l*``: a permutation for ``"hungarian"``, possibly
        many-to-one for ``"greedy"``.
    """
    _check_linking(method)
    if method == "greedy":
        return np.argmax(score, axis=0).astype(np.int64)
    rows, cols = linear_sum_assignment(score, maximize=True)
    table = np.empty(score.shape[1], dtype=np.int64)
    table[cols] = rows
    return table


def link_pair(
    references: Sequence[np.ndarray],
    currents: Sequence[np.ndarray],
    layers: int,
    method: str = "hungarian",
) -> np.ndarray:
    """Eq. 3.9 over several shared masks: ``sum_j J(references[j] == k, currents[j] == l)``.

    ``references[j]`` and ``currents[j]`` are two predictions of the same frame (already linked
    and new). Returns the relabelling table ``(K,)`` (see `relabel_table`).
    """
    score = sum(iou_matrix(r, c, layers) for r, c in zip(references, currents, strict=True))
    return relabel_table(np.asarray(score), method)


def link_labels(labels: np.ndarray, layers: int, method: str = "hungarian") -> np.ndarray:
    """Link a sequence of label maps ``(T, H, W)`` from ``t = 0`` on; returns a new array.

    Frame 0 keeps its labels; frame ``t`` is renamed to best match the linked frame ``t - 1``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ShapeError(f"link_labels: expected (T, H, W) labels, got {labels.shape}")
    out = labels.astype(np.int64, copy=True)
    for t in range(1, len(out)):
        table = link_pair([out[t - 1]], [out[t]], layers, method)
        out[t] = table[out[t]]
    return out


class Linker:
    """Linking of a stream of soft masks, one frame at a time (what `link_masks` does to a
    whole sequence): each frame's channels are renamed to best match the previous frame's
    linked labels (eq. 3.9). ``previous``: the linked labels to start from.

    ``method="hungarian"`` permutes the channels; ``"greedy"`` may merge them and restarts
    every ``cut`` frames (consecutive cuts joined one-to-one), as `VolumeLinker`.
    """

    def __init__(
        self, previous: np.ndarray | None = None, method: str = "hungarian", cut: int = LINK_CUT
    ):
        _check_linking(method)
        self.previous, self.method, self.cut, self.count = previous, method, cut, 0

    def order(self, masks: torch.Tensor) -> torch.Tensor:
        """``(K,)`` int64: the channel order that links ``masks (K, h, w)`` to the previous
        frame (``masks[order]`` are the linked masks); the linked labels become the reference."""
        labels = masks.argmax(0).cpu().numpy()
        count = masks.shape[0]
        if self.previous is None or self.previous.shape != labels.shape:
            self.previous = labels
            return torch.arange(count)
        table = link_pair([self.previous], [labels], count, "hungarian")
        self.previous = table[labels]
        return torch.as_tensor(np.argsort(table))

    def __call__(self, masks: torch.Tensor) -> torch.Tensor:
        """``(K, h, w)`` -> the linked masks: channels permuted (`order`), or merged by a
        greedy table."""
        if self.method == "hungarian":
            return masks[self.order(masks).to(masks.device)]
        labels = masks.argmax(0).cpu().numpy()
        fresh = self.previous is None or self.previous.shape != labels.shape
        method = "hungarian" if self.count % self.cut == 0 else "greedy"
        self.count += 1
        if fresh:
            self.previous = labels
            return masks
        table = link_pair([self.previous], [labels], masks.shape[0], method)
        linked = relabel_masks(masks, table)
        self.previous = linked.argmax(0).cpu().numpy()
        return linked


def relabel_masks(masks: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    """Soft masks ``(K, ...)`` renamed by ``table`` (``table[l] = l*``): channel ``k`` of the
    result is the sum of the channels ``l`` with ``table[l] = k`` (a permutation permutes; a
    greedy table merges, and a channel that nothing goes to is zero)."""
    index = torch.as_tensor(table, device=masks.device)
    return torch.zeros_like(masks).index_add_(0, index, masks)


class VolumeLinker:
    """Eq. 3.9 on a stream of overlapping volumes of masks (ST-MS's triplets, thesis 3.3.5).

    Volume ``i`` holds the masks ``(K, T, h, w)`` of frames ``i s .. i s + T - 1`` (``s`` =
    ``shift``); it shares ``T - s`` frames with volume ``i - 1``. Each label ``l`` of the new
    volume is renamed ``argmax_k sum_j J(k_j^{prev}, l_j^{new})`` over the shared frames ``j``
    (eq. 3.9; for triplets, the frames ``t - 1`` and ``t``).

    Args:
        shift: frames between the starts of consecutive volumes (1 for ST-MS).
        method: ``"hungarian"`` (one-to-one: labels are permuted, never merged) or
            ``"greedy"`` (eq. 3.9's argmax as the thesis and its code: two labels may merge).
        cut: greedy linking restarts every ``cut`` volumes, as the thesis's subsequences of
            10 frames; consecutive cuts are then joined one-to-one (Hungarian on the same
            score). None: one cut. Hungarian linking ignores it (joining cuts is what it does).
    """

    def __init__(self, shift: int = 1, method: str = "hungarian", cut: int | None = None):
        _check_linking(method)
        if shift < 1 or (cut is not None and cut < 1):
            raise InputError("linking", f"need shift >= 1 and cut >= 1, got {shift}, {cut}")
        self.shift, self.method, self.cut = shift, method, cut
        self.previous: np.ndarray | None = None  # (T, h, w) linked labels of the last volume
        self.count = 0

    def table(self, masks: torch.Tensor) -> np.ndarray:
        """``(K,)`` relabelling of a new volume ``(K, T, h, w)`` (identity for the first, or when
        the volumes share no frame); the linked labels become the reference."""
        if masks.ndim != 4:
            raise ShapeError(f"VolumeLinker: expected (K, T, h, w) masks, got {tuple(masks.shape)}")
        count, frames = masks.shape[:2]
        labels = masks.argmax(0).cpu().numpy()
        shared = frames - self.shift
        method = self.method
        if method == "greedy" and self.cut is not None and self.count % self.cut == 0:
            method = "hungarian"  # a new cut: joined one-to-one to the previous one
        self.count += 1
        if self.previous is None or shared < 1 or self.previous.shape != labels.shape:
            table = np.arange(count)
        else:
            table = link_pair(
                list(self.previous[self.shift :]), list(labels[:shared]), count, method
            )
        self.previous = table[labels]
        return table

    def __call__(self, masks: torch.Tensor) -> torch.Tensor:
        """``(K, T, h, w)`` -> the linked masks (`relabel_masks` by `table`)."""
        return relabel_masks(masks, self.table(masks))


def link_masks(masks: torch.Tensor, method: str = "hungarian") -> torch.Tensor:
    """Link soft masks ``(T, K, H, W)`` over time (the label maps are their argmax, eq. 3.8).

    Hungarian linking permutes the K channels of each frame; greedy linking adds merged channels
    together (a merged-away channel becomes all zeros). Returns a new tensor.
    """
    if masks.ndim != 4:
        raise ShapeError(f"link_masks: expected (T, K, H, W) masks, got {tuple(masks.shape)}")
    if method == "hungarian":  # a permutation of each frame's channels
        link = Linker()
        return torch.stack([link(frame) for frame in masks])
    layers = masks.shape[1]
    labels = masks_to_labels(masks).cpu().numpy()  # one argmax for the whole sequence
    out = masks.clone()
    previous = labels[0]
    for t in range(1, len(out)):
        table = link_pair([previous], [labels[t]], layers, method)
        out[t] = relabel_masks(masks[t], table)
        previous = masks_to_labels(out[t : t + 1])[0].cpu().numpy()
    return out
