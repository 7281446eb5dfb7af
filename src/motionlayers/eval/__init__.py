"""Evaluation: metrics (J, F, box IoU, matching), segment selection and benchmark protocols.

Functions score NumPy masks; `metrics` wraps them as ``torchmetrics`` accumulators; `runner`
evaluates folders of masks under a protocol (`protocols`) and `report` prints and saves results.
"""

from motionlayers.eval.boxes import box_iou, largest_component, largest_region_box_iou, mask_box
from motionlayers.eval.contours import (
    BOUNDARY_TOLERANCE,
    boundary_map,
    boundary_radius,
    disk_kernel,
    f_measure,
    f_measure_frames,
    pairwise_f_measure,
)
from motionlayers.eval.events import (
    LayerMatch,
    event_pixels,
    flow_epe,
    layer_flow,
    majority_labels,
    match_event_layers,
    score_event_window,
)
from motionlayers.eval.matching import (
    SequenceMatch,
    assign,
    bootstrap_iou,
    frame_pair_scores,
    match_pair_scores,
    match_sequence,
)
from motionlayers.eval.metrics import (
    BootstrapIoU,
    BoxIoU,
    ContourAccuracy,
    HungarianMatchedScore,
    RegionSimilarity,
)
from motionlayers.eval.protocols import PROTOCOLS, Protocol, get_protocol
from motionlayers.eval.records import EvaluationResult, FrameRecord
from motionlayers.eval.regions import jaccard, overlap_counts, pairwise_jaccard
from motionlayers.eval.report import format_table, summary_dict, write_report
from motionlayers.eval.runner import evaluate_folders
from motionlayers.eval.selection import (
    SELECTIONS,
    SegmentSelection,
    best_subset,
    fair_overlap,
    get_selection,
    hungarian_foreground,
    largest_is_background,
    nonzero_foreground,
    select_foreground,
)
from motionlayers.eval.statistics import SequenceStatistics, davis_statistics

__all__ = [
    "BOUNDARY_TOLERANCE",
    "PROTOCOLS",
    "SELECTIONS",
    "BootstrapIoU",
    "BoxIoU",
    "ContourAccuracy",
    "EvaluationResult",
    "FrameRecord",
    "HungarianMatchedScore",
    "LayerMatch",
    "Protocol",
    "RegionSimilarity",
    "SegmentSelection",
    "SequenceMatch",
    "SequenceStatistics",
    "assign",
    "best_subset",
    "bootstrap_iou",
    "boundary_map",
    "boundary_radius",
    "box_iou",
    "davis_statistics",
    "disk_kernel",
    "evaluate_folders",
    "event_pixels",
    "f_measure",
    "f_measure_frames",
    "fair_overlap",
    "flow_epe",
    "format_table",
    "frame_pair_scores",
    "get_protocol",
    "get_selection",
    "hungarian_foreground",
    "jaccard",
    "largest_component",
    "largest_is_background",
    "largest_region_box_iou",
    "layer_flow",
    "majority_labels",
    "mask_box",
    "match_event_layers",
    "match_pair_scores",
    "match_sequence",
    "nonzero_foreground",
    "overlap_counts",
    "pairwise_f_measure",
    "pairwise_jaccard",
    "score_event_window",
    "select_foreground",
    "summary_dict",
    "write_report",
]
