"""``motionlayers methods``: every registered method with what it reads, its K, its shipped
weights and its recipes (`motionlayers.methods.registry`; no torch is imported)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the segmentation methods and flow networks: input, K, weights, recipes",
        description="List every registered segmentation method: the input it reads (flow "
        "pairs, flow volumes, frames, event windows), its K, the weights that ship with the "
        "package (one per K) and its training recipes (motionlayers train METHOD --config "
        "RECIPE); and the trainable flow networks (frame pairs), used as --flow NAME.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from motionlayers.methods.registry import METHODS

    rows = [("method", "input", "K", "shipped weights", "recipes", "")]
    for name in sorted(METHODS):
        entry = METHODS[name]
        if entry.input == "frame-pair":  # a flow network: no K; its models ship as backends
            from motionlayers.defaults import LEARNED_FLOW_WEIGHTS

            k = "- (flow)"
            shipped = ", ".join(LEARNED_FLOW_WEIGHTS.values())
        elif entry.shipped:
            k = ", ".join(f"K={layers}" for layers in entry.shipped)
            shipped = ", ".join(entry.shipped.values())
        else:
            k, shipped = f"K={entry.layers} (--layers)", "-"
        volume = f" (T={entry.volume}, stride {entry.stride})" if entry.volume > 1 else ""
        recipes = ", ".join(entry.recipes) or "- (not trainable)"
        rows.append((name, entry.input + volume, k, shipped, recipes, entry.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join(cells).rstrip() + (f"\n    {row[5]}" if row[5] else ""))
    return 0
