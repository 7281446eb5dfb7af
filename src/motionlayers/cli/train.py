"""``motionlayers train METHOD``: train a registered method from a recipe with Lightning."""

from __future__ import annotations

import argparse
from typing import Any

from motionlayers.cli.options import add_output
from motionlayers.errors import InputError


class _ListConfigs(argparse.Action):
    """``--list-configs``: print the packaged recipes, one line each, and exit (as --help)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from motionlayers.methods.config import describe_configs

        rows = describe_configs()
        width = max(len(name) for name, _, _ in rows)
        for name, method, summary in rows:
            print(f"{name:<{width}}  {method:<10}  {summary}")
        parser.exit()


def register(subparsers: argparse._SubParsersAction) -> None:
    # The method name is checked when the command runs (`get_trainable` lists the valid names), so
    # that building the parser does not import Lightning for every other command.
    parser = subparsers.add_parser(
        "train",
        help="train a segmentation method or flow network (checkpoints, CSV logs, resume)",
        description=(
            "Train METHOD from a recipe (a packaged name such as em or em-tiny, see "
            "--list-configs, or a YAML file), with overrides --set key=value (dotted keys, YAML "
            "values; a key the recipe does not take is an error that lists the valid ones). "
            "Writes OUT/config.yaml, OUT/checkpoints/last.ckpt and best-*.ckpt (lowest "
            "validation loss; no labels used) and logs in OUT/logs. Resumes from "
            "OUT/checkpoints/last.ckpt when present. Several devices train with DDP."
        ),
    )
    parser.add_argument("method", help="method to train (see motionlayers methods)")
    parser.add_argument(
        "--list-configs", action=_ListConfigs, help="list the packaged recipes and exit"
    )
    parser.add_argument(
        "--config", default=None, help="recipe name or YAML path (default: the method's recipe)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe entry, e.g. data.batch_size=4 (repeatable)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="'synthetic' (layered synthetic flows) or a folder/video PATH whose "
        "flow is computed and cached; a flow network reads its frames instead (default: the "
        "recipe's data.source)",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="optimisation steps")
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed of the run (default: the recipe's)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train this many runs (seeds SEED, SEED+1, ...) in OUT/seed-S and keep the lowest "
        "validation loss (OUT/best.json; thesis: the best of 5)",
    )
    add_output(parser, "output folder (default runs/train)", default="runs/train")
    parser.add_argument(
        "--resume", default=None, metavar="CKPT", help="training checkpoint to resume from"
    )
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL",
        help="start a new run from a trained model (weights .pt or .ckpt): tensors whose names "
        "and shapes match are copied, e.g. all but the output layer for another K",
    )
    parser.add_argument("--devices", type=int, default=1, help="number of devices (default 1)")
    parser.add_argument(
        "--accelerator",
        default="cpu",
        choices=["cpu", "gpu", "auto"],
        help="Lightning accelerator (default cpu)",
    )
    parser.add_argument(
        "--logger",
        default="csv",
        choices=["csv", "tensorboard"],
        help="training logs in OUT/logs: csv (default) or tensorboard (needs the extra "
        "motionlayers[tensorboard])",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from motionlayers.methods.config import apply_overrides, check_config, load_config
    from motionlayers.methods.registry import get_trainable
    from motionlayers.methods.train import train, train_seeds

    spec = get_trainable(args.method)
    recipe = args.config or spec.config
    config = load_config(recipe)
    if config.get("method", args.method) != args.method:
        raise InputError(
            "--config", f"recipe is for method {config['method']!r}, not {args.method!r}"
        )
    check_config(config, args.method, origin=str(recipe))  # the recipe's own errors first
    config = apply_overrides(config, args.overrides)
    check_config(config, args.method, origin="--set")
    config["method"] = args.method
    if args.data is not None:
        config["data"]["source"] = args.data
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise InputError("--max-steps", f"must be >= 1, got {args.max_steps}")
        config.setdefault("trainer", {})["max_steps"] = args.max_steps
    if args.seed is not None:
        if not 0 <= args.seed < 2**32:
            raise InputError("--seed", f"must be in [0, 2^32), got {args.seed}")
        config["seed"] = args.seed
    if args.init_from is not None:
        config["init_from"] = args.init_from  # recorded in OUT/config.yaml
    if args.devices < 1:
        raise InputError("--devices", f"must be >= 1, got {args.devices}")
    options = dict(
        devices=args.devices,
        accelerator=args.accelerator,
        progress=not args.no_progress,
        logger=args.logger,
    )
    if args.seeds != 1:
        if args.resume is not None:
            raise InputError("--resume", "each seed's run resumes from its own OUT/seed-S")
        seed, best, loss = train_seeds(config, args.output, args.seeds, **options)
        print(f"motionlayers train: best of {args.seeds} seeds: seed {seed}, val_loss {loss:.5f}")
        print(f"  {best} (recorded in {args.output}/best.json)")
        return 0
    train(config, args.output, resume=args.resume, **options)
    print(f"motionlayers train: checkpoints in {args.output}/checkpoints")
    return 0
