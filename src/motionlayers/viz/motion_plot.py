"""``motion.png``: each layer's motion parameters over time, per frame and as B-spline curves.

One row per layer, three panels: the translation (``u``, ``v`` at the frame centre, pixels per
frame), the first-order terms and the second-order terms of its quadratic model (normalised
coordinates, `motionlayers.motion.models`). Dots are the per-frame models, lines the B-spline
curves of `motionlayers.motion.curves` (the control points motion.json records). Drawn with
matplotlib's Agg backend (no display needed) and written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionlayers.io.atomic import atomic_path
from motionlayers.motion.models import SPATIAL_EXPONENTS

_GROUPS = (("translation (px/frame)", (0,)), ("order 1", (1, 2)), ("order 2", (3, 4, 5)))
_MONOMIALS = [
    "1" if (a, b) == (0, 0) else ("x" * a + "y" * b) for a, b in SPATIAL_EXPONENTS["quadratic12"]
]


def plot_layer_motions(
    path: Path,
    theta: np.ndarray,
    present: np.ndarray,
    curves: np.ndarray,
    names: list[str] | None = None,
) -> Path:
    """Write the figure to ``path`` (PNG).

    Args:
        theta: ``(T, K, 2, 6)`` per-frame quadratic models of the K layers.
        present: ``(T, K)`` bool, whether the layer holds pixels at that frame (others are not
            drawn).
        curves: ``(T, K, 2, 6)`` the B-spline curves at the frames.
        names: a title per layer (default ``layer k``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    frames, layers = theta.shape[:2]
    t = np.arange(frames)
    figure, axes = plt.subplots(
        layers, 3, figsize=(12, 2.2 * layers + 0.6), squeeze=False, sharex=True
    )
    colours = plt.get_cmap("tab10")
    for k in range(layers):
        shown = present[:, k]
        for column, (title, terms) in enumerate(_GROUPS):
            axis = axes[k, column]
            index = 0
            for term in terms:
                for component, letter in enumerate("uv"):
                    colour = colours(index % 10)
                    label = f"{letter}:{_MONOMIALS[term]}"
                    axis.plot(t[shown], theta[shown, k, component, term], ".", ms=2, color=colour)
                    axis.plot(
                        t, curves[:, k, component, term], "-", lw=1.2, color=colour, label=label
                    )
                    index += 1
            axis.axhline(0.0, color="0.8", lw=0.6, zorder=0)
            if k == 0:
                axis.set_title(title, fontsize=9)
            if column == 0:
                axis.set_ylabel(names[k] if names else f"layer {k}", fontsize=9)
            axis.tick_params(labelsize=7)
            axis.legend(fontsize=6, ncol=2, loc="upper right", frameon=False)
    for axis in axes[-1]:
        axis.set_xlabel("frame", fontsize=8)
    figure.suptitle(
        "motion of each layer: per frame (dots) and B-spline curve (lines)", fontsize=10
    )
    figure.tight_layout()
    with atomic_path(path) as partial:
        figure.savefig(partial, dpi=100, format="png")
    plt.close(figure)
    return path


__all__ = ["plot_layer_motions"]
