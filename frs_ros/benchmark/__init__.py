"""The reasoning-over-twins benchmark: seeded scene + query generator with oracle chains,
a renderer for the full perception path, and loaders for public datasets."""

from frs_ros.benchmark.generator import (
    GENERATOR_VERSION,
    SPLITS,
    counts_table,
    generate_dataset,
    generate_sample,
    generate_split,
)
from frs_ros.benchmark.render import render_frame, render_twin
from frs_ros.samples import Sample, read_jsonl, write_jsonl

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "Sample",
    "counts_table",
    "generate_dataset",
    "generate_sample",
    "generate_split",
    "read_jsonl",
    "render_frame",
    "render_twin",
    "write_jsonl",
]
