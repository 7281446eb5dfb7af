"""Names and default values shared by the library and the ``motionlayers`` command, written once.

This module imports nothing (no torch, NumPy or OpenCV), so that the command line can build its
parsers, print ``--help`` and reject bad arguments without loading the libraries that do the
work. The modules that own a concept re-export its constants from here (e.g.
``motionlayers.postprocess.EXPLAINED_RATIO``); registries that can grow at run time
(`motionlayers.flow.BACKENDS`, `motionlayers.methods.METHODS`) start from the names listed here,
and a test checks that the two agree.

Convention: sizes in the library are ``(H, W)`` tuples (the tensors' order); on the command line
and in summaries they are written ``WxH`` (width first, as ffmpeg ``-s``, OpenCV's ``dsize`` and
event sensors such as 346x260).
"""

from __future__ import annotations

# --- optical flow ------------------------------------------------------------------------------
DEFAULT_FLOW_BACKEND = "dis-medium"
"""The flow backend used when none is named: OpenCV DIS, medium preset."""
FLOW_BACKENDS = (
    "dis-fast",
    "dis-fine",
    "dis-medium",
    "farneback",
    "precomputed",
    "raft",
    "raft-small",
    "soflow",
)
"""The built-in flow backends, sorted (``precomputed:FOLDER`` reads flow files from FOLDER,
``raft:CHECKPOINT`` runs RAFT through ptlflow or torchvision with the user's weights)."""
DIS_FINE_SETTINGS = (("finest_scale", 0), ("patch_stride", 4), ("gradient_descent_iterations", 16))
"""What the ``dis-fine`` backend changes in OpenCV's DIS medium preset (patch 8, stride 3,
finest scale 1, 25 gradient-descent and 5 variational iterations): DIS down to the full
resolution, sparser patches and fewer descent steps to pay for it. Chosen from a grid (patch
8/12, stride 3/4, finest scale 0/1, variational iterations 5/10/20, descent iterations 16/25) on
generated layered pairs (`generate_sequence`, seeds ``(7001, i)`` at 384x672 and ``(7002, i)`` at
128x224) and Grove3, as the lowest EPE within about 3x medium's time (docs/benchmarks.md): EPE
1.94 -> 1.75 px at 384x672, 0.82 -> 0.67 at 128x224, 0.86 -> 0.65 on Grove3, for 2.4x to 3.2x
the time (3.6 -> 8.5 ms per pair at 128x224, 30 -> 94 at 384x672, two busy cores). Finest scale
0 gives nearly all of the gain; patch 12 is slower and no better; stride 3 at scale 0 is 0.02 px
better for 1.5x more time."""
LEARNED_FLOW_WEIGHTS = {"raft-small": "raft-small.pt", "soflow": "soflow.pt"}
"""Learned flow backends -> the weights file in ``motionlayers/weights`` they load by default
(`motionlayers.methods.flow_backend`; a file that is not installed is a clear error)."""
FLOW_FORMATS = ("flo", "png", "pfm", "npy", "npz")
"""File extensions (without the dot) that `read_flow` and `write_flow` understand."""
FLOW_OVERSAMPLING = 3
"""Factor by which `segment` and training compute flow above their working size (then average the
flow down): DIS on 128x224 frames misses the sub-pixel motion of small or slow objects, and its
patches (8 px at the finest scale) smear motion across object boundaries. Measured on DAVIS-2016
train: Otsu threshold of median-subtracted DIS flow (30 sequences x 11 frames), J 0.407 with
flow at 128x224, 0.457 at 256x448 resized to 128x224; `segment` with the shipped model (every
third scored frame), 0.555 at 2x, **0.565 at 3x** (384x672), 0.563 at 4x. DIS medium costs ~4,
~10 and ~21 ms per pair at 1x, 2x and 3x on two cores."""
DEFAULT_FLOW_FORMAT = "flo"
"""The format ``motionlayers flow`` writes by default (Middlebury ``.flo``)."""

# --- segmentation of videos and flows ----------------------------------------------------------
DEFAULT_METHOD = "em"
"""The method `segment_source` and ``motionlayers segment`` use when none is given: the EM
network with the shipped default model (``motionlayers/weights/em-default.pt``)."""
FLOW_METHODS = ("bdmm", "classical-em", "em", "lt", "nims", "robust-layers", "st")
"""The built-in methods that segment flows, sorted."""
SHIPPED_MODELS = {
    "em": {2: "em-default.pt", 4: "em-k4.pt"},
    "evlayerseg": {2: "evlayerseg-default.pt"},
    "st": {2: "st-k2.pt", 4: "st-k4.pt"},
    "lt": {2: "lt-k2.pt", 4: "lt-k4.pt"},
    "nims": {2: "nims-parallax.pt"},
}
"""Method -> {K: weights file in ``motionlayers/weights``} of the models that ship with the
package (each with its model card, the same name ending ``.md``); a method's first entry is its
default model."""
DEFAULT_BATCH_SIZE = 8
"""Samples (flows, volumes) per forward pass of a network method."""
DEFAULT_LAYERS = 4
"""K of the classical methods when none is asked for (thesis ch. 2 evaluates K = 2 and 4)."""
DEFAULT_WORKING_SIZE = (128, 224)
"""``(H, W)`` at which ``segment`` computes the flows and runs the method (224x128 as WxH)."""

