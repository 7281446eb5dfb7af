"""Entry point of the ``motionlayers`` command.

Each subcommand lives in its own module of this package exposing ``register(subparsers)``, which
adds a parser whose ``func`` default takes the parsed namespace and returns an exit code. Those
modules import only the standard library and `motionlayers.defaults` at their top: the libraries
that do the work (torch, OpenCV, Lightning) are imported inside ``func``, so that ``--help`` and
argument errors answer at once.

Failures end in one line on stderr, ``motionlayers COMMAND: error: ...``, and a non-zero status:
1 for a bad input or a system error (`OSError`, out of memory), 2 for bad usage, 130 for Ctrl-C
and 143 for SIGTERM (``128 + signal``). SIGTERM is turned into a `KeyboardInterrupt`
(`motionlayers.errors.Interrupted`), so that it takes the same clean-up path as Ctrl-C: the
context managers that write outputs atomically remove their temporary files.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from motionlayers import __version__
from motionlayers.cli.options import CONVENTIONS
from motionlayers.errors import Interrupted, MotionLayersError

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "demo",
    "synth",
    "flow",
    "segment",
    "saliency",
    "methods",
    "evaluate",
    "train",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motionlayers",
        description="Unsupervised layered motion segmentation of videos and event streams.",
    )
    parser.add_argument("--version", action="version", version=f"motionlayers {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"motionlayers.cli.{name}").register(subparsers)
    _add_epilog(parser)
    return parser


def _add_epilog(parser: argparse.ArgumentParser) -> None:
    """Every help text ends with the conventions: ``parser``'s and its sub-commands' (nested
    ones such as ``synth flow`` too)."""
    if parser.epilog is None:
        parser.epilog = CONVENTIONS
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_epilog(child)


def main(argv: list[str] | None = None) -> int:
    """Run ``motionlayers ARGV`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prog, source = _prog(argv), None
    with _sigterm_raises():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            prog = f"motionlayers {args.command}" if args.command else "motionlayers"
            source = getattr(args, "input", None)
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            return int(args.func(args) or 0)
        except KeyboardInterrupt as error:
            number = error.signal_number if isinstance(error, Interrupted) else signal.SIGINT
            how = "" if number == signal.SIGINT else f" by {signal.Signals(number).name}"
            print(f"{prog}: interrupted{how}", file=sys.stderr)
            return 128 + number
        except MotionLayersError as error:
            return _fail(prog, str(error))
        except BrokenPipeError:
            _silence_stdout()  # the reader went away (`| head`): nothing left to tell it
            return 1
        except OSError as error:
            return _fail(prog, _os_message(error))
        except (MemoryError, RuntimeError) as error:
            detail = _out_of_memory(error)
            if detail is None:
                raise  # a RuntimeError that is not about memory is a bug: keep its traceback
            return _fail(prog, f"{source}: {detail}" if source else detail)


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 1


def _prog(argv: list[str]) -> str:
    """``motionlayers COMMAND`` from the raw arguments (before they are parsed)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return f"motionlayers {command}" if command in COMMAND_MODULES else "motionlayers"


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises `Interrupted` in the main thread (as Ctrl-C raises
    `KeyboardInterrupt`); the previous handler is restored on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(number: int, frame: Any) -> None:
        signal.signal(number, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        raise Interrupted(number)

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        # None: the previous handler was not set from Python; the default is the best guess.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _os_message(error: OSError) -> str:
    """``PATH: reason`` rather than ``[Errno 2] No such file or directory: 'PATH'``."""
    if error.strerror and error.filename is not None:
        names = f"{error.filename}" + (f" -> {error.filename2}" if error.filename2 else "")
        return f"{names}: {error.strerror}"
    return str(error) or type(error).__name__


_TORCH_ALLOCATION = re.compile(r"(?:can't allocate memory|not enough memory).*?(\d+) bytes", re.S)


def _out_of_memory(error: BaseException) -> str | None:
    """``"out of memory (...)"`` for a failed allocation (NumPy's `MemoryError` names the array
    it tried to make; torch raises a `RuntimeError` naming the bytes), else None."""
    if isinstance(error, MemoryError):
        detail = str(error)
        return f"out of memory ({detail})" if detail else "out of memory"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return "out of GPU memory"
    match = _TORCH_ALLOCATION.search(str(error))
    if match is None:
        return None
    return f"out of memory (tried to allocate {int(match.group(1)) / 2**30:.1f} GiB)"


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
