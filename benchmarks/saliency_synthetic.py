"""NIMS on held-out generated flows: classification accuracy, J of the salient set, time per step,
against a supervised U-Net trained on the same generator with the ground-truth masks.

    PYTHONPATH=src .venv/bin/python benchmarks/saliency_synthetic.py --kind crowd \
        --model runs/nims-crowd/checkpoints/last.ckpt --frames 200 --supervised-steps 600

The test frames use seeds the training never saw (``--seed``). As in the thesis (5.3.3), J is the
mean IoU over the salient frames that the classifier classifies as salient; J over every salient
frame is printed too. The supervised U-Net ("gold standard", thesis: 67.1 against NIMS 53.6 on
ChAOS crowds) is trained here for ``--supervised-steps`` steps (cross-entropy on the masks) on
training seeds, then scored on every salient test frame; ``--bdmm G`` scores a BDMM generator
(J on every salient frame, and the share of non-salient frames whose mask is blank). Times are
per frame on this CPU, for each step of NIMS (LRP; candidate regions; selection; inpainting),
flow excluded as in the thesis.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from motionlayers.data.saliency import SaliencyFlowDataset
from motionlayers.methods.em_network import normalise_input
from motionlayers.methods.nims import SaliencyScorer, load_nims_model
from motionlayers.nets import UNet
from motionlayers.postprocess.saliency import saliency_map, select_salient


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(prediction, truth).sum()
    return float(np.logical_and(prediction, truth).sum() / union) if union else 1.0


def supervised_unet(kind: str, steps: int, height: int, width: int, seed: int) -> UNet:
    """A U-Net (depth 3, width 16) trained on the generator's masks (cross-entropy)."""
    torch.manual_seed(seed)
    net = UNet(2, 2, depth=3, width=16)
    data = SaliencyFlowDataset(kind, steps * 8, height, width, seed=seed)
    loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    # the salient pixels are few: weight them as much as the rest
    for step, batch in enumerate(loader):
        target = batch["mask"].long()
        share = target.float().mean().clamp(1e-3, 0.5)
        weight = torch.stack([share, 1 - share])
        logits = net(normalise_input(batch["flow"]))
        loss = torch.nn.functional.cross_entropy(logits, target, weight=weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 100 == 0:
            print(
                f"supervised step {step}: loss {float(loss.detach()):.3f}",
                file=sys.stderr,
                flush=True,
            )
    return net.eval()


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    scorer = SaliencyScorer(load_nims_model(args.model))
    test = SaliencyFlowDataset(args.kind, args.frames, args.height, args.width, seed=args.seed)
    times = {"LRP": 0.0, "regions": 0.0, "selection": 0.0, "inpainting": 0.0}
    correct, truths, predictions, predicted = [], [], [], []
    for index in range(len(test)):
        item = test[index]
        flow = item["flow"][None]
        start = time.perf_counter()
        attribution = scorer.attribution(flow)[0].numpy()
        times["LRP"] += time.perf_counter() - start
        start = time.perf_counter()
        regions = scorer.candidate_regions(flow, attribution[None])[0]
        times["regions"] += time.perf_counter() - start
        start = time.perf_counter()
        salient = select_salient(regions, attribution, min_region=scorer.min_region)
        times["selection"] += time.perf_counter() - start
        start = time.perf_counter()
        saliency_map(flow.double(), torch.from_numpy(salient)[None])
        times["inpainting"] += time.perf_counter() - start
        p = float(scorer.probability(flow)[0])
        label = bool(item["label"])
        correct.append((p >= 0.5) == label)
        truths.append(item["mask"].numpy())
        predictions.append(salient)
        predicted.append(p >= 0.5)
    labels = np.array([t.any() for t in truths])
    accuracy = float(np.mean(correct))
    hits = [i for i in range(len(test)) if labels[i] and predicted[i]]
    j_hits = np.mean([iou(predictions[i], truths[i]) for i in hits]) if hits else float("nan")
    j_all = np.mean([iou(predictions[i], truths[i]) for i in np.flatnonzero(labels)])
    rows = [
        ("NIMS (J on salient frames classified salient)", f"{100 * j_hits:.1f}", len(hits)),
        ("NIMS (J on every salient frame)", f"{100 * j_all:.1f}", int(labels.sum())),
    ]
    if args.bdmm:
        from motionlayers.methods.bdmm import load_bdmm_model

        generator = load_bdmm_model(args.bdmm)
        masks = [
            generator.predict_masks(test[i]["flow"][None])[0].numpy().astype(bool)
            for i in range(len(test))
        ]
        scores = [iou(masks[i], truths[i]) for i in np.flatnonzero(labels)]
        blank = [not masks[i].any() for i in np.flatnonzero(~labels)]
        rows.append(("BDMM (every salient frame)", f"{100 * np.mean(scores):.1f}", len(scores)))
        area = [float(masks[i].mean()) for i in np.flatnonzero(~labels)]
        rows.append(
            (
                "BDMM: mean salient area on the non-salient frames (% of the frame)",
                f"{100 * np.mean(area):.1f}",
                len(area),
            )
        )
        rows.append(
            (
                "BDMM: blank masks on the non-salient frames (%)",
                f"{100 * np.mean(blank):.1f}",
                len(blank),
            )
        )
    if args.supervised_steps > 0:
        net = supervised_unet(
            args.kind, args.supervised_steps, args.height, args.width, args.seed + 7_000_001
        )
        scores = []
        with torch.no_grad():
            for index in np.flatnonzero(labels):
                flow = test[int(index)]["flow"][None]
                mask = net(normalise_input(flow)).argmax(1)[0].numpy().astype(bool)
                scores.append(iou(mask, truths[index]))
        rows.append(
            (
                f"supervised U-Net ({args.supervised_steps} steps; every salient frame)",
                f"{100 * np.mean(scores):.1f}",
                int(labels.sum()),
            )
        )
    print(
        f"\n{args.kind}: {args.frames} held-out frames (seed {args.seed}), "
        f"{args.width}x{args.height}, {int(labels.sum())} salient; classification accuracy "
        f"{100 * accuracy:.1f} %\n"
    )
    print("| segmentation | J | frames |")
    print("|---|---:|---:|")
    for name, j, count in rows:
        print(f"| {name} | {j} | {count} |")
    per_frame = {k: v / len(test) for k, v in times.items()}
    print("\n| step | s / frame |\n|---|---:|")
    for name, seconds in per_frame.items():
        print(f"| {name} | {seconds:.3f} |")
    print(f"| total | {sum(per_frame.values()):.3f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="NIMS checkpoint or weights")
    parser.add_argument("--kind", default="parallax", choices=("parallax", "crowd"))
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--seed", type=int, default=20_261_203, help="held-out seed")
    parser.add_argument("--supervised-steps", type=int, default=0)
    parser.add_argument("--bdmm", default=None, help="a BDMM generator to score too")
    parser.add_argument("--threads", type=int, default=1)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
