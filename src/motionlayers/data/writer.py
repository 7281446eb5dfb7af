"""Write synthetic layered scenes to a DAVIS-like folder, atomically.

Layout (``<seq>`` = ``synth0000``, ``synth0001``, ...; ``<frame>`` = ``00000``, ``00001``, ...)::

    OUT/Flows/<seq>/<frame>.flo        exact flow from frame <frame> to the next (T files)
    OUT/Annotations/<seq>/<frame>.png  exact labels at frame <frame>, DAVIS palette (T files)
    OUT/JPEGImages/<seq>/<frame>.jpg   textured frames, frames mode only (T + 1 files)
    OUT/meta.json                      parameters, and per sequence its seed, models and thetas

Sequence ``i`` is the scene of seed ``(seed, i)``, the same as item ``i`` of a
`SyntheticFlowDataset` with the same parameters. The entries above are moved into ``OUT`` only
when all are written (`motionlayers.io.atomic.atomic_directory`): other files in ``OUT`` are
never touched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from motionlayers.data.dataset import MODES
from motionlayers.data.layered import SynthConfig, generate_sequence
from motionlayers.errors import InputError
from motionlayers.io import write_flow, write_image, write_mask
from motionlayers.io.atomic import atomic_directory, atomic_path
from motionlayers.limits import MAX_SEQUENCE_PIXELS


def write_synthetic_dataset(
    out: str | Path,
    count: int,
    config: SynthConfig | None = None,
    seed: int = 0,
    mode: str = "flow",
    frames: int = 1,
    progress: bool = False,
) -> Path:
    """Generate ``count`` sequences of ``frames`` flows into ``out`` (see the module docstring).

    Args:
        out: output folder (created if missing; the user's own files in it are kept).
        count: number of sequences.
        config: scene parameters (default `SynthConfig()`).
        seed: base seed.
        mode: ``"flow"`` or ``"frames"`` (also writes the images).
        frames: ``T``, flows per sequence.
        progress: show a progress bar.

    Returns:
        the output folder.
    """
    if mode not in MODES:
        raise InputError("mode", f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if count < 1:
        raise InputError("count", f"must be >= 1, got {count}")
    if frames < 1:
        raise InputError("frames", f"must be >= 1, got {frames}")
    config = config or SynthConfig()
    if frames * config.height * config.width > MAX_SEQUENCE_PIXELS:
        raise InputError(
            "frames",
            f"{frames} flows of {config.width}x{config.height} make a sequence of "
            f"{frames * config.height * config.width} px, more than the maximum of "
            f"{MAX_SEQUENCE_PIXELS}",
        )
    out = Path(out)
    sequences: dict[str, object] = {}
    indices = range(count)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="synth", unit="seq")
    with atomic_directory(out, kind="synth-flow") as tmp:
        for index in indices:
            name = f"synth{index:04d}"
            scene = generate_sequence(config, frames, (seed, index), mode == "frames")
            folders = {part: tmp / part / name for part in ("Flows", "Annotations")}
            if scene.frames is not None:
                folders["JPEGImages"] = tmp / "JPEGImages" / name
            for folder in folders.values():
                folder.mkdir(parents=True)
            for step in range(frames):
                stem = f"{step:05d}"
                write_flow(folders["Flows"] / f"{stem}.flo", scene.flow[:, step].transpose(1, 2, 0))
                write_mask(folders["Annotations"] / f"{stem}.png", scene.labels[step])
            if scene.frames is not None:
                for step, image in enumerate(scene.frames):
                    write_image(folders["JPEGImages"] / f"{step:05d}.jpg", image)
            sequences[name] = {
                "seed": [seed, index],
                "model": scene.model,
                "kinds": scene.kinds,
                "layers": len(scene.theta),
                "theta": np.round(scene.theta, 12).tolist(),
                "areas": (
                    np.bincount(scene.labels[0].ravel(), minlength=len(scene.theta))
                    / scene.labels[0].size
                )
                .round(6)
                .tolist(),
            }
        meta = {
            "generator": "motionlayers.data.write_synthetic_dataset",
            "seed": seed,
            "mode": mode,
            "frames": frames,
            "count": count,
            "config": config.to_dict(),
            "sequences": sequences,
        }
        with atomic_path(tmp / "meta.json") as path:
            path.write_text(json.dumps(meta, indent=1))
    return out
