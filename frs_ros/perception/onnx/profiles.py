"""TensorRT optimisation profiles of the exported graphs' dynamic dimensions.

Shared by onnxruntime's TensorRT execution provider (``onnx.runtime``) and the standalone
engine builder (``perception.tensorrt``). It sits below both so neither imports the other
for it; no torch, onnxruntime or tensorrt import here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Shape = tuple[int, ...]
Profile = dict[str, tuple[Shape, Shape, Shape]]

# (min, opt, max) of each named dynamic dimension of the exported graphs
# (frs_ros.perception.onnx.export): prompts per image, points per prompt (a box is 2
# corner points), text queries and their token length (CLIP pads to 16).
DEFAULT_DIM_RANGES: dict[str, tuple[int, int, int]] = {
    "num_prompts": (1, 8, 64),
    "points_per_prompt": (1, 2, 16),
    "num_queries": (1, 4, 32),
    "query_length": (1, 16, 16),
}


def optimisation_profile(
    inputs: Sequence[Mapping[str, Any]], dim_ranges: Mapping[str, tuple[int, int, int]]
) -> Profile:
    """(min, opt, max) shapes of every input with a named (dynamic) dimension.

    ``inputs`` are a graph's manifest entries (``{"name", "shape"}``, a dynamic dimension
    being a string). Static inputs are left out: TensorRT takes their shape from the graph.
    """
    profile: Profile = {}
    for spec in inputs:
        shape = spec["shape"]
        if all(isinstance(d, int) for d in shape):
            continue
        bounds: list[list[int]] = [[], [], []]
        for d in shape:
            if isinstance(d, str) and d not in dim_ranges:
                raise ValueError(
                    f"input {spec['name']!r} has dynamic dimension {d!r} with no (min, opt, max) "
                    f"range; known: {sorted(dim_ranges)}"
                )
            lo, opt, hi = dim_ranges[d] if isinstance(d, str) else (d, d, d)
            if not 1 <= lo <= opt <= hi:
                raise ValueError(
                    f"range of {d!r} must satisfy 1 <= min <= opt <= max, got {(lo, opt, hi)}"
                )
            for i, v in enumerate((lo, opt, hi)):
                bounds[i].append(v)
        profile[spec["name"]] = (tuple(bounds[0]), tuple(bounds[1]), tuple(bounds[2]))
    return profile
