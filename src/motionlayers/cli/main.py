"""Entry point of the ``motionlayers`` command.

Each subcommand lives in its own module of this package exposing ``register(subparsers)``, which
adds a parser whose ``func`` default takes the parsed namespace and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from motionlayers import __version__
from motionlayers.errors import MotionLayersError

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = ("demo", "synth", "flow", "segment", "evaluate", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motionlayers",
        description="Unsupervised layered motion segmentation of videos and event streams.",
    )
    parser.add_argument("--version", action="version", version=f"motionlayers {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"motionlayers.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MotionLayersError as error:
        print(f"motionlayers {args.command}: error: {error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"motionlayers {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