# --- post-processing (`motionlayers.postprocess`) ---------------------------------------------
FOREGROUND_RULES = ("border", "largest")
"""Valid values of ``rule`` in `background_layers`; the first is the default."""
SALIENCY_RULE = "saliency"
"""The foreground rule of motion saliency (thesis 5.4): the regions that a flow classifier's
LRP relevance scores above the largest region are the foreground (flows only)."""
SEGMENT_FOREGROUND_RULES = (*FOREGROUND_RULES, SALIENCY_RULE)
"""Valid values of ``segment --foreground-rule``."""
LINKINGS = ("hungarian", "greedy")
"""How labels are linked over time (``--linking``; thesis eq. 3.9): one-to-one (Hungarian; the
default: labels are permuted, never merged) or the thesis's greedy argmax (two labels may
merge), which restarts every `LINK_CUT` frames."""
LINK_CUT = 10
"""Frames per cut of greedy linking (thesis 3.3.5: subsequences of 10 frames); consecutive cuts
are joined one-to-one."""
FOREGROUND_CUT = 1
"""Frames over which the background layer is chosen at once (``--foreground-cut``): the rule's
scores (border pixels explained, areas) are summed over each cut of this many consecutive
frames, whose linked labels then share one background; 1 decides every frame alone."""
EXPLAINED_RATIO = 3.0
"""Default ``ratio`` of `absorb_explained`, chosen on DAVIS-2016 train (every third scored
frame, with segment's other steps): 6 until the border-hugging segments were dropped
(`components.drop_border_segments`), which does much of this step's work. Since then, J with
snap radius 0.1: 0 (off) 60.5, 2 60.8, **3 60.7**, 4 60.3, 6 59.7; with 0.133: 2 60.6, 3 60.5,
4 60.1, 6 59.4, 9 57.6."""
SNAP_RADIUS = 0.1
"""Default guided-filter radius, a fraction of the frame height (48 pixels at 480 rows)."""
COLOUR_WEIGHT = 0.5
"""Default weight of the colour log-likelihood ratio against the motion's logit (0: off)."""
HOLE_FRACTION = 0.2
"""Default ``max_fraction`` of `fill_holes`. DAVIS-2016 train, every third scored frame, K = 2
shipped model, border rule: J 57.1 -> 57.3 with 0.2 alone (57.3 with 1.0); 59.0 -> 59.2 after
`drop_border_segments`."""
BORDER_CONTACT_LIMIT = 1.0
"""Default ``limit`` of `drop_border_segments`. DAVIS-2016 train, every third scored frame,
K = 2 shipped model, border rule: J 57.1 without; 59.0 / 58.9 / **59.0** / 58.2 / 57.3 with
limits 0.5 / 0.75 / 1 / 2 / 3 (hike 65 -> 84, mallard-fly 27 -> 35, flamingo 45 -> 54; no
sequence loses); applied at 128x224 before the colour step instead, 58.4."""
TEMPORAL_RADIUS = 1
"""Default half-width of the temporal window, in frames (three frames in all)."""

# --- event recordings --------------------------------------------------------------------------
EVENT_SUFFIXES = (".es", ".raw", ".aedat4", ".h5", ".hdf5", ".txt", ".npz")
"""Files that ``motionlayers segment`` reads as event recordings."""
EVENT_METHODS = ("evlayerseg",)
"""The methods that segment event recordings; the first is the default."""
EVENT_FPS = 10.0
"""Windows per second of an event recording's ``overlay.mp4`` when no ``--fps`` is given."""
EVENT_WINDOW_RULE = "events_per_pixel x sensor pixels"
"""The default window of an event method: its model's ``events_per_pixel`` (what it was trained
on) times the sensor's pixels, in events (`motionlayers.methods.evlayerseg`)."""
DEFAULT_REFINE_ITERATIONS = 10
"""Motion-compensation EM iterations per refinement round by default (simulated benchmark, 30
sequences, the deblurring-only model: IoU 0.432 for the network alone, 0.586 with 5, 0.589 with
10; detection rate 0 -> 0.52; the shipped self-trained model: 0.569 alone, 0.617 with 10; see
`motionlayers.events.compensation`)."""

# --- evaluation (`motionlayers.eval`) ----------------------------------------------------------
EVAL_PROTOCOLS = ("davis16", "davis17", "fbms", "segtrack", "moca")
"""Benchmark protocols, in the order of `motionlayers.eval.PROTOCOLS`."""
EVAL_SELECTIONS = (
    "nonzero",
    "largest-is-background",
    "fair",
    "exhaustive",
    "greedy",
    "hungarian",
)
"""Foreground selections, in the order of `motionlayers.eval.SELECTIONS` (``--help``'s)."""
GROUND_TRUTH_SELECTIONS = ("fair", "exhaustive", "greedy", "hungarian")
"""The selections that look at the ground truth (an oracle, not a method's own choice)."""
BOUNDARY_TOLERANCE = 0.008
"""Tolerance of the contour accuracy, as a fraction of the image diagonal (DAVIS)."""
