"""Segmentation metrics: J, F, J&F, gIoU, cIoU, R and category x level tables (docs/DESIGN.md §6).

Pure numpy/scipy (matplotlib only when a chart is drawn): importing it never imports torch.
"""

from frs_ros.metrics.aggregate import (
    AVG,
    CATEGORIES,
    LEVELS,
    METRICS,
    MetricsAccumulator,
    SampleResult,
    score_sample,
)
from frs_ros.metrics.masks import (
    BOUND_TH,
    as_mask,
    boundary_f,
    boundary_map,
    boundary_precision_recall,
    boundary_tolerance,
    iou_counts,
    j_and_f,
    region_similarity,
    robustness,
    video_boundary_f,
    video_region_similarity,
)

__all__ = [
    "AVG",
    "BOUND_TH",
    "CATEGORIES",
    "LEVELS",
    "METRICS",
    "MetricsAccumulator",
    "SampleResult",
    "as_mask",
    "boundary_f",
    "boundary_map",
    "boundary_precision_recall",
    "boundary_tolerance",
    "iou_counts",
    "j_and_f",
    "region_similarity",
    "robustness",
    "score_sample",
    "video_boundary_f",
    "video_region_similarity",
]
