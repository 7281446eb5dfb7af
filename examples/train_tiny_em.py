"""Train a tiny EM segmentation network on synthetic flows, then use it.

`motionlayers.methods.train.train` is what ``motionlayers train em --config em-tiny`` runs: a
Lightning Trainer on the packaged recipe ``em-tiny`` (a small U-Net, K = 2, 32x32 synthetic
layered flows drawn on the fly), with the EM loss (thesis ch. 2): no labels are used, in training
or in choosing the checkpoint. The script trains for a few hundred steps (``--quick``: three),
loads the last checkpoint back (read safely: `motionlayers.methods.load_em_model`) and scores
its masks on held-out synthetic flows against their exact labels (IoU after Hungarian matching
of the layers), next to an untrained network's. A real recipe trains on the flow of your videos:
``motionlayers train em --config em-default --data VIDEOS_OR_FRAMES -o runs/em``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from motionlayers.data import SyntheticFlowDataset
from motionlayers.eval import assign, pairwise_jaccard
from motionlayers.methods import EMMethod, load_em_model
from motionlayers.methods.config import apply_overrides, load_config
from motionlayers.methods.train import train


def matched_iou(model: EMMethod, flows: SyntheticFlowDataset) -> float:
    """Mean over items and true layers of the IoU of the matched predicted layer."""
    layers = int(model.hparams["layers"])
    scores = []
    for item in flows:
        predicted = model.predict_masks(item["flow"][None]).argmax(1)[0].numpy()
        truth = item["labels"].numpy()
        present = np.unique(truth).tolist()
        iou = pairwise_jaccard(predicted, truth, list(range(layers)), present)  # (K, G)
        rows = assign(iou)  # the predicted layer matched to each true layer
        scores += [iou[r, g] if r >= 0 else 0.0 for g, r in enumerate(rows)]
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="out/examples/train_tiny_em")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps (300)")
    parser.add_argument("--quick", action="store_true", help="three steps (the tests' run)")
    args = parser.parse_args(argv)
    steps = 3 if args.quick else args.steps
    torch.set_num_threads(1)  # a tiny network: more threads only add overhead

    config = load_config("em-tiny")  # the packaged recipe, as a dict
    config = apply_overrides(config, [f"trainer.max_steps={steps}", "trainer.val_check_interval=3"])
    out = Path(args.output)
    train(config, out, progress=False)
    trained = load_em_model(out / "checkpoints" / "last.ckpt")

    data = config["data"]
    held_out = SyntheticFlowDataset(
        length=32, height=data["height"], width=data["width"], layers=2, seed=12345
    )
    torch.manual_seed(0)  # the untrained network's random weights, the same every run
    untrained = EMMethod(**config["model"]).eval()
    print(f"trained {steps} steps; checkpoints in {out / 'checkpoints'}")
    before, after = matched_iou(untrained, held_out), matched_iou(trained, held_out)
    print(f"matched IoU on 32 held-out flows: untrained {before:.3f}, trained {after:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
