"""The options of a segmentation, each with its default, its bounds and the inputs it applies to.

One table (`OPTIONS`) serves the Python API (`motionlayers.segment(source, **options)`) and the
command line: an option that does not apply to the input (``--window-us`` on a video,
``--flow`` on a folder of flow files, ``--snap-radius`` on flows, which have no frame to snap
to) is an error that says what it applies to, never silently ignored. Torch-free, so that the
command line can check options before the libraries load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from motionlayers.defaults import (
    BORDER_CONTACT_LIMIT,
    COLOUR_WEIGHT,
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLOW_BACKEND,
    DEFAULT_REFINE_ITERATIONS,
    DEFAULT_WORKING_SIZE,
    EXPLAINED_RATIO,
    FLOW_OVERSAMPLING,
    FOREGROUND_CUT,
    HOLE_FRACTION,
    LINKINGS,
    SALIENCY_RULE,
    SEGMENT_FOREGROUND_RULES,
    SNAP_RADIUS,
    TEMPORAL_RADIUS,
)
from motionlayers.errors import InputError

SOURCE_KINDS = ("video", "frames", "flows", "events", "camera", "arrays")
"""What a source is: a video file, a folder of frames, a folder of flow files, an event
recording, a live camera (``camera:N`` or a ``cv2.VideoCapture``), or frames from Python (an
iterable of arrays)."""
IMAGES = frozenset({"video", "frames", "camera", "arrays"})
"""Sources with frames (the flow is computed, the boundaries can follow the images)."""
FLOWS = IMAGES | {"flows"}
"""Sources segmented through their optical flow."""
EVENTS = frozenset({"events"})
ALL = frozenset(SOURCE_KINDS)

MAX_WEIGHT = 1e9
"""Upper bound of the ratios, weights and limits: finite (an infinite colour weight turns the
colour step's logits into NaN), far above any useful value."""


@dataclass(frozen=True)
class Option:
    """One option: its name (the API's; the command line writes ``--name-with-dashes`` or the
    ``flag`` given), default, the source kinds it applies to, bounds ``[low, high]`` of a number
    (None: any) and choices."""

    name: str
    default: Any
    applies: frozenset[str]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    flag: str = ""
    nullable: bool = False
    """None is a value of its own (``size=None``: the input's size), not "unset"."""

    @property
    def cli(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` if valid, else an `InputError` naming the option."""
        if value is None or isinstance(value, (str, tuple, list)) and not self.choices:
            return value
        if self.choices:
            if value not in self.choices:
                raise InputError(self.cli, f"unknown {value!r}; valid: {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        inside = (self.low is None or value >= self.low) and (
            self.high is None or value <= self.high
        )
        if inside and math.isfinite(value):  # NaN and infinities fail
            return value
        if self.low is not None and self.high is not None:
            problem = f"must be in [{self.low:g}, {self.high:g}]"
        elif self.low == 1:
            problem = "must be positive"
        else:
            problem = f"must be >= {self.low:g}" if self.low is not None else "must be finite"
        raise InputError(self.cli, f"{problem}, got {value}")
        return value


OPTIONS = {
    option.name: option
    for option in (
        Option("layers", None, ALL),
        Option("checkpoint", None, ALL),
        Option("device", "cpu", ALL),
        Option("fps", None, ALL, 0.1, 1000),
        Option("progress", True, ALL),
        Option("soft", False, ALL),
        Option("max_frames", None, ALL, 1, 10**9),
        Option(
            "foreground_rule", SEGMENT_FOREGROUND_RULES[0], ALL, choices=SEGMENT_FOREGROUND_RULES
        ),
        Option("saliency_model", None, FLOWS),
        # computing the flow
        Option("flow_backend", DEFAULT_FLOW_BACKEND, IMAGES, flag="--flow"),
        Option("flow_oversample", FLOW_OVERSAMPLING, IMAGES, 1, 8),
        # working on flows
        Option("size", DEFAULT_WORKING_SIZE, FLOWS, flag="--working-size", nullable=True),
        Option("batch_size", DEFAULT_BATCH_SIZE, FLOWS, 1, 4096),
        Option("temporal_radius", TEMPORAL_RADIUS, FLOWS, 0, 100),
        Option("foreground_cut", FOREGROUND_CUT, FLOWS, 1, 1000),
        Option("linking", LINKINGS[0], FLOWS, choices=LINKINGS),
        Option("chunk", None, FLOWS, 0, 10**6),
        Option("chunk_overlap", None, FLOWS, 0, 1000),
        Option("adapt_steps", 0, FLOWS, 0, 10**6),
        Option("explained_ratio", EXPLAINED_RATIO, FLOWS, 0, MAX_WEIGHT),
        Option("border_limit", BORDER_CONTACT_LIMIT, FLOWS, 0, MAX_WEIGHT),
        Option("hole_fraction", HOLE_FRACTION, FLOWS, 0, 1),
        # following the frames
        Option("snap_radius", SNAP_RADIUS, IMAGES, 0, 1),
        Option("colour_weight", COLOUR_WEIGHT, IMAGES, 0, MAX_WEIGHT),
        # event windows
        Option("window_events", None, EVENTS, 1),
        Option("window_us", None, EVENTS, 1),
        Option("sensor_size", None, EVENTS),
        Option("refine_iterations", DEFAULT_REFINE_ITERATIONS, EVENTS, 0, flag="--refine"),
    )
}
"""Every option of a segmentation by its API name."""


def _applies_to(option: Option) -> str:
    groups = [
        (IMAGES, "videos and frames"),
        (FLOWS, "videos, frames and flows"),
        (EVENTS, "events"),
    ]
    for kinds, words in groups:
        if option.applies == kinds:
            return words
    return ", ".join(sorted(option.applies))


def resolve_options(kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """Every option's value for a source of ``kind``: the ``given`` ones (checked) over the
    defaults.

    Raises:
        InputError: an unknown option, a value out of bounds, or an option that does not apply
            to this kind of source (it would be ignored).
    """
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise InputError(
            "options", f"unknown option {', '.join(unknown)}; valid: {', '.join(sorted(OPTIONS))}"
        )
    for name, value in given.items():
        option = OPTIONS[name]
        if kind not in option.applies and (value is not None or option.nullable):
            raise InputError(
                option.cli,
                f"does not apply to {KIND_WORDS[kind]} (it applies to {_applies_to(option)})",
            )
        option.check(value)
    if kind in EVENTS and given.get("foreground_rule") == SALIENCY_RULE:
        raise InputError(
            "--foreground-rule",
            f"{SALIENCY_RULE} reads optical flow; it does not apply to an event recording",
        )
    if given.get("saliency_model") is not None and given.get("foreground_rule") != SALIENCY_RULE:
        raise InputError("--saliency-model", f"applies to --foreground-rule {SALIENCY_RULE} only")
    values = {name: o.default for name, o in OPTIONS.items()}
    values.update({k: v for k, v in given.items() if v is not None or OPTIONS[k].nullable})
    return values


KIND_WORDS = {
    "video": "a video",
    "frames": "a folder of frames",
    "flows": "a folder of flow files",
    "events": "an event recording",
    "camera": "a camera",
    "arrays": "frames from Python",
}
"""How messages name each kind of source."""

__all__ = [
    "ALL",
    "EVENTS",
    "FLOWS",
    "IMAGES",
    "OPTIONS",
    "KIND_WORDS",
    "SOURCE_KINDS",
    "Option",
    "resolve_options",
]
