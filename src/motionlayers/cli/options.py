"""Options that several subcommands share, spelt one way everywhere (`CONVENTIONS`).

Old spellings keep working for one release: they are registered on the parser but left out of
the help, and using one prints ``motionlayers: warning: --backend is deprecated, use --flow`` on
stderr. This module imports only the standard library, `motionlayers.defaults` and
`motionlayers.errors`, so that building the parsers stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from motionlayers.defaults import DEFAULT_FLOW_BACKEND, FLOW_BACKENDS
from motionlayers.errors import InputError

CONVENTIONS = (
    "Conventions of every motionlayers command: sizes are WxH, width first (as ffmpeg -s, "
    "OpenCV and event sensors such as 346x260); -o/--output names the output folder; --flow "
    "names the optical-flow backend; --device is a torch device (cpu, cuda, cuda:N, mps). The "
    "old spellings --out, --backend and --size HxW still work in this release, with a warning."
)
"""Said once in every help text (the epilog of each parser)."""

Parse = Callable[[str, str], Any]
"""``parse(text, spelling) -> value``: converts an option's text, knowing which spelling came."""


def warn(message: str) -> None:
    """Print ``motionlayers: warning: MESSAGE`` on stderr."""
    print(f"motionlayers: warning: {message}", file=sys.stderr)


class Option(argparse.Action):
    """Store an option's value, converted by ``parse`` if given; old spellings warn.

    Args:
        renamed: old spelling -> what to write instead (shown in the warning).
        parse: ``(text, spelling) -> value``; it raises `InputError` naming the spelling used.
    """

    def __init__(
        self,
        option_strings: list[str],
        dest: str,
        renamed: Mapping[str, str] | None = None,
        parse: Parse | None = None,
        **kwargs: Any,
    ):
        super().__init__(option_strings, dest, **kwargs)
        self.renamed = dict(renamed or {})
        self.parse = parse

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        spelling = option_string or self.dest
        if spelling in self.renamed:
            warn(f"{spelling} is deprecated, use {self.renamed[spelling]}")
        setattr(namespace, self.dest, self.parse(values, spelling) if self.parse else values)


def add_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *names: str,
    renamed: Mapping[str, str] | None = None,
    parse: Parse | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """``parser.add_argument(*names, **kwargs)``, plus old spellings (``renamed``: old spelling
    -> its replacement) that reach the same option with a warning and are not listed in the
    help, and an optional ``parse(text, spelling)``."""
    renamed = dict(renamed or {})
    action = parser.add_argument(*names, action=Option, renamed=renamed, parse=parse, **kwargs)
    for old in renamed:
        # The parser looks spellings up in this table; the help and the error messages list
        # `action.option_strings`, which hold only the current names.
        if old in parser._option_string_actions:
            raise ValueError(f"{old} is already an option of {getattr(parser, 'prog', parser)}")
        parser._option_string_actions[old] = action
    return action


def add_output(
    parser: argparse.ArgumentParser,
    help: str,
    default: str | None = None,
    required: bool | None = None,
) -> argparse.Action:
    """``-o/--output OUT`` (``--out`` is its old spelling); by default required unless it has a
    default."""
    return add_option(
        parser,
        "-o",
        "--output",
        renamed={"--out": "-o/--output"},
        required=default is None if required is None else required,
        default=default,
        metavar="OUT",
        help=help,
    )


def add_flow(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    renamed: tuple[str, ...] = (),
    **kwargs: Any,
) -> argparse.Action:
    """``--flow NAME``: the optical-flow backend (``renamed``: old spellings, e.g. --backend;
    ``kwargs``: e.g. ``dest``, or ``default=argparse.SUPPRESS`` to tell a given value apart)."""
    kwargs.setdefault("default", DEFAULT_FLOW_BACKEND)
    return add_option(
        parser,
        "--flow",
        renamed=dict.fromkeys(renamed, "--flow"),
        metavar="NAME",
        help=f"optical-flow backend: {', '.join(FLOW_BACKENDS)} (precomputed:FOLDER reads "
        "flow files from FOLDER; raft:CHECKPOINT runs RAFT with your weights through ptlflow "
        f"or torchvision) (default {DEFAULT_FLOW_BACKEND})",
        **kwargs,
    )


def add_size(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    name: str,
    default: tuple[int, int] | None,
    help: str,
    *,
    stored: Any = None,
    **kwargs: Any,
) -> argparse.Action:
    """``NAME WxH``, stored as ``(H, W)``; ``--size HxW`` (height first) is its old spelling.

    ``help`` is completed with the default, written WxH; ``stored`` is the parser's default
    when it differs (``argparse.SUPPRESS`` to tell a given value apart); ``kwargs`` go to the
    parser (e.g. ``dest``).
    """
    shown = "" if default is None else f" (default {format_size(default)})"
    kwargs["default"] = default if stored is None else stored
    return add_option(
        parser,
        name,
        renamed={"--size": f"{name} WxH (width first)"},
        parse=_size_by_spelling,
        metavar="WxH",
        help=help + shown,
        **kwargs,
    )


def _size_by_spelling(text: str, spelling: str) -> tuple[int, int]:
    """The old ``--size`` was written HxW, height first; every current size is WxH."""
    return parse_size(text, spelling, "HxW" if spelling == "--size" else "WxH")


def add_device(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, **kwargs: Any
) -> argparse.Action:
    """``--device``: a torch device, checked when the command starts (`resolve_device`)."""
    kwargs.setdefault("default", "cpu")
    return parser.add_argument(
        "--device", help="torch device: cpu, cuda, cuda:N or mps (default cpu)", **kwargs
    )


_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


def parse_size(text: str, option: str, order: str = "WxH") -> tuple[int, int]:
    """``"320x240"`` -> ``(240, 320)``: a size written WxH (or HxW with ``order="HxW"``) as the
    library's ``(H, W)``.

    Raises:
        InputError: named after ``option``, unless the text is two positive integers.
    """
    match = _SIZE.fullmatch(text)
    if match is None or min(int(match.group(1)), int(match.group(2))) <= 0:
        example = "320x240" if order == "WxH" else "240x320"
        raise InputError(
            option, f"expected {order} with positive integers, e.g. {example}, got {text!r}"
        )
    first, second = int(match.group(1)), int(match.group(2))
    return (second, first) if order == "WxH" else (first, second)


def format_size(size: tuple[int, int]) -> str:
    """``(H, W)`` -> ``"WxH"``."""
    return f"{size[1]}x{size[0]}"
