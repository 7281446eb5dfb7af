"""Motion segmentation on DAVIS-2016 (train split): the EM and ST-MS networks and the classical
baselines, scored with the davis16 protocol (J, mean of sequence means) and timed.

    PYTHONPATH=src .venv/bin/python benchmarks/davis_segmentation.py \
        --methods em classical-em:1 classical-em:10 classical-em:100 robust-layers

Every method sees the flows that ``motionlayers segment`` computes (`pipeline.sources.flow_samples`:
frames resized to the working size, OpenCV DIS medium or the backend of ``--flow``, the last
frame's flow from the negated backward flow), cached under ``--cache``; the time per frame is
the method's alone (flow excluded: it is reported once). Predictions go through the
pipeline's steps (Hungarian temporal linking, temporal smoothing along the flow over
``--temporal-radius`` frames each side, the background choice,
`absorb_explained` with ``--explained-ratio``, upsampling of the soft masks to 854x480,
boundaries snapped to the frame's edges with ``--snap-radius``, the guide being the 240p frame
enlarged to 854x480, the foreground refined by the frame's colours with ``--colour-weight``,
its segments hugging the border dropped with ``--border-limit`` and its holes filled with
``--hole-fraction``) and are scored two ways:

- foreground without ground truth, one column per rule: ``largest`` (the largest layer is the
  background, thesis 2.4.2), ``border`` (the layer whose fitted quadratic model explains most
  border pixels; segment's default) and ``border-labels`` (the layer that covers most border
  pixels);
- ``GT`` the upper bound of thesis Table 2.5: the best subset of the layers that ``segment``
  writes (border rule), chosen with the ground truth (exhaustive selection per cut of 10 frames).

``em``, ``st`` and ``lt`` use the shipped models (``--layers``) unless ``--checkpoint`` or
``em:CKPT`` / ``st:CKPT`` / ``lt:CKPT`` name one (``lt`` in chunks: ``--chunk``,
``--chunk-overlap``, as ``segment``); ``classical-em:N`` is classical EM with N initialisations
selected by likelihood. ``--adapt-steps N ...`` adds a row per N for each network method:
its copy fine-tuned on each sequence's first flows before predicting, as ``segment
--adapt-steps N`` does (`motionlayers.methods.adapt`), and the adaptation's seconds per
sequence.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from motionlayers.defaults import DEFAULT_FLOW_BACKEND
from motionlayers.eval import evaluate_folders
from motionlayers.flow import FLOW_OVERSAMPLING
from motionlayers.io import list_masks, read_mask, write_mask
from motionlayers.methods import get_method
from motionlayers.methods.adapt import ADAPT_FRAMES, adapt_method
from motionlayers.motion import fit
from motionlayers.pipeline.sources import FlowSample, flow_samples, open_source
from motionlayers.pipeline.stream import volume_shape, volume_stream
from motionlayers.postprocess import (
    BORDER_CONTACT_LIMIT,
    COLOUR_WEIGHT,
    EXPLAINED_RATIO,
    HOLE_FRACTION,
    SNAP_RADIUS,
    TEMPORAL_RADIUS,
    absorb_explained,
    background_layers,
    frame_labels,
    labels_to_masks,
    link_masks,
    smooth_masks,
)

DEFAULT_ROOT = Path("/work/shared/data/davis2016-train")
MODEL = "quadratic12"
RULES = ("largest", "border", "border-labels")


def sequence_flows(
    frames_dir: Path, size: tuple[int, int], cache: Path, backend: str = DEFAULT_FLOW_BACKEND
) -> tuple[list[str], torch.Tensor]:
    """Stems and flows ``(T, 2, h, w)`` of a sequence, as ``segment --flow BACKEND`` computes
    them (cached; the default backend keeps the cache names it always had)."""
    tag = "" if backend == DEFAULT_FLOW_BACKEND else re.sub(r"[^\w.-]+", "_", backend) + "_"
    path = cache / f"{tag}{frames_dir.name}_{size[0]}x{size[1]}_os{FLOW_OVERSAMPLING}.npz"
    if path.exists():
        data = np.load(path)
        return [str(s) for s in data["stems"]], torch.from_numpy(data["flows"])
    samples = list(flow_samples(open_source(frames_dir), backend, size, FLOW_OVERSAMPLING))
    stems, flows = [s.stem for s in samples], torch.stack([s.flow for s in samples])
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, stems=np.array(stems), flows=flows.numpy())
    return stems, flows


def method_of(spec: str, layers: int | None, checkpoint: str | None):  # type: ignore[no-untyped-def]
    """``"em"``, ``"st"``, ``"lt"``, ``"em:CKPT"`` / ``"st:CKPT"`` / ``"lt:CKPT"`` (a
    checkpoint), ``"classical-em:N"`` or ``"robust-layers"`` -> a pipeline `Method`."""
    name, _, rest = spec.partition(":")
    options: dict[str, object] = {}
    if name == "classical-em":
        options["initialisations"] = int(rest or 10)
    trained = (rest or checkpoint) if name in ("em", "st", "lt") else None
    return get_method(name, None if trained else layers, "cpu", trained, **options)


def predict_sequence(  # type: ignore[no-untyped-def]
    method,
    flows: torch.Tensor,
    batch: int,
    linking: str,
    chunk: int | None = None,
    overlap: int | None = None,
) -> torch.Tensor:
    """Soft masks ``(T, K, h, w)`` of a sequence's flows ``(T, 2, h, w)``: flow pairs in
    batches, or (a flow-volume method such as ST-MS) the pipeline's volumes around each frame,
    linked on the frames they share (`volume_stream`; an any-length method such as LT-MS in
    chunks of ``chunk`` frames sharing ``overlap``, `volume_shape`; 0: the whole sequence)."""
    if method.entry.input != "flow-volume":
        return torch.cat([method(flows[i : i + batch]).masks for i in range(0, len(flows), batch)])
    samples = [
        FlowSample(t, str(t), flow, None, tuple(flow.shape[-2:])) for t, flow in enumerate(flows)
    ]
    length, stride = (
        volume_shape(method.entry, chunk, overlap)
        if method.entry.any_length
        else (method.entry.volume, method.entry.stride)
    )
    stream = volume_stream(samples, method, batch, linking, length, stride)
    masks = torch.stack([m for _, m in stream])
    if method.entry.any_length and stride == length and length:
        masks = link_masks(masks, linking)  # disjoint chunks: joined frame to frame
    return masks


def foregrounds(
    soft: torch.Tensor, flows: torch.Tensor, ratio: float, cut: int = 1
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Per rule, the soft masks after `absorb_explained` with that rule's background, and the
    background ``(T,)``; also the masks that ``segment`` writes (border rule) for the GT bound."""
    labels = soft.argmax(1)
    theta = fit(flows, labels_to_masks(labels, soft.shape[1]), MODEL, "l1")
    out = {}
    for rule in RULES:
        if rule == "border-labels":
            bg = background_layers(labels, "border", cut=cut)
        else:
            bg = background_layers(labels, rule, flows, theta, MODEL, cut=cut)
        out[rule] = (absorb_explained(soft, bg, flows, theta, MODEL, ratio), bg)
    return out, out["border"][0]


