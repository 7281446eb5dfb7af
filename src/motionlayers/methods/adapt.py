"""Test-time adaptation: a copy of a network method fine-tuned on one video's own flows.

The EM, ST-MS and LT-MS losses need no labels, so before a network segments a video it can take
a few optimisation steps on that video's flows (``segment --adapt-steps N``)::

    module  <- the method's LightningModule, rebuilt from the weights file (`load_trained`)
    for step in 1..N:
        x    <- B flows (or volumes of T consecutive flows) drawn from the video's flows
        L    =  module.training_step({"flow": x})      (the recipe's own loss and augmentation)
        phi  <- Adam step on L, at the recipe's learning rate times `ADAPT_LR_SCALE`
    predictor <- a copy of the method's predictor with the adapted tensors

Nothing is written: the adapted weights live in the returned copies only, and the shipped file
(or checkpoint) is read, never rewritten. The loss is the module's own code path
(``training_step``, or ``validation_step`` without the augmentation), not a second copy of it.

Methods: every registered method whose LightningModule reads batches ``{"flow": ...}`` and
trains without labels (em, st, lt); `NOT_ADAPTABLE` says why the others cannot be adapted.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from motionlayers.errors import InputError, ShapeError

if TYPE_CHECKING:  # Lightning is slow to import; segment checks the option before any work
    from motionlayers.methods.registry import Method, MethodEntry

ADAPT_FRAMES = 32
"""Flows that the pipeline holds to adapt on: the first ones of the video (memory bound)."""
ADAPT_BATCH = 4
"""Flows (or volumes) per adaptation step."""
ADAPT_LR_SCALE = 0.1
"""Adaptation learning rate: the recipe's (``configure_optimizers``) times this."""
NOT_ADAPTABLE = {
    "nims": "its classifier is trained with saliency labels (binary cross-entropy), so it has "
    "no label-free loss to adapt with",
    "bdmm": "its loss is a min-max game against the frozen NIMS classifier (lambda ascends "
    "while the masks descend), which a few steps on one video do not settle; no measurement "
    "supports it",
}
"""Trainable flow methods that cannot be adapted, and why."""
_LOG_OUTSIDE_TRAINER = r".*self\.log\(\)"  # Lightning's note when a step logs without a Trainer


