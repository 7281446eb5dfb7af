"""The shared guards of motionlayers.errors."""

from __future__ import annotations

import pytest

from motionlayers.errors import InputError, check_choice
from motionlayers.losses.layered_events import LayeredDeblurLoss


def test_check_choice_names_the_option_and_the_choices() -> None:
    assert check_choice("split", ("split", "hard"), "mixing") == "split"
    with pytest.raises(
        InputError, match=r"^mixing: unknown 'nope'; choose from \('split', 'hard'\)"
    ):
        check_choice("nope", ["split", "hard"], "mixing")
    with pytest.raises(InputError, match="timestamp_normalise: unknown 'x'"):
        LayeredDeblurLoss(timestamp_normalise="x")
