"""Real recordings against copies decoded by independent decoders (exact equality).

The files live in ``shared/data/events`` beside the repository (see its README): two Event
Stream files (faery's decoder), a Prophesee EVT 2.0 and an EVT 3.0 file (expelliarmus). Each
``X.decoded.npz`` holds t (uint64 us), x, y (uint16), p (1 = ON, 0 = OFF), width and height.
Neither RAW header stores the geometry, so the sensor size is passed. The tests skip when the
folder is absent (it ships with the project's CI, not with the package);
``MOTIONLAYERS_EVENT_DATA`` can point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from motionlayers.errors import InputError
from motionlayers.io import read_events

RECORDINGS = {
    "eed_what_is_background.es": None,
    "dvs_320x240.es": None,
    "evt2_640x480.raw": (640, 480),
    "evt3_1280x720.raw": (1280, 720),
}


def data_folder() -> Path:
    candidates = [
        os.environ.get("MOTIONLAYERS_EVENT_DATA", ""),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "events",
        "/work/shared/data/events",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "dvs_320x240.es").is_file():
            return Path(candidate)
    pytest.skip("real event recordings not found (shared/data/events); set MOTIONLAYERS_EVENT_DATA")


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_reader_reproduces_the_independent_decoding(name: str) -> None:
    folder = data_folder()
    events = read_events(folder / name, sensor_size=RECORDINGS[name])
    reference = np.load(folder / (name.rsplit(".", 1)[0] + ".decoded.npz"))
    assert events.sensor_size == (int(reference["width"]), int(reference["height"]))
    assert len(events) == len(reference["t"])
    # Times are the recording's own clock, not shifted: .es from 0, RAW from the camera's clock.
    np.testing.assert_array_equal(events.t, reference["t"].astype(np.int64))
    np.testing.assert_array_equal(events.x, reference["x"])
    np.testing.assert_array_equal(events.y, reference["y"])
    np.testing.assert_array_equal(events.p, np.where(reference["p"] == 1, 1, -1))


@pytest.mark.parametrize("name", ["evt2_640x480.raw", "evt3_1280x720.raw"])
def test_raw_without_geometry_asks_for_the_sensor_size(name: str) -> None:
    path = data_folder() / name
    with pytest.raises(InputError, match="--sensor-size") as info:
        read_events(path)
    assert info.value.source == str(path)
