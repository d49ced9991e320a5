"""The reasoning-over-twins benchmark: seeded scene + query generator with oracle chains,
a renderer for the full perception path, and loaders for public datasets."""

from frs_ros.benchmark.generator import (
    GENERATOR_VERSION,
    SPLITS,
    BenchmarkSample,
    counts_table,
    generate_dataset,
    generate_sample,
    generate_split,
    read_jsonl,
    write_jsonl,
)
from frs_ros.benchmark.render import render_frame, render_twin

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "BenchmarkSample",
    "counts_table",
    "generate_dataset",
    "generate_sample",
    "generate_split",
    "read_jsonl",
    "render_frame",
    "render_twin",
    "write_jsonl",
]