def guide_frame(folder: Path, stem: str, size: tuple[int, int]) -> np.ndarray:
    """The frame ``stem`` of ``folder`` enlarged to ``size`` (H, W), BGR (snapping, colours)."""
    frame = cv2.imread(str(next(folder.glob(f"{stem}.*"))))
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    frames_root, gt_root = root / "JPEGImages" / "240p", root / "Annotations" / "480p"
    if not frames_root.is_dir() or not gt_root.is_dir():
        print(
            f"error: DAVIS-2016 not found under {root} (JPEGImages/240p, Annotations/480p); "
            "pass --root",
            file=sys.stderr,
        )
        return 1
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    sequences = sorted(d.name for d in frames_root.iterdir() if d.is_dir())[: args.sequences]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = {}
        start = time.perf_counter()
        for seq in sequences:
            stems, flows = sequence_flows(frames_root / seq, size, Path(args.cache), args.flow)
            # davis16 scores every annotated frame but the first and the last: keep the first
            # F scored ones, and give the protocol the frames around them as the boundaries.
            end = min(1 + args.scored_frames, len(stems) - 1)
            gt = dict(list_masks(gt_root / seq))
            (tmp / "gt" / seq).mkdir(parents=True)
            for stem in stems[: end + 1]:
                (tmp / "gt" / seq / f"{stem}.png").symlink_to(gt[stem].resolve())
            # a volume method reads the flows around the scored frames too: keep them all
            data[seq] = (stems[1:end], flows, read_mask(gt[stems[1]]).shape, end)
        frames_total = sum(len(s) for s, _, _, _ in data.values())
        print(
            f"flows of {frames_total} frames ready in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
        refine = {
            "snap_radius": args.snap_radius,
            "colour_weight": args.colour,
            "border_limit": args.border_limit,
            "hole_fraction": args.hole_fraction,
        }
        for spec, steps in [(m, n) for m in args.methods for n in args.adapt_steps]:
            shipped = method_of(spec, args.layers, args.checkpoint)
            if steps and not shipped.entry.trainable:
                continue
            label = f"{spec}, adapt {steps}" if steps else spec
            seconds = adapting = 0.0
            for seq, (stems, every_flow, gt_size, end) in data.items():
                start = time.perf_counter()
                method = (
                    adapt_method(shipped, every_flow[:ADAPT_FRAMES], steps) if steps else shipped
                )
                adapting += time.perf_counter() - start
                start = time.perf_counter()
                context = every_flow if method.entry.input == "flow-volume" else every_flow[:end]
                soft = predict_sequence(
                    method, context, args.batch_size, args.linking, args.chunk, args.chunk_overlap
                )[1:end]
                flows = every_flow[1:end]
                seconds += time.perf_counter() - start
                along = None if args.plain_temporal else flows
                if method.entry.input != "flow-volume":  # volumes come linked
                    soft = link_masks(soft, args.linking)
                soft = smooth_masks(soft, args.temporal_radius, along)
                per_rule, written = foregrounds(
                    soft, flows, args.explained_ratio, args.foreground_cut
                )
                for t, stem in enumerate(stems):
                    frame = guide_frame(frames_root / seq, stem, gt_size)
                    bg_written = int(per_rule["border"][1][t])
                    full = frame_labels(
                        written[t], *gt_size, frame, background=bg_written, **refine
                    )
                    write_mask(_mk(tmp / label / "layers" / seq) / f"{stem}.png", full)
                    for rule, (masks, bg) in per_rule.items():
                        labels = frame_labels(
                            masks[t], *gt_size, frame, background=int(bg[t]), **refine
                        )
                        fg = (labels != int(bg[t])).astype(np.uint8)
                        write_mask(_mk(tmp / label / rule / seq) / f"{stem}.png", fg)
            scores = {rule: _j(tmp / label / rule, tmp / "gt", "nonzero") for rule in RULES}
            scores["GT"] = _j(tmp / label / "layers", tmp / "gt", "exhaustive")
            per_video = adapting / max(len(data), 1)
            rows.append((label, method.layers, scores, seconds / max(frames_total, 1), per_video))
            print(
                f"{label}: {scores} {seconds / frames_total:.4f} s/frame, adapting "
                f"{per_video:.1f} s/sequence",
                file=sys.stderr,
                flush=True,
            )
    chunking = "" if args.chunk is None else f", chunk {args.chunk} overlap {args.chunk_overlap}"
    print(
        f"\nDAVIS-2016 train, {len(sequences)} sequences, {frames_total} scored frames, flow "
        f"{args.flow} {size[0]}x{size[1]} (computed at {FLOW_OVERSAMPLING}x), {args.threads} CPU "
        f"thread(s), batch {args.batch_size}, "
        f"explained ratio {args.explained_ratio:g}, temporal radius {args.temporal_radius}, "
        f"snap radius {args.snap_radius:g}, colour weight {args.colour:g}, border limit "
        f"{args.border_limit:g}, hole fraction {args.hole_fraction:g}"
        f"{', plain temporal mean' if args.plain_temporal else ''}, linking {args.linking}, "
        f"foreground cut {args.foreground_cut}{chunking}\n"
    )
    print(
        "| method | K | "
        + " | ".join(f"J {r}" for r in RULES)
        + " | J GT-selected (bound) | ms / frame | adapting s / sequence |"
    )
    print("|---|---|" + "---|" * (len(RULES) + 3))
    for spec, layers, scores, spf, per_video in rows:
        cells = " | ".join(f"{100 * scores[r]:.1f}" for r in (*RULES, "GT"))
        print(f"| {spec} | {layers} | {cells} | {1000 * spf:.1f} | {per_video:.1f} |")
    return 0


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _j(pred: Path, gt: Path, selection: str) -> float:
    result = evaluate_folders(pred, gt, "davis16", selection=selection, cut=10)
    return float(result.overall["J_mean"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="DAVIS-2016 folder")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["em", "classical-em:1", "classical-em:10", "classical-em:100", "robust-layers"],
        help="em, st, classical-em:N (N initialisations), robust-layers",
    )
    parser.add_argument(
        "--checkpoint", default=None, help="em or st checkpoint (default: the shipped model)"
    )
    parser.add_argument(
        "--foreground-cut", type=int, default=1, help="segment's --foreground-cut (1: per frame)"
    )
    parser.add_argument(
        "--linking", default="hungarian", help="hungarian or greedy (in cuts of 10 frames)"
    )
    parser.add_argument("--layers", type=int, default=None, help="K (default: the method's)")
    parser.add_argument("--sequences", type=int, default=30, help="first N sequences")
    parser.add_argument(
        "--scored-frames",
        type=int,
        default=100000,
        help="score the first F frames of each sequence that davis16 scores (default: all)",
    )
    parser.add_argument("--size", default="128x224", help="working size HxW")
    parser.add_argument(
        "--flow",
        default=DEFAULT_FLOW_BACKEND,
        help=f"segment's --flow: the flow backend (default {DEFAULT_FLOW_BACKEND}; e.g. "
        "dis-fine, raft-small, soflow:WEIGHTS)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="lt: frames per pass (segment's --chunk; 0: the whole sequence)",
    )
    parser.add_argument(
        "--chunk-overlap", type=int, default=None, help="lt: frames shared by chunks"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="flows per method call")
    parser.add_argument(
        "--adapt-steps",
        type=int,
        nargs="+",
        default=[0],
        help="segment's --adapt-steps: one row per value for each network method (0: none)",
    )
    parser.add_argument(
        "--cache", default=str(Path(tempfile.gettempdir()) / "ml_davis_flows"), help="flow cache"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--explained-ratio",
        type=float,
        default=EXPLAINED_RATIO,
        help="absorb_explained's ratio, as segment's --explained-ratio (0: off)",
    )
    parser.add_argument(
        "--snap-radius",
        type=float,
        default=SNAP_RADIUS,
        help="snap_labels' radius, as segment's --snap-radius (0: off)",
    )
    parser.add_argument(
        "--temporal-radius",
        type=int,
        default=TEMPORAL_RADIUS,
        help="smooth_masks' radius, as segment's --temporal-radius (0: off)",
    )
    parser.add_argument(
        "--colour-weight",
        dest="colour",
        type=float,
        default=COLOUR_WEIGHT,
        help="colour_foreground's weight, as segment's --colour-weight (0: off)",
    )
    parser.add_argument(
        "--border-limit",
        type=float,
        default=BORDER_CONTACT_LIMIT,
        help="drop_border_segments' limit, as segment's --border-limit (0: off)",
    )
    parser.add_argument(
        "--hole-fraction",
        type=float,
        default=HOLE_FRACTION,
        help="fill_holes' largest hole, as segment's --hole-fraction (0: off)",
    )
    parser.add_argument(
        "--plain-temporal",
        action="store_true",
        help="average the masks without carrying them along the flow (segment's before "
        "2026-11-24 (3))",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