def check_steps(steps: Any) -> int:
    """``steps`` as an int >= 0, else an InputError naming ``--adapt-steps``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise InputError("--adapt-steps", f"must be a whole number of steps >= 0, got {steps!r}")
    return steps


def check_adaptable(entry: MethodEntry) -> None:
    """Raise an InputError unless method ``entry`` has a network with a label-free loss."""
    if not entry.trainable or entry.input not in ("flow-pair", "flow-volume"):
        raise InputError("--adapt-steps", f"method {entry.name} has no network to adapt")
    if entry.name in NOT_ADAPTABLE:
        raise InputError(
            "--adapt-steps", f"method {entry.name} cannot be adapted: {NOT_ADAPTABLE[entry.name]}"
        )


def adapt(
    module: torch.nn.Module,
    flows: torch.Tensor,
    steps: int,
    *,
    volume: int | None = None,
    batch_size: int = ADAPT_BATCH,
    lr_scale: float = ADAPT_LR_SCALE,
    augment: bool = True,
    seed: int = 0,
    progress: bool = False,
    desc: str = "adapt",
) -> Any:
    """A copy of the LightningModule ``module`` after ``steps`` Adam steps on ``flows``.

    Args:
        module: a method's LightningModule (`EMMethod`, `STMSMethod`, `LTMSMethod`): its
            ``training_step({"flow": x}, i)`` gives the loss, its ``configure_optimizers``
            the optimiser, whose learning rates are multiplied by ``lr_scale``. Not modified.
        flows: ``(N, 2, H, W)`` float32 the video's flows in pixels, in order.
        steps: optimisation steps (0: an unchanged copy).
        volume: None for a flow-pair method (each step reads ``(B, 2, H, W)`` flows); T for a
            flow-volume method (each step reads ``(B, 2, T, H, W)`` windows of T consecutive
            flows; fewer than T flows are padded by repeating the last, as the pipeline does).
        batch_size: B, flows or windows per step, drawn without replacement.
        augment: True: ``training_step`` (the recipe's augmentation included); False: the
            loss of ``validation_step`` (the same loss on the flows as they are).
        seed: seeds the draws and torch's global generator (dropout) within the call, and the
            module's own augmentation generator (``on_fit_start``); the same seed gives the
            same weights. torch's global random state is restored afterwards.
        progress: a progress bar over the steps, named ``desc``.

    Returns:
        The adapted copy, in eval mode, with ``adapt_losses``: the loss of each step.
    """
    steps = check_steps(steps)
    if flows.ndim != 4 or flows.shape[1] != 2 or len(flows) == 0:
        raise ShapeError(f"flows: expected (N >= 1, 2, H, W), got {tuple(flows.shape)}")
    adapted: Any = copy.deepcopy(module)
    adapted.adapt_losses = losses = []
    if steps == 0:
        return adapted.eval()
    device = next(adapted.parameters()).device
    optimizer = _optimizer(adapted, lr_scale)
    adapted.train()
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_LOG_OUTSIDE_TRAINER)
        torch.manual_seed(seed)
        draws = torch.Generator().manual_seed(seed)
        hook = getattr(adapted, "on_fit_start", None)
        if hook is not None:  # the recipe's augmentation generator, reseeded
            hook()
        step_fn = adapted.training_step if augment else adapted.validation_step
        bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False)
        for step in bar:
            batch = {"flow": _draw(flows, volume, batch_size, draws).to(device)}
            loss = step_fn(batch, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            adapted.on_train_batch_end(loss, batch, step)
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4g}")
        bar.close()
    return adapted.eval()


def label_free_loss(
    module: torch.nn.Module,
    flows: torch.Tensor,
    volume: int | None = None,
    batch_size: int = ADAPT_BATCH,
) -> float:
    """The mean loss of ``module``'s ``validation_step`` over every flow of ``flows``
    ``(N, 2, H, W)`` (or every window of ``volume`` consecutive flows), in eval mode, without
    gradients: what `adapt` lowers, measured without the augmentation."""
    lightning: Any = module
    was_training = module.training
    module.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_LOG_OUTSIDE_TRAINER)
            device = next(module.parameters()).device
            for index, items in enumerate(_all_items(flows, volume, batch_size)):
                loss = lightning.validation_step({"flow": items.to(device)}, index)
                total, count = total + float(loss) * len(items), count + len(items)
    finally:
        module.train(was_training)
    return total / max(count, 1)


def adapt_method(
    method: Method, flows: torch.Tensor, steps: int, progress: bool = False, **options: Any
) -> Method:
    """``method`` (a built `Method` of em, st or lt) with a copy of its predictor holding the
    weights adapted on ``flows`` ``(N, 2, H, W)`` (`adapt`, with ``options``); ``method`` and
    its weights file are unchanged.

    Raises:
        InputError: a method without a network or a label-free loss (`check_adaptable`), or
            bad ``steps``.
    """
    from motionlayers.methods.registry import Method

    entry = method.entry
    check_adaptable(entry)
    steps = check_steps(steps)
    if steps == 0:
        return method
    if method.weights is None:
        raise InputError("--adapt-steps", f"method {entry.name} loaded no weights to adapt")
    device = next(method.predictor.parameters()).device
    module = entry.checkpoint_loader()(method.weights, map_location=device)
    volume = entry.volume if entry.input == "flow-volume" else None
    options.setdefault("desc", f"adapt ({entry.name})")
    adapted = adapt(module, flows, steps, volume=volume, progress=progress, **options)
    predictor = copy.deepcopy(method.predictor)
    predictor.load_state_dict(adapted.state_dict())  # the same tensor names (`build_trained`)
    predictor.adapt_losses = adapted.adapt_losses
    return Method(entry, method.layers, predictor.eval(), method.weights)


def _optimizer(module: Any, lr_scale: float) -> torch.optim.Optimizer:
    """The module's own optimiser (``configure_optimizers``; a schedule is dropped: a warm-up
    from zero would waste the few steps), its learning rates times ``lr_scale``."""
    configured = module.configure_optimizers()
    if isinstance(configured, dict):
        configured = configured["optimizer"]
    elif isinstance(configured, (list, tuple)):
        configured = configured[0]
    optimizer: torch.optim.Optimizer = configured
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * lr_scale
    return optimizer


def _window(flows: torch.Tensor, start: int, volume: int) -> torch.Tensor:
    """``(2, T, H, W)``: flows ``start .. start + T - 1``, the last repeated past the end."""
    picks = [min(start + t, len(flows) - 1) for t in range(volume)]
    return flows[picks].movedim(0, 1)


def _draw(
    flows: torch.Tensor, volume: int | None, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """One step's batch: ``(B, 2, H, W)`` flows or ``(B, 2, T, H, W)`` windows, drawn
    without replacement (B at most the flows or windows there are)."""
    count = len(flows) if volume is None else max(len(flows) - volume + 1, 1)
    picks = torch.randperm(count, generator=generator)[:batch_size].tolist()
    if volume is None:
        return flows[picks].float()
    return torch.stack([_window(flows, p, volume) for p in picks]).float()


def _all_items(flows: torch.Tensor, volume: int | None, batch_size: int) -> Iterator[torch.Tensor]:
    count = len(flows) if volume is None else max(len(flows) - volume + 1, 1)
    for first in range(0, count, batch_size):
        picks = range(first, min(first + batch_size, count))
        if volume is None:
            yield flows[list(picks)].float()
        else:
            yield torch.stack([_window(flows, p, volume) for p in picks]).float()


__all__ = [
    "ADAPT_BATCH",
    "ADAPT_FRAMES",
    "ADAPT_LR_SCALE",
    "NOT_ADAPTABLE",
    "adapt",
    "adapt_method",
    "check_adaptable",
    "check_steps",
    "label_free_loss",
]
