"""Speed of `motion.fit` against the reference implementation's method, in one process.

Task (issue "Foundation", part 2): fit K=4 quadratic12 models with the L1 distance on 16 flows of
128x224 with soft masks. The reference method (EM-Flow-Segmentation, thesis appendix 7.1.4) solves
a weighted least-squares problem per layer, then runs ``torch.optim.LBFGS`` with a strong Wolfe
line search for 20 iterations on the summed L1 objective. Ours: batched IRLS from the
least-squares solution (`motionlayers.motion.fit`).

The flows are synthetic layered flows (quadratic background, moving objects, 10 % outliers) and
the masks are soft versions of the true layers blurred with noise, as a network would produce
midway through training.

Run: ``python benchmarks/fit_speed.py [--repeats 5] [--threads 2]``
"""

from __future__ import annotations

import argparse
import time

import torch

from motionlayers import motion

MODEL = "quadratic12"


def make_problem(
    batch: int = 16, layers: int = 4, height: int = 128, width: int = 224, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flows ``(B, 2, H, W)`` and soft masks ``(B, K, H, W)``."""
    generator = torch.Generator().manual_seed(seed)
    params = torch.randn(batch, layers, 12, generator=generator) * 4
    flows = motion.render(params.reshape(batch, layers, 2, 6), MODEL, height, width)
    x, y = motion.normalized_coordinates(height, width)
    labels = torch.zeros(batch, height, width, dtype=torch.long)
    for k in range(1, layers):
        centre = torch.rand(batch, 2, generator=generator) * 1.4 - 0.7
        radius = torch.rand(batch, 1, 1, generator=generator) * 0.3 + 0.15
        inside = (x - centre[:, 0, None, None]) ** 2 + (y - centre[:, 1, None, None]) ** 2
        labels[inside < radius**2] = k
    flow = torch.gather(flows, 1, labels[:, None, None].expand(-1, 1, 2, -1, -1))[:, 0]
    outliers = torch.rand(batch, 1, height, width, generator=generator) < 0.1
    flow = torch.where(outliers, flow + torch.randn(flow.shape, generator=generator) * 10, flow)
    logits = torch.nn.functional.one_hot(labels, layers).permute(0, 3, 1, 2).float() * 3
    logits = logits + torch.randn(logits.shape, generator=generator)
    return flow.contiguous(), logits.softmax(1)


def reference_fit(flow: torch.Tensor, masks: torch.Tensor, iterations: int = 20) -> torch.Tensor:
    """The reference method: per-layer weighted least squares (lstsq on the weighted design),
    then L-BFGS with strong Wolfe on the summed L1 loss."""
    batch, layers, height, width = masks.shape
    x, y = motion.normalized_coordinates(height, width)
    design = motion.spatial_basis(motion.parse_model(MODEL), x, y).reshape(-1, 6)  # (N, 6)
    root = masks.reshape(batch, layers, -1, 1).sqrt()
    weighted_design = root * design  # (B, K, N, 6)
    targets = root * flow.reshape(batch, 1, 2, -1).transpose(-1, -2)  # (B, K, N, 2)
    start = torch.linalg.lstsq(weighted_design, targets).solution  # (B, K, 6, 2)
    theta = start.transpose(-1, -2).contiguous().requires_grad_(True)
    optimizer = torch.optim.LBFGS([theta], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = motion.weighted_loss(flow, masks, theta, MODEL, "l1").sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return theta.detach()


def timed(function, repeats: int) -> tuple[float, torch.Tensor]:  # type: ignore[no-untyped-def]
    result = function()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        result = function()
    return (time.perf_counter() - start) / repeats, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    flow, masks = make_problem()
    flow, masks = flow.to(args.device), masks.to(args.device)

    def loss_of(theta: torch.Tensor) -> float:
        return float(motion.weighted_loss(flow, masks, theta, MODEL, "l1").sum())

    ref_time, ref = timed(lambda: reference_fit(flow, masks), max(1, args.repeats // 2))
    ref_loss = loss_of(ref)
    lsq_loss = loss_of(motion.fit(flow, masks, MODEL, "squared"))
    print(
        f"problem: B=16 K=4 {MODEL} l1, flows 128x224, device {args.device}, "
        f"threads {torch.get_num_threads()}"
    )
    print(f"least-squares start             L1 loss {lsq_loss:12.1f}")
    print(f"reference WLS + LBFGS(20)  {ref_time * 1e3:8.1f} ms  L1 loss {ref_loss:12.1f}")
    for label, iterations in (
        ("default (10 steps, tol)", 10),
        ("3 IRLS steps", 3),
        ("1 IRLS step", 1),
    ):
        ours_time, ours = timed(
            lambda n=iterations: motion.fit(flow, masks, MODEL, "l1", iterations=n), args.repeats
        )
        ours_loss = loss_of(ours)
        print(
            f"ours, {label:24s} {ours_time * 1e3:8.1f} ms  L1 loss {ours_loss:12.1f}  "
            f"speed-up {ref_time / ours_time:5.1f}x  loss ratio {ours_loss / ref_loss:.4f}"
        )


if __name__ == "__main__":
    main()
