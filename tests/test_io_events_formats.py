"""Text, NumPy and HDF5 event readers on small fake files written here; writers round trip."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from motionlayers.errors import InputError
from motionlayers.io import Events, detect_event_format, read_events, write_events

SIZE = (7, 5)  # (W, H)


def sample(n: int = 50, seed: int = 0, t0: int = 1_000) -> Events:
    rng = np.random.default_rng(seed)
    return Events(
        t=t0 + np.sort(rng.integers(0, 10_000, n)),
        x=rng.integers(0, SIZE[0], n),
        y=rng.integers(0, SIZE[1], n),
        p=rng.choice([-1, 1], n),
        sensor_size=SIZE,
    )


def same(a: Events, b: Events) -> bool:
    arrays = all(np.array_equal(getattr(a, k), getattr(b, k)) for k in "txyp")
    return arrays and a.sensor_size == b.sensor_size


# ---------------------------------------------------------------- writers: round trips


@pytest.mark.parametrize("suffix", [".npz", ".txt", ".es"])
def test_write_read_round_trip(tmp_path: Path, suffix: str) -> None:
    events = sample()
    before = [getattr(events, k).copy() for k in "txyp"]
    path = tmp_path / f"events{suffix}"
    write_events(path, events)
    back = read_events(path)
    assert same(back, events)
    for k, old in zip("txyp", before):  # writing leaves the events as they were
        np.testing.assert_array_equal(getattr(events, k), old)


@pytest.mark.parametrize("suffix", [".npz", ".txt", ".es"])
def test_write_read_empty(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    write_events(path, Events.empty(SIZE))
    back = read_events(path)
    assert len(back) == 0 and back.sensor_size == SIZE


def test_writer_rejects_unknown_suffix_and_negative_times(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.npz \.txt \.es"):
        write_events(tmp_path / "e.bin", sample())
    shifted = Events(t=[-5, 3], x=[0, 1], y=[0, 1], p=[1, -1], sensor_size=SIZE)
    with pytest.raises(InputError, match="times"):
        write_events(tmp_path / "e.es", shifted)
    write_events(tmp_path / "e.npz", shifted)  # npz keeps negative times
    assert read_events(tmp_path / "e.npz").t.tolist() == [-5, 3]


# ---------------------------------------------------------------- text


def test_text_seconds_as_in_ecd(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text("0.000000000 3 2 1\n0.003811000 6 4 0\n1.5e-2 0 0 1\n")
    ev = read_events(path, sensor_size=SIZE)
    assert ev.t.tolist() == [0, 3811, 15000]
    assert ev.x.tolist() == [3, 6, 0] and ev.y.tolist() == [2, 4, 0]
    assert ev.p.tolist() == [1, -1, 1]


def test_text_integer_microseconds_comments_and_geometry(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text("# made by a test\n7 5\n10 1 1 -1\n25 2 3 1\n")
    ev = read_events(path)
    assert ev.t.tolist() == [10, 25] and ev.p.tolist() == [-1, 1] and ev.sensor_size == (7, 5)


def test_text_without_geometry_needs_sensor_size(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text("0.1 1 1 1\n")
    with pytest.raises(InputError, match="--sensor-size WxH") as info:
        read_events(path)
    assert str(path) in str(info.value)
    assert read_events(path, sensor_size="2x2").sensor_size == (2, 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("0.1 1 1 1\n0.2 1 one 1\n", "not a 't x y p'"),
        ("0.1 1 1 1\n0.2 1 1\n", "not a 't x y p'"),
        ("0.1 1 1\n0.2 1 1\n", "4 columns"),
        ("1 1 1 1\n2.5 1 1 1\n", "decimals"),
        ("0.1 1 1 2\n", "polarity"),
        ("0.2 1 1 1\n0.1 1 1 1\n", None),  # unsorted: sorted by the reader, not an error
        ("0.1 9 1 1\n", r"\[0, 7\)"),
    ],
)
def test_text_bad_lines(tmp_path: Path, body: str, message: str | None) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(body)
    if message is None:
        assert read_events(path, sensor_size=SIZE).t.tolist() == [100_000, 200_000]
        return
    with pytest.raises(InputError, match=message) as info:
        read_events(path, sensor_size=SIZE)
    assert info.value.source == str(path)


# ---------------------------------------------------------------- npz and EVIMO


def test_npz_like_the_decoded_reference_files(tmp_path: Path) -> None:
    path = tmp_path / "x.decoded.npz"
    np.savez(
        path,
        t=np.array([3, 4, 9], np.uint64),
        x=np.array([1, 2, 6], np.uint16),
        y=np.array([0, 4, 4], np.uint16),
        p=np.array([1, 0, 1], np.int8),
        width=np.int64(7),
        height=np.int64(5),
    )
    ev = read_events(path)
    assert ev.t.tolist() == [3, 4, 9] and ev.p.tolist() == [1, -1, 1] and ev.sensor_size == (7, 5)
    with pytest.raises(InputError, match="disagrees"):
        read_events(path, sensor_size=(8, 5))


def test_npz_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, t=np.array([0.1, 0.2]), x=[0, 1], y=[0, 1], p=[0, 1])
    with pytest.raises(InputError, match="integer microseconds"):
        read_events(path, sensor_size=SIZE)
    np.savez(path, t=np.array([1, 2]), x=[0, 1], y=[0, 1])
    with pytest.raises(InputError, match="no event arrays"):
        read_events(path, sensor_size=SIZE)
    path.write_bytes(b"PK\x03\x04 but not a zip")
    with pytest.raises(InputError, match=r"\.npz"):
        read_events(path, sensor_size=SIZE)
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"bad\.npz: is empty \(0 bytes\)"):
        read_events(path, sensor_size=SIZE)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.array(["a", "b"])}, r"'x' must hold numbers, got dtype <U1"),
        ({"x": np.array([{}, {}], dtype=object)}, "Python objects"),
        ({"x": np.zeros((2, 2))}, r"'x' must have 1 dimension\(s\), got \(2, 2\)"),
        ({"width": np.array([7, 5])}, r"'width' must be a single value"),
    ],
)
def test_npz_arrays_are_checked_from_their_headers(
    tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    path = tmp_path / "bad.npz"
    good = {"t": np.array([1, 2]), "x": [0, 1], "y": [0, 1], "p": [0, 1], "width": 7, "height": 5}
    np.savez(path, **{**good, **arrays}, allow_pickle=True)
    with pytest.raises(InputError, match=rf"bad\.npz( \(array .x.\))?: .*{message}"):
        read_events(path)


def test_text_with_nan_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_text("7 5\n0.1 1 1 1\nnan 2 2 0\n")
    with pytest.raises(InputError, match=r"e\.txt: line 3: NaN or infinite value"):
        read_events(path)


def test_evimo_single_npz(tmp_path: Path) -> None:
    path = tmp_path / "seq.npz"
    events = np.array([[0.5, 1, 2, 0], [0.5000015, 6, 4, 1]])
    np.savez_compressed(path, events=events, mask=np.zeros((2, 5, 7), np.uint16), K=np.eye(3))
    ev = read_events(path)
    assert ev.t.tolist() == [500_000, 500_002] and ev.sensor_size == (7, 5)
    assert ev.p.tolist() == [-1, 1]


def test_evimo2_folder(tmp_path: Path) -> None:
    folder = tmp_path / "scene13_dyn_test_00_000000"
    folder.mkdir()
    np.save(folder / "dataset_events_t.npy", np.array([0.0005, 0.0012, 0.0014], np.float32))
    np.save(folder / "dataset_events_xy.npy", np.array([[1, 1], [6, 4], [0, 0]], np.uint16))
    np.save(folder / "dataset_events_p.npy", np.array([0, 1, 1], np.uint8))
    with pytest.raises(InputError, match="sensor_size"):
        read_events(folder)
    np.savez_compressed(folder / "dataset_mask.npz", mask_0000000000=np.zeros((5, 7), np.uint16))
    for path in (folder, folder / "dataset_events_t.npy"):
        ev = read_events(path)
        assert ev.t.tolist() == [500, 1200, 1400] and ev.sensor_size == (7, 5)
        assert ev.x.tolist() == [1, 6, 0] and ev.p.tolist() == [-1, 1, 1]
    (folder / "dataset_events_p.npy").unlink()
    with pytest.raises(InputError, match="dataset_events_p.npy"):
        read_events(folder, format="evimo2")


# ---------------------------------------------------------------- HDF5


def write_dsec(path: Path, events: Events, t_offset: int, drop: str = "") -> None:
    with h5py.File(path, "w") as f:
        group = f.create_group("events")
        columns = {
            "x": events.x.astype(np.uint16),
            "y": events.y.astype(np.uint16),
            "t": (events.t - t_offset).astype(np.uint32),
            "p": (events.p > 0).astype(np.uint8),
        }
        for key, values in columns.items():
            if key != drop:
                group.create_dataset(key, data=values, **hdf5plugin.Zstd())
        f.create_dataset("t_offset", data=np.int64(t_offset))
        f.create_dataset("ms_to_idx", data=np.searchsorted(events.t - t_offset, [0, 1000, 2000]))


def test_dsec_layout(tmp_path: Path) -> None:
    events = sample(t0=50_000_000_000)
    path = tmp_path / "events.h5"
    write_dsec(path, events, t_offset=49_999_999_000)
    assert detect_event_format(path) == "hdf5"
    with pytest.raises(InputError, match="640x480"):
        read_events(path)  # DSEC stores no geometry
    assert same(read_events(path, sensor_size=SIZE), events)


def test_dsec_missing_dataset(tmp_path: Path) -> None:
    path = tmp_path / "events.h5"
    write_dsec(path, sample(), t_offset=0, drop="p")
    with pytest.raises(InputError, match="lacks the dataset") as info:
        read_events(path, sensor_size=SIZE)
    assert info.value.source == str(path)


def test_mvsec_layout(tmp_path: Path) -> None:
    events = sample(t0=1_504_645_000_000_000)
    path = tmp_path / "indoor_flying1_data.hdf5"
    rows = np.stack([events.x, events.y, events.t / 1e6, events.p], axis=1).astype(np.float64)
    with h5py.File(path, "w") as f:
        f.create_dataset("davis/left/events", data=rows)
        f.create_dataset("davis/right/events", data=rows[:10])
    assert same(read_events(path, sensor_size=SIZE), events)
    assert len(read_events(path, sensor_size=SIZE, group="davis/right")) == 10
    with pytest.raises(InputError, match="davis/nowhere"):
        read_events(path, sensor_size=SIZE, group="davis/nowhere")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1, r"'/events/x' must be a 1-D dataset, got a scalar"),
        (["a", "b"], r"'/events/x' must hold numbers, got dtype object"),
        (np.zeros((2, 2)), r"'/events/x' must be a 1-D dataset, got shape \(2, 2\)"),
    ],
)
def test_hdf5_scalar_and_string_datasets(tmp_path: Path, value: object, message: str) -> None:
    path = tmp_path / "e.h5"
    with h5py.File(path, "w") as f:
        for key in "xytp":
            f[f"events/{key}"] = value if key == "x" else np.array([0, 1])
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: {message}"):
        read_events(path, sensor_size=SIZE)


def test_hdf5_without_events_and_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 2)))
    with pytest.raises(InputError, match="no events found"):
        read_events(path, sensor_size=SIZE)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(InputError, match="HDF5") as info:
        read_events(path, sensor_size=SIZE)
    assert info.value.source == str(path)


# ---------------------------------------------------------------- detection


def test_detection(tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_text("0.1 1 1 1\n")
    assert detect_event_format(tmp_path / "a.dat") == "text"  # plain ASCII, any suffix
    (tmp_path / "b.bin").write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match="unrecognised"):
        detect_event_format(tmp_path / "b.bin")
    with pytest.raises(InputError, match="no such file"):
        read_events(tmp_path / "missing.es")
    with pytest.raises(InputError, match="EVIMO2v2"):
        read_events(tmp_path)
    with pytest.raises(InputError, match="unknown event format"):
        read_events(tmp_path / "a.dat", format="mp4")


def test_text_with_commas(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("7,5\n0.5,1,2,1\n0.75,3,4,0\n")
    ev = read_events(path)
    assert ev.t.tolist() == [500_000, 750_000] and ev.sensor_size == (7, 5)
    assert ev.x.tolist() == [1, 3] and ev.p.tolist() == [1, -1]
