"""The bad-input corpus: every bad input a user can hand the command line ends in one clear line.

Each case writes its own tiny fixture (32x32 frames, 3 frames, a few hundred events) and runs the
real entry point in-process (``motionlayers.cli.main.main(argv)``), once with no output folder
and once with an output folder holding files of the user's. Every case must

- exit non-zero, without a traceback;
- print exactly one line on stderr, ``motionlayers <command>: error: <input>: <problem>``, that
  names the input (file or option) and says what is wrong with it (the case's pattern);
- leave its folder exactly as it was: no output folder created, no temporary folder left beside
  it, the user's files in an existing output folder untouched;

and every near miss (an input that looks wrong but is valid) must succeed. The fixture writers
and the judge are in ``bad_input_kit.py``. Cases that still fail are ``xfail(strict=True)`` with
the engineer who fixes them. The count by outcome and the table of cases are in
``docs/bad-inputs.md``; ``benchmarks/bad_inputs.py --write docs/bad-inputs.md`` regenerates it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bad_input_kit import (
    FAST,
    FINE,
    INF_FLOW,
    NAN_FLOW,
    OUT,
    PNG,
    SIZE_RE,
    Case,
    H,
    W,
    big_png_header,
    event_arrays,
    events_h5,
    events_npz,
    events_txt,
    flo_bytes,
    flow_cmd,
    flow_size,
    frames_16bit,
    frames_dir,
    good_flow,
    masks_dir,
    mp4,
    npy_bytes,
    npy_header,
    npz_bytes,
    outcome,
    pfm_bytes,
    png_bytes,
    seg,
    seg_events,
    seg_flows,
    seg_frames,
    seg_precomputed,
    seg_size,
    synth,
    texture_frames,
    truncated,
    unreadable,
    video,
    write,
)

FLOW_FILES = [  # flow files (a flow folder)
    Case(
        "flo truncated data",
        seg_flows("00001.flo", flo_bytes(good_flow())[:-100]),
        r"00001\.flo: .*needs \d+ data bytes",
    ),
    Case(
        "flo truncated header",
        seg_flows("00001.flo", flo_bytes(good_flow())[:7]),
        r"00001\.flo: truncated",
    ),
    Case("flo empty file", seg_flows("00001.flo", b""), r"00001\.flo: truncated"),
    Case(
        "flo bad magic",
        seg_flows("00001.flo", b"XXXX" + flo_bytes(good_flow())[4:]),
        r"00001\.flo: bad \.flo magic",
    ),
    Case(
        "flo huge header",
        seg_flows("00001.flo", flo_bytes(good_flow(), (100_000, 100_000))),
        r"00001\.flo: .*(maximum|needs)",
    ),
    Case(
        "flo zero size",
        seg_flows("00001.flo", flo_bytes(good_flow()[:0], (0, 32))),
        r"00001\.flo: .*(invalid|empty)",
    ),
    Case("flo NaN", seg_flows("00001.flo", flo_bytes(NAN_FLOW)), r"00001\.flo: .*non-finite"),
    Case("flo inf", seg_flows("00001.flo", flo_bytes(INF_FLOW)), r"00001\.flo: .*non-finite"),
    Case(
        "flo other size",
        seg_flows("00001.flo", flo_bytes(good_flow(16, 16))),
        r"00001\.flo: .*differs",
    ),
    Case(
        "pfm truncated",
        seg_flows("00001.pfm", pfm_bytes(good_flow())[:-50]),
        r"00001\.pfm: .*needs \d+ data bytes",
    ),
    Case(
        "pfm bad header",
        seg_flows("00001.pfm", b"P6\n32 32\n255\n" + bytes(100)),
        r"00001\.pfm: bad PFM header",
    ),
    Case(
        "pfm one channel",
        seg_flows("00001.pfm", b"Pf\n32 32\n-1\n" + bytes(32 * 32 * 4)),
        r"00001\.pfm: single-channel",
    ),
    Case("pfm NaN", seg_flows("00001.pfm", pfm_bytes(NAN_FLOW)), r"00001\.pfm: .*non-finite"),
    Case(
        "pfm huge header",
        seg_flows("00001.pfm", b"PF\n100000 100000\n-1\n" + bytes(64)),
        r"00001\.pfm: .*(maximum|needs)",
    ),
    Case(
        "npy header claims 74 GiB",
        seg_flows("00001.npy", npy_header((100_000, 100_000, 2))),
        r"00001\.npy: .*100000x100000.*maximum",
    ),
    Case(
        "npy truncated data",
        seg_flows("00001.npy", npy_bytes(good_flow())[:-100]),
        r"00001\.npy: .*(truncated|bytes)",
    ),
    Case("npy not numpy", seg_flows("00001.npy", b"hello, not an array" * 10), r"00001\.npy: "),
    Case("npy empty file", seg_flows("00001.npy", b""), r"00001\.npy: "),
    Case(
        "npy empty flow (0, W, 2)",
        seg_flows("00001.npy", npy_bytes(np.zeros((0, W, 2), np.float32))),
        r"00001\.npy: .*empty",
    ),
    Case(
        "npy empty flow (H, 0, 2)",
        seg_flows("00001.npy", npy_bytes(np.zeros((H, 0, 2), np.float32))),
        r"00001\.npy: .*empty",
    ),
    Case(
        "npy three channels",
        seg_flows("00001.npy", npy_bytes(np.zeros((H, W, 3), np.float32))),
        r"00001\.npy: expected a flow array",
    ),
    Case(
        "npy object array",
        seg_flows("00001.npy", npy_bytes(np.array([None, 1], dtype=object))),
        r"00001\.npy: .*(pickle|object)",
    ),
    Case(
        "npy complex",
        seg_flows("00001.npy", npy_bytes(np.zeros((H, W, 2), np.complex64))),
        r"00001\.npy: .*dtype",
    ),
    Case(
        "npy string",
        seg_flows("00001.npy", npy_bytes(np.full((H, W, 2), "a"))),
        r"00001\.npy: .*dtype",
    ),
    Case("npy NaN", seg_flows("00001.npy", npy_bytes(NAN_FLOW)), r"00001\.npy: .*non-finite"),
    Case(
        "npz zip bomb",
        seg_flows(
            "00001.npz",
            npz_bytes({"flow.npy": npy_header((30_000, 30_000, 2), data=bytes(1 << 20))}),
        ),
        r"00001\.npz: .*30000x30000.*maximum",
    ),
    Case(
        "npz member larger than its header",
        seg_flows("00001.npz", npz_bytes({"flow.npy": npy_header((H, W, 2), data=bytes(1 << 20))})),
        r"00001\.npz \(array 'flow'\): corrupt",
    ),
    Case(
        "npz truncated",
        seg_flows("00001.npz", npz_bytes({"flow.npy": npy_bytes(good_flow())})[:-40]),
        r"00001\.npz: ",
    ),
    Case("npz no arrays", seg_flows("00001.npz", npz_bytes({})), r"00001\.npz: .*(no array|empty)"),
    Case(
        "npz two arrays, no flow",
        seg_flows(
            "00001.npz",
            npz_bytes({"a.npy": npy_bytes(good_flow()), "b.npy": npy_bytes(good_flow())}),
        ),
        r"00001\.npz: no array named 'flow'",
    ),
    Case(
        "npz empty flow",
        seg_flows("00001.npz", npz_bytes({"flow.npy": npy_bytes(np.zeros((0, W, 2), np.float32))})),
        r"00001\.npz: .*empty",
    ),
]

FRAMES = [  # frames and videos
    Case(
        "empty frame folder",
        seg(lambda tmp: (tmp / "frames").mkdir() or tmp / "frames"),
        r"frames: holds no image frames",
    ),
    Case(
        "folder of non-images",
        seg(lambda tmp: frames_dir(tmp, {"notes.txt": b"hi"}, count=0)),
        r"frames: holds no image frames",
    ),
    Case(
        "single frame folder",
        seg(lambda tmp: frames_dir(tmp, count=1)),
        r"frames: needs at least two frames",
    ),
    Case(
        "corrupt PNG frame",
        seg(lambda tmp: frames_dir(tmp, {"00003.png": b"\x89PNG garbage" * 20})),
        r"00003\.png: cannot decode",
    ),
    Case(
        "truncated PNG frame",
        seg(lambda tmp: frames_dir(tmp, {"00003.png": PNG[: len(PNG) // 2]})),
        r"00003\.png: cannot decode",
    ),
    Case(
        "empty PNG frame",
        seg(lambda tmp: frames_dir(tmp, {"00003.png": b""})),
        r"00003\.png: cannot decode",
    ),
    Case(
        "mixed-size frames",
        seg(lambda tmp: frames_dir(tmp, {"00003.png": png_bytes(np.zeros((16, 24, 3), np.uint8))})),
        r"00003\.png: size 24x16 differs",
    ),
    Case(
        "frame header 8000x8000",
        seg(lambda tmp: frames_dir(tmp, {"00003.png": big_png_header(8000, 8000)})),
        r"00003\.png: .*8000x8000.*maximum",
    ),
    Case(
        "first frame 8000x8000",
        seg(lambda tmp: frames_dir(tmp, {"00000.png": big_png_header(8000, 8000)})),
        r"00000\.png: .*8000x8000.*maximum",
    ),
    Case(
        "unreadable frame",
        seg(lambda tmp: unreadable(frames_dir(tmp) / "00001.png")),
        r"00001\.png: ",
        root_skip=True,
    ),
    Case(
        "single image as input",
        seg(lambda tmp: write(tmp, "one.png", PNG)),
        r"one\.png: is a single image",
    ),
    Case("missing input", seg(lambda tmp: tmp / "nothing.avi"), r"nothing\.avi: does not exist"),
    Case(
        "corrupt video",
        seg(lambda tmp: write(tmp, "clip.avi", b"RIFF not a video" * 50)),
        r"clip\.avi: .*(cannot be opened|no frames)",
    ),
    Case(
        "zero-byte video",
        seg(lambda tmp: write(tmp, "clip.mp4", b"")),
        r"clip\.mp4: .*(cannot be opened|no frames|empty)",
    ),
    Case(
        "video without frames",
        seg(lambda tmp: video(tmp, count=0)),
        r"clip\.avi: .*(cannot be opened|no frames)",
    ),
    Case(
        "video of one frame",
        seg(lambda tmp: video(tmp, count=1)),
        r"clip\.avi: needs at least two frames",
    ),
    Case("truncated video", seg(lambda tmp: truncated(video(tmp, count=3), 0.3)), r"clip\.avi: "),
    Case(
        "truncated mp4", seg(lambda tmp: truncated(mp4(tmp), 0.9)), r"clip\.mp4: cannot be opened"
    ),
    Case(
        "precomputed: no flow for a frame",
        seg_precomputed({"00000.flo": flo_bytes(good_flow())}),
        r"flows: no flow file for frame '00001'",
    ),
    Case(
        "precomputed: NaN flow",
        seg_precomputed({"00000.flo": flo_bytes(good_flow()), "00001.flo": flo_bytes(NAN_FLOW)}),
        r"00001\.flo: .*non-finite",
    ),
    Case(
        "precomputed: 8-bit PNG as KITTI flow",
        seg_precomputed({"00000.png": PNG}),
        r"00000\.png: not a KITTI flow PNG",
    ),
    Case(
        "video 4200x4200",
        seg(lambda tmp: video(tmp, count=2, size=4200)),
        r"clip\.avi: .*4200x4200.*maximum",
    ),
    Case(
        "flow: corrupt video",
        flow_cmd(lambda tmp: write(tmp, "clip.avi", b"\0" * 999)),
        r"clip\.avi: ",
    ),
    Case(
        "flow: empty frame folder",
        flow_cmd(lambda tmp: (tmp / "frames").mkdir() or tmp / "frames"),
        r"frames: holds no image frames",
    ),
    Case(
        "flow: mixed-size frames",
        flow_cmd(
            lambda tmp: frames_dir(tmp, {"00003.png": png_bytes(np.zeros((16, 24, 3), np.uint8))})
        ),
        r"00003\.png: size 24x16 differs",
    ),
]

OPTIONS = [  # working size and methods
    Case("segment working size 1x1", seg_size("1x1"), SIZE_RE + r".*1x1.*at least"),
    Case("segment working size 10x0", seg_size("10x0"), r"size"),
    Case(
        "segment working size 100000x100000",
        seg_size("100000x100000"),
        SIZE_RE + r".*100000x100000.*maximum",
    ),
    Case("segment working size 100000x8", seg_size("100000x8"), SIZE_RE + r".*maximum"),
    Case("flow working size 2x2", flow_size("2x2"), r"2x2.*at least"),
    Case("flow working size 100000x100000", flow_size("100000x100000"), r"100000x100000.*maximum"),
    Case(  # the U-Net pads small inputs to two multiples of its stride: no 1x1 bottleneck
        "EM network at working size 8x8",
        seg_frames("--method", "em", "--working-size", "8x8"),
        FINE,
    ),
    Case("unknown method", seg_frames("--method", "nope"), r"method: unknown method 'nope'"),
    Case(
        "unknown flow backend",
        lambda tmp: ["segment", str(frames_dir(tmp)), "-o", OUT, *FAST, "--flow", "pwc-net"],
        r"flow backend: unknown 'pwc-net'",
    ),
    Case(
        "raft without weights",
        lambda tmp: ["segment", str(frames_dir(tmp)), "-o", OUT, *FAST, "--flow", "raft"],
        r"raft needs a checkpoint file of RAFT weights",
    ),
    Case(
        "missing flow network weights",
        lambda tmp: [
            "segment",
            str(frames_dir(tmp)),
            "-o",
            OUT,
            *FAST,
            "--flow",
            f"soflow:{tmp}/none.pt",
        ],
        r"none.pt: checkpoint does not exist",
    ),
    Case(
        "flow: unknown backend",
        lambda tmp: ["flow", str(frames_dir(tmp)), "-o", OUT, "--flow", "nope"],
        r"flow backend: unknown 'nope'",
    ),
    Case(
        "precomputed folder missing",
        lambda tmp: [
            "flow",
            str(frames_dir(tmp)),
            "-o",
            OUT,
            "--flow",
            f"precomputed:{tmp / 'none'}",
        ],
        r"none: flow folder does not exist",
    ),
    Case(
        "classical-em 1000 layers",
        seg_frames("--method", "classical-em", "--layers", "1000"),
        r"layers: .*1000.*at most",
    ),
    Case("robust-layers 1000 layers", seg_frames("--layers", "1000"), r"layers: .*1000.*at most"),
    Case("zero layers", seg_frames("--layers", "0"), r"layers: must be >= 1"),
    Case("batch size 0", seg_frames("--batch-size", "0"), r"batch.size: must be"),
    Case("explained ratio NaN", seg_frames("--explained-ratio", "nan"), r"explained.ratio: .*nan"),
    Case("colour weight NaN", seg_frames("--colour-weight", "nan"), r"colour.weight: .*nan"),
    Case("snap radius 2", seg_frames("--snap-radius", "2"), r"snap.radius: must be in \[0, 1\]"),
    Case("device banana", seg_frames("--device", "banana"), r"device.*banana"),
]

EVENTS = [  # event recordings
    Case(
        "events: empty .npz file",
        seg_events(lambda tmp: write(tmp, "rec.npz", b"")),
        r"rec\.npz: .*(empty|not a readable)",
    ),
    Case(
        "events: .npz of garbage",
        seg_events(lambda tmp: write(tmp, "rec.npz", b"PK\x03\x04" + bytes(100))),
        r"rec\.npz: not a readable",
    ),
    Case(
        "events: .npz without arrays",
        seg_events(lambda tmp: write(tmp, "rec.npz", npz_bytes({}))),
        r"rec\.npz: no event arrays",
    ),
    Case(
        "events: .npz missing p",
        seg_events(lambda tmp: events_npz(tmp, p=None)),
        r"rec\.npz: no event arrays",
    ),
    Case(
        "events: .npz float times",
        seg_events(lambda tmp: events_npz(tmp, t=np.linspace(0, 1, 400))),
        r"rec\.npz: 't' must hold integer",
    ),
    Case(
        "events: .npz x off the sensor",
        seg_events(lambda tmp: events_npz(tmp, width=np.int64(8))),
        r"rec\.npz: .*coordinates must lie",
    ),
    Case(
        "events: .npz bad polarity",
        seg_events(lambda tmp: events_npz(tmp, p=np.full(400, 5, np.int8))),
        r"rec\.npz: polarity",
    ),
    Case(
        "events: .npz 2-D x",
        seg_events(lambda tmp: events_npz(tmp, x=np.zeros((400, 2), np.uint16))),
        r"rec\.npz: 'x' must have 1 dimension",
    ),
    Case(
        "events: .npz string x",
        seg_events(lambda tmp: events_npz(tmp, x=np.full(400, "a"))),
        r"rec\.npz: ",
    ),
    Case(
        "events: .npz zero events",
        seg_events(lambda tmp: events_npz(tmp, **{k: v[:0] for k, v in event_arrays().items()})),
        r"rec\.npz: holds no events",
    ),
    Case(
        "events: .npz sensor 100000x100000",
        seg_events(lambda tmp: events_npz(tmp, width=np.int64(100_000), height=np.int64(100_000))),
        r"rec\.npz: .*100000x100000.*maximum",
    ),
    Case(
        "events: --sensor-size 100000x100000",
        seg_events(
            lambda tmp: events_npz(tmp, width=None, height=None), "--sensor-size", "100000x100000"
        ),
        r"--sensor-size: .*100000x100000.*maximum",
    ),
    Case(
        "events: --sensor-size 0x5",
        seg_events(lambda tmp: events_npz(tmp), "--sensor-size", "0x5"),
        r"--sensor-size: width and height must be positive",
    ),
    Case(
        "events: --sensor-size abc",
        seg_events(lambda tmp: events_npz(tmp), "--sensor-size", "abc"),
        r"--sensor-size: expected",
    ),
    Case(
        "events: no sensor size",
        seg_events(lambda tmp: events_npz(tmp, width=None, height=None)),
        r"rec\.npz: the file does not store the sensor geometry",
    ),
    Case(
        "events: HDF5 scalar datasets",
        seg_events(
            lambda tmp: events_h5(tmp, {f"events/{k}": 1 for k in "xytp"}), "--sensor-size", "32x32"
        ),
        r"rec\.h5: .*(scalar|shape)",
    ),
    Case(
        "events: HDF5 string datasets",
        seg_events(
            lambda tmp: events_h5(tmp, {f"events/{k}": ["a", "b"] for k in "xytp"}),
            "--sensor-size",
            "32x32",
        ),
        r"rec\.h5: .*(dtype|numbers|string)",
    ),
    Case(
        "events: HDF5 without events",
        seg_events(lambda tmp: events_h5(tmp, {"other": np.zeros(3)}), "--sensor-size", "32x32"),
        r"rec\.h5: no events found",
    ),
    Case(
        "events: HDF5 truncated",
        seg_events(
            lambda tmp: truncated(
                events_h5(tmp, {f"events/{k}": v for k, v in event_arrays(20_000).items()}), 0.5
            ),
            "--sensor-size",
            "32x32",
        ),
        r"rec\.h5: ",
    ),
    Case(
        "events: HDF5 of garbage",
        seg_events(lambda tmp: write(tmp, "rec.h5", b"\x89HDF\r\n\x1a\n" + bytes(200))),
        r"rec\.h5: not a readable HDF5",
    ),
    Case(
        "events: text garbage",
        seg_events(
            lambda tmp: events_txt(tmp, "32 32\nhello world this is\n"),
        ),
        r"rec\.txt: ",
    ),
    Case(
        "events: text three columns",
        seg_events(lambda tmp: events_txt(tmp, "32 32\n1 2 3\n4 5 6\n")),
        r"rec\.txt: expected 4 columns",
    ),
    Case(
        "events: text NaN time",
        seg_events(lambda tmp: events_txt(tmp, "32 32\n0.1 2 3 1\nnan 5 6 0\n")),
        r"rec\.txt: ",
    ),
    Case(
        "events: text without events",
        seg_events(lambda tmp: events_txt(tmp, "32 32\n# nothing\n")),
        r"rec\.txt: holds no events",
    ),
    Case(
        "events: .es truncated header",
        seg_events(lambda tmp: write(tmp, "rec.es", b"Event Stream\x02\x00")),
        r"rec\.es: truncated",
    ),
    Case(
        "events: .raw garbage",
        seg_events(lambda tmp: write(tmp, "rec.raw", b"% junk\n" + bytes(range(256)) * 4)),
        r"rec\.raw: ",
    ),
    Case(
        "events: .aedat4 garbage",
        seg_events(lambda tmp: write(tmp, "rec.aedat4", b"#!AER-DAT4.0\r\n" + bytes(64))),
        r"rec\.aedat4: ",
    ),
    Case(
        "events: --window-us 1",
        seg_events(lambda tmp: events_npz(tmp), "--window-us", "1"),
        r"--window-us: .*at least",
    ),
    Case(
        "events: --window-us 0",
        seg_events(lambda tmp: events_npz(tmp), "--window-us", "0"),
        r"--window-us: must be positive",
    ),
    Case(
        "events: --window-events 1",
        seg_events(lambda tmp: events_npz(tmp), "--window-events", "1"),
        r"--window-events: .*at least",
    ),
    Case(
        "events: --window-events 0",
        seg_events(lambda tmp: events_npz(tmp), "--window-events", "0"),
        r"--window-events: must be positive",
    ),
    Case(
        "events: both window options",
        seg_events(lambda tmp: events_npz(tmp), "--window-us", "9000", "--window-events", "100"),
        r"--window-us: give --window-events or --window-us, not both",
    ),
    Case(
        "events: --refine -1",
        seg_events(lambda tmp: events_npz(tmp), "--refine", "-1"),
        r"--refine: must be >= 0",
    ),
    Case(
        "events: wrong --layers",
        seg_events(lambda tmp: events_npz(tmp), "--layers", "7"),
        r"layers",
    ),
]

GENERATORS = [  # generators
    Case("synth --max-motion nan", synth("--max-motion", "nan"), r"max.motion: .*nan"),
    Case("synth --max-motion -1", synth("--max-motion", "-1"), r"max.motion: "),
    Case("synth --noise nan", synth("--noise", "nan"), r"noise(_std)?: .*nan"),
    Case("synth --noise -1", synth("--noise", "-1"), r"noise(_std)?: "),
    Case("synth --blur inf", synth("--blur", "inf"), r"blur: .*inf"),
    Case("synth --outliers -1", synth("--outliers", "-1"), r"outliers: "),
    Case("synth --layers 1000", synth("--layers", "1000"), r"layers: "),
    Case("synth --count 0", synth("--count", "0"), r"--count: expected a positive count"),
    Case("synth --frames 0", synth("--frames", "0"), r"frames"),
    Case("synth --size 4x4", synth("--frame-size", "4x4"), r"size: .*at least"),
    Case("synth --size 100000x100000", synth("--frame-size", "100000x100000"), r"size: .*maximum"),
    Case(
        "synth events --sensor-size 100000x100000",
        lambda tmp: ["synth", "events", "-o", OUT, "--sensor-size", "100000x100000"],
        r"--sensor-size: .*maximum",
    ),
    Case(
        "synth events --duration-ms nan",
        lambda tmp: ["synth", "events", "-o", OUT, "--duration-ms", "nan"],
        r"--duration-ms: .*nan",
    ),
]

OUTPUTS = [  # output folders
    Case(
        "output inside a file",
        lambda tmp: [
            "segment",
            str(frames_dir(tmp)),
            "-o",
            str(write(tmp, "file.txt", b"x") / "out"),
            *FAST,
        ],
        r"out: ",
        output=False,
    ),
    Case(
        "output is a file",
        lambda tmp: [
            "segment",
            str(frames_dir(tmp)),
            "-o",
            str(write(tmp, "out.txt", b"x")),
            *FAST,
        ],
        r"out\.txt: exists and is not a folder",
        output=False,
    ),
    Case(
        "output is the input",
        lambda tmp: ["segment", str(frames_dir(tmp)), "-o", str(tmp / "frames"), *FAST],
        r"frames: .*input",
        output=False,
    ),
    Case(
        "output contains the input",
        lambda tmp: ["segment", str(frames_dir(tmp)), "-o", str(tmp), *FAST],
        r"input",
        output=False,
    ),
    Case(
        "output inside the input",
        lambda tmp: ["segment", str(frames_dir(tmp)), "-o", str(tmp / "frames" / "out"), *FAST],
        r"input",
        output=False,
    ),
    Case(
        "flow: output is the input",
        lambda tmp: ["flow", str(frames_dir(tmp)), "-o", str(tmp / "frames")],
        r"the output folder is the input",
        output=False,
    ),
]


def evaluate_masks(*extra: str) -> Callable[[Path], list[str]]:
    """``evaluate PRED GT --protocol davis16`` on two tiny mask folders, plus ``extra``."""
    return lambda tmp: [
        "evaluate",
        str(masks_dir(tmp, "pred")),
        str(masks_dir(tmp, "gt")),
        "--protocol",
        "davis16",
        *extra,
    ]


EVALUATE = [  # evaluate and train
    Case(
        "evaluate --tolerance nan",
        evaluate_masks("--tolerance", "nan"),
        r"tolerance: .*nan",
        output=False,
    ),
    Case(
        "evaluate --tolerance -1",
        evaluate_masks("--tolerance", "-1"),
        r"tolerance: ",
        output=False,
    ),
    Case(
        "evaluate: mask header 9000x9000",
        lambda tmp: [
            "evaluate",
            str(_with(masks_dir(tmp, "pred"), "seq/00001.png", big_png_header(9000, 9000))),
            str(masks_dir(tmp, "gt")),
            "--protocol",
            "davis16",
        ],
        r"00001\.png: mask of 9000x9000 .*maximum",
        output=False,
    ),
    Case(
        "evaluate: corrupt mask",
        lambda tmp: [
            "evaluate",
            str(_with(masks_dir(tmp, "pred"), "seq/00001.png", b"\x89PNG broken")),
            str(masks_dir(tmp, "gt")),
            "--protocol",
            "davis16",
        ],
        r"00001\.png: cannot decode mask",
        output=False,
    ),
    Case(
        "evaluate missing folder",
        lambda tmp: [
            "evaluate",
            str(tmp / "nope"),
            str(masks_dir(tmp, "gt")),
            "--protocol",
            "davis16",
        ],
        r"nope: ",
        output=False,
    ),
]

NEAR_MISSES = [  # near misses: valid inputs
    Case(
        "fine: a grey frame among colour frames",
        seg(lambda tmp: frames_dir(tmp, {"00003.png": png_bytes(texture_frames(1)[0][:, :, 0])})),
        FINE,
    ),
    Case(
        "fine: truncated video with frames left",
        seg(lambda tmp: truncated(video(tmp, count=10), 0.9)),
        FINE,
    ),
    Case("fine: 16-bit frames", seg(lambda tmp: frames_16bit(tmp)), FINE),
    Case(
        "fine: upper-case .PNG and a stray file",
        seg(lambda tmp: frames_dir(tmp, {"00003.PNG": PNG, "notes.txt": b"x"})),
        FINE,
    ),
    Case("fine: working size 8x8 (the minimum)", seg_size("8x8"), FINE),
    Case(
        "fine: classical-em with 16 layers (the maximum)",
        seg_frames("--method", "classical-em", "--layers", "16", "--working-size", "16x16"),
        FINE,
    ),
    Case(
        "fine: .npy flow (2, H, W)",
        seg_flows("00001.npy", npy_bytes(good_flow().transpose(2, 0, 1).copy())),
        FINE,
    ),
    Case(
        "fine: .npz flow under another name",
        seg_flows("00001.npz", npz_bytes({"uv.npy": npy_bytes(good_flow())})),
        FINE,
    ),
    Case(
        "fine: .flo with unknown-flow markers",
        seg_flows("00001.flo", flo_bytes(np.where(NAN_FLOW == NAN_FLOW, NAN_FLOW, 1e10))),
        FINE,
    ),
    Case(
        "fine: events out of order",
        seg_events(
            lambda tmp: events_npz(tmp, t=event_arrays()["t"][::-1].copy()),
            "--window-events",
            "200",
            "--refine",
            "0",
        ),
        FINE,
    ),
    Case(
        "fine: --window-us 1000 (the minimum)",
        seg_events(
            lambda tmp: events_npz(tmp, t=np.sort(np.random.default_rng(1).integers(0, 3000, 400))),
            "--window-us",
            "1000",
            "--refine",
            "0",
        ),
        FINE,
    ),
    Case(
        "fine: text events with comments and commas",
        seg_events(
            lambda tmp: events_txt(
                tmp,
                "# DAVIS\n32,32\n"
                + "".join(f"{t},{t % 32},{t % 7},{t % 2}\n" for t in range(0, 4000, 10)),
            ),
            "--window-events",
            "200",
            "--refine",
            "0",
        ),
        FINE,
    ),
]

GROUPS = {
    "flow files": FLOW_FILES,
    "frames and videos": FRAMES,
    "working size, methods and options": OPTIONS,
    "event recordings": EVENTS,
    "generators": GENERATORS,
    "output folders": OUTPUTS,
    "evaluate": EVALUATE,
    "near misses (valid inputs)": NEAR_MISSES,
}
"""The corpus by group, as docs/bad-inputs.md lists it."""
CASES = [case for group in GROUPS.values() for case in group]


def _with(folder: Path, name: str, data: bytes) -> Path:
    """``folder`` with the file ``name`` (re)written as ``data``."""
    (folder / name).write_bytes(data)
    return folder


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    marks = []
    if case.owner:
        marks.append(pytest.mark.xfail(strict=True, reason=f"owner: {case.owner}"))
    if case.root_skip and hasattr(os, "geteuid") and os.geteuid() == 0:
        marks.append(pytest.mark.skip(reason="root reads files whatever their permissions"))
    return marks


@pytest.mark.parametrize("existing", [False, True], ids=["fresh-output", "existing-output"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=_marks(c)) for c in CASES])
def test_bad_input(case: Case, existing: bool, tmp_path: Path) -> None:
    if existing and not case.output:
        pytest.skip("the case chooses its own output")
    result = outcome(case, tmp_path, existing)
    assert result.kind == ("fine" if case.expect == FINE else "clear error"), result.detail


def test_the_corpus_is_large_enough() -> None:
    errors = [case for case in CASES if case.expect != FINE]
    assert len(errors) >= 60 and len(CASES) > len(errors)
    assert len({case.name for case in CASES}) == len(CASES)
