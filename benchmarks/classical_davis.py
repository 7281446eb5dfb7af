"""Classical motion segmentation on DAVIS-2016 (train split): EM with 1/10/100 initialisations and
hierarchical robust layers, scored with the davis16 protocol (J) and timed.

    PYTHONPATH=src .venv/bin/python benchmarks/classical_davis.py --sequences 6 \
        --frames-per-sequence 20

Flows: OpenCV DIS (medium) at the working size (128x224), cached under ``--cache``. Foreground
without ground truth: ``largest`` (largest layer is background) and ``border`` (the layer whose
motion model explains most border pixels); ``GT`` is the upper bound where the best subset of
layers is chosen with the ground truth (exhaustive selection per cut of 10 frames).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from motionlayers.classical import classical_em, robust_layers
from motionlayers.eval import evaluate_folders
from motionlayers.flow import get_backend, to_tensor
from motionlayers.io import list_frames, list_masks, read_image, read_mask, resize_image, write_mask
from motionlayers.motion import fit
from motionlayers.postprocess import background_layers, labels_to_masks, link_masks, upsample_masks

DEFAULT_ROOT = Path("/work/shared/data/davis2016-train")
MODEL = "quadratic12"


def sequence_flows(
    frames_dir: Path, count: int, size: tuple[int, int], cache: Path
) -> tuple[list[str], torch.Tensor]:
    """Stems and DIS flows ``(T, 2, h, w)`` of the first ``count`` frames (cached as .npz)."""
    entries = list_frames(frames_dir)[: count + 1]
    stems = [s for s, _ in entries][:count]
    path = cache / f"{frames_dir.name}_{size[0]}x{size[1]}_{len(stems)}.npz"
    if path.exists():
        return stems, torch.from_numpy(np.load(path)["flows"])
    backend = get_backend("dis-medium")
    frames = [resize_image(read_image(p), size) for _, p in entries]
    flows = []
    for t in range(len(stems)):
        s = t + 1 if t + 1 < len(frames) else t - 1
        flow = backend(frames[t], frames[s])
        flows.append(to_tensor(flow if s > t else -flow))
    tensor = torch.cat(flows)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, flows=tensor.numpy())
    return stems, tensor


def segment(
    flows: torch.Tensor, method: str, inits: int, layers: int, iterations: int = 20, irls: int = 5
) -> torch.Tensor:
    """Soft masks ``(T, K, h, w)``, in batches so that frames x initialisations stays <= 200."""
    out = []
    batch = max(1, 200 // max(inits, 1))
    for i in range(0, len(flows), batch):
        chunk = flows[i : i + batch]
        if method == "em":
            out.append(classical_em(chunk, layers, inits, iterations, irls=irls, seed=i).masks)
        else:
            out.append(labels_to_masks(robust_layers(chunk, layers).labels, layers))
    return link_masks(torch.cat(out))


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    frames_root, gt_root = root / "JPEGImages" / "240p", root / "Annotations" / "480p"
    if not frames_root.is_dir() or not gt_root.is_dir():
        print(
            f"error: DAVIS-2016 not found under {root} (JPEGImages/240p, Annotations/480p)",
            file=sys.stderr,
        )
        return 1
    if args.frames_per_sequence < 3:
        print(
            "error: davis16 skips the first and last frame: --frames-per-sequence >= 3",
            file=sys.stderr,
        )
        return 1
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    sequences = sorted(d.name for d in frames_root.iterdir() if d.is_dir())[: args.sequences]
    configs = [("em", n) for n in args.inits] + [("robust", 0)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = {}
        for seq in sequences:
            stems, flows = sequence_flows(
                frames_root / seq, args.frames_per_sequence, size, Path(args.cache)
            )
            gt = dict(list_masks(gt_root / seq))
            (tmp / "gt" / seq).mkdir(parents=True)
            for stem in stems:
                (tmp / "gt" / seq / f"{stem}.png").symlink_to(gt[stem].resolve())
            data[seq] = (stems, flows, read_mask(gt[stems[0]]).shape)
        for method, inits in configs:
            name = f"{method}-{inits}" if method == "em" else "robust"
            seconds, frames = 0.0, 0
            for seq, (stems, flows, gt_size) in data.items():
                start = time.perf_counter()
                soft = segment(flows, method, inits, args.layers, args.iterations, args.irls)
                seconds += time.perf_counter() - start
                frames += len(stems)
                labels = soft.argmax(1)
                theta = fit(flows, labels_to_masks(labels, soft.shape[1]), MODEL, "l1")
                bgs = {
                    r: background_layers(labels, r, flows, theta, MODEL)
                    for r in ("largest", "border")
                }
                for t, stem in enumerate(stems):
                    full = upsample_masks(soft[t : t + 1], *gt_size)[0].argmax(0).numpy()
                    write_mask(_mk(tmp / name / "layers" / seq) / f"{stem}.png", full)
                    for rule, bg in bgs.items():
                        fg = (full != int(bg[t])).astype(np.uint8)
                        write_mask(_mk(tmp / name / rule / seq) / f"{stem}.png", fg)
            scores = {
                rule: _j(tmp / name / rule, tmp / "gt", "nonzero") for rule in ("largest", "border")
            }
            scores["gt"] = _j(tmp / name / "layers", tmp / "gt", "exhaustive")
            rows.append((name, scores, seconds / max(frames, 1)))
            print(f"{name}: {scores} {seconds / max(frames, 1):.3f} s/frame", file=sys.stderr)
    print(
        f"\nDAVIS-2016 train, {len(sequences)} sequences x {args.frames_per_sequence} frames, "
        f"flow DIS-medium {size[0]}x{size[1]}, K={args.layers}, {MODEL}, "
        f"EM {args.iterations} iterations x {args.irls} IRLS steps, "
        f"{args.threads} CPU thread(s)\n"
    )
    print("| method | J largest-is-bg | J border rule | J GT-selected (bound) | s / frame |")
    print("|---|---|---|---|---|")
    for name, scores, spf in rows:
        print(
            f"| {name} | {100 * scores['largest']:.1f} | {100 * scores['border']:.1f} | "
            f"{100 * scores['gt']:.1f} | {spf:.3f} |"
        )
    return 0


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _j(pred: Path, gt: Path, selection: str) -> float:
    result = evaluate_folders(pred, gt, "davis16", selection=selection, cut=10)
    if not result.overall:
        from motionlayers.eval.summary import summarise

        summarise(result)
    return float(result.overall["J_mean"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="DAVIS-2016 folder")
    parser.add_argument("--sequences", type=int, default=30, help="first N sequences")
    parser.add_argument("--frames-per-sequence", type=int, default=1000, help="first F frames")
    parser.add_argument("--size", default="128x224", help="working size HxW")
    parser.add_argument("--layers", type=int, default=2, help="K (thesis: 2)")
    parser.add_argument(
        "--inits", type=int, nargs="+", default=[1, 10, 100], help="EM initialisation counts"
    )
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "ml_davis_flows"),
        help="flow cache folder",
    )
    parser.add_argument("--iterations", type=int, default=20, help="EM iterations")
    parser.add_argument("--irls", type=int, default=5, help="IRLS steps per M step")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
