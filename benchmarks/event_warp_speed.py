"""Events per second of warp + splat + loss, forward and backward, on this machine.

One window of 1M random events on a 346 x 260 sensor (DAVIS346), K = 2 affine layers (theta in
pixels/second, requires grad), soft masks (1, K, H, W) from logits that require grad: each event
is weighted by its layers' masks at its pixel, warped by each layer to the window's middle,
splatted bilinearly into one IWE, and scored by the contrast loss (or the average-timestamp or
multi-reference focus loss with ``--loss``). Forward = mask sampling + flow + warp + splat + loss;
backward = ``loss.backward()``. Reports the median of ``--repeats`` runs after one warm-up.

Usage:
    PYTHONPATH=src python benchmarks/event_warp_speed.py [--events 1000000] [--loss contrast]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from motionlayers.events import event_flow, image_of_warped_events, sample_masks
from motionlayers.losses.events import (
    average_timestamp_loss,
    contrast_loss,
    multi_reference_focus_loss,
)

WIDTH, HEIGHT, LAYERS = 346, 260, 2


def make_inputs(count: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randint(0, WIDTH, (count,), generator=gen).float(),
        "y": torch.randint(0, HEIGHT, (count,), generator=gen).float(),
        "t": torch.sort(torch.rand(count, generator=gen) * 0.05).values,
        "p": torch.randint(0, 2, (count,), generator=gen).float() * 2 - 1,
    }


def step(data: dict[str, torch.Tensor], loss_name: str) -> tuple[float, float]:
    """One forward and backward pass; returns their times in seconds."""
    theta = torch.zeros(1, LAYERS, 2, 3)
    theta[0, :, 0, 0] = torch.tensor([120.0, -40.0])
    theta[0, :, 1, 1] = torch.tensor([15.0, 5.0])
    theta.requires_grad_()
    logits = torch.zeros(1, LAYERS, HEIGHT, WIDTH, requires_grad=True)
    x, y, t, p = data["x"], data["y"], data["t"], data["p"]
    start = time.perf_counter()
    weights = sample_masks(torch.softmax(logits, 1), x, y, "nearest")  # (1, K, N)
    flow = event_flow(theta, "affine", x, y, HEIGHT, WIDTH)  # (1, K, 2, N)
    if loss_name == "contrast":
        loss = contrast_loss(image_of_warped_events(x, y, t, flow, HEIGHT, WIDTH, 0.025, weights))
    elif loss_name == "timestamp":
        loss = average_timestamp_loss(x, y, t, p, flow, HEIGHT, WIDTH, weights)
    else:
        loss = multi_reference_focus_loss(x, y, t, flow, HEIGHT, WIDTH, weights)
    middle = time.perf_counter()
    loss.backward()
    end = time.perf_counter()
    assert theta.grad is not None and torch.isfinite(theta.grad).all()
    return middle - start, end - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loss", choices=("contrast", "timestamp", "focus"), default="contrast")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = make_inputs(args.events)
    step(data, args.loss)  # warm-up
    times = [step(data, args.loss) for _ in range(args.repeats)]
    forward = statistics.median(f for f, _ in times)
    backward = statistics.median(b for _, b in times)
    n = args.events
    print(
        f"{n} events, {WIDTH}x{HEIGHT}, K={LAYERS} affine, loss={args.loss}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    print(f"forward : {forward * 1e3:8.1f} ms  {n / forward / 1e6:7.2f} M events/s")
    print(f"backward: {backward * 1e3:8.1f} ms  {n / backward / 1e6:7.2f} M events/s")
    print(
        f"total   : {(forward + backward) * 1e3:8.1f} ms  "
        f"{n / (forward + backward) / 1e6:7.2f} M events/s"
    )


if __name__ == "__main__":
    main()
