"""Typed keys of a recipe section, and the check that holds a section to them.

A `Key` is a type hint (``int``, ``float | None``, ``list[int]``, ``dict[str, float]``, a
``Literal``...) with optional bounds and choices. The values come from YAML, so the check is
strict where YAML is loose: an integer key refuses ``2.5``, ``"8"`` and ``true``; a float key
takes integers but refuses NaN and infinities; a key that is not in the section is an error that
lists the section's keys.
"""

from __future__ import annotations

import collections.abc
import math
import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from motionlayers.errors import InputError


@dataclass(frozen=True)
class Key:
    """One key of a recipe section.

    Attributes:
        hint: the type of its value (a type or a typing expression).
        required: the section must have it.
        low, high: bounds of a number (of each item of a list of numbers); ``low`` excluded
            when ``strict`` (``high`` is then excluded too).
        choices: the values it may take.
        length: the length a list must have.
    """

    hint: Any
    required: bool = False
    low: float | None = None
    high: float | None = None
    strict: bool = False
    choices: tuple[Any, ...] | None = None
    length: int | None = None


def check_section(section: Any, keys: dict[str, Key], prefix: str, origin: str) -> None:
    """Raise InputError unless ``section`` is a mapping of ``keys`` with valid values.

    ``prefix`` is the section's dotted path (``"data."``), ``origin`` where it came from; both
    lead the message (``--set data.batch_sise: unknown key; data takes: ...``).
    """
    where = prefix.rstrip(".") or "the recipe"
    if not isinstance(section, dict):
        raise InputError(_source(origin, where), f"expected a mapping, got {section!r}")
    for name, value in section.items():
        if name not in keys:
            raise InputError(
                _source(origin, f"{prefix}{name}"),
                f"unknown key; {where} takes: {', '.join(sorted(keys))}",
            )
        check_value(value, keys[name], _source(origin, f"{prefix}{name}"))
    for name, key in keys.items():
        if key.required and name not in section:
            raise InputError(_source(origin, f"{prefix}{name}"), "missing (required)")


def _source(origin: str, key: str) -> str:
    return f"{origin} {key}" if origin.startswith("-") else f"{origin}: {key}"


def check_value(value: Any, key: Key, source: str) -> None:
    """Raise InputError (naming ``source``) unless ``value`` fits ``key``."""
    if not _matches(value, key.hint):
        raise InputError(source, f"expected {_describe(key.hint)}, got {value!r}")
    if key.choices is not None and value not in key.choices:
        raise InputError(source, f"unknown {value!r}; choose from {key.choices}")
    items = value if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)) and key.length is not None and len(value) != key.length:
        raise InputError(source, f"expected {key.length} values, got {len(value)}")
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            _check_bounds(item, key, source)


def _check_bounds(number: float, key: Key, source: str) -> None:
    if key.low is not None and (number <= key.low if key.strict else number < key.low):
        raise InputError(source, f"must be {'>' if key.strict else '>='} {key.low}, got {number}")
    if key.high is not None and (number >= key.high if key.strict else number > key.high):
        raise InputError(source, f"must be {'<' if key.strict else '<='} {key.high}, got {number}")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a YAML ``value`` has the type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if hint in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_matches, value, args))
        return all(_matches(item, args[0] if args else Any) for item in value)
    if hint is dict or origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return False
        return all(_matches(item, args[1] if args else Any) for item in value.values())
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    """``hint`` in words: ``int | None`` -> ``an integer or null``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(arg) for arg in args))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if hint in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        plural = {int: "integers", float: "numbers", str: "strings"}
        return f"a list of {plural.get(args[0], 'values')}" if args else "a list"
    if hint is dict or origin in (dict, collections.abc.Mapping):
        return "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    if hint is None or hint is type(None):
        return "null"
    return names.get(hint, getattr(hint, "__name__", str(hint)))
