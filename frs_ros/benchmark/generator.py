"""Seeded, versioned generation of the reasoning-over-twins benchmark (JSONL datasets).

Same ``seed`` + ``GENERATOR_VERSION`` → byte-identical files. Every random draw comes from
``numpy.random.default_rng([seed, GENERATOR_VERSION, split code, sample index, attempt])``,
so splits never share a scene (different split codes), samples are independent of each
other, and bumping the version (any change to scenes, templates or tools that changes
output) changes every draw.

Counts are balanced by construction: ``n_per_cell`` samples per category x level per split,
of which ``round(negative_fraction * n_per_cell)`` are negatives (empty answer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from frs_ros.benchmark.paraphrase import reword
from frs_ros.benchmark.queries import TEMPLATES, ChainError
from frs_ros.benchmark.scene import SceneRejected, sample_scene, scene_twin
from frs_ros.metrics import CATEGORIES, LEVELS
from frs_ros.samples import Sample, write_jsonl

GENERATOR_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "validation", "test")
_SPLIT_CODES = {"train": 1, "validation": 2, "test": 3}
MAX_ATTEMPTS = 400
_PARAPHRASE_STREAM = MAX_ATTEMPTS  # the rewording's draws: apart from every scene attempt


def _rng(seed: int, split: str, index: int, attempt: int) -> np.random.Generator:
    return np.random.default_rng([seed, GENERATOR_VERSION, _SPLIT_CODES[split], index, attempt])


def generate_sample(
    split: str,
    index: int,
    category: str,
    level: int,
    negative: bool,
    *,
    seed: int = 0,
    video_fraction: float = 0.25,
    n_frames: int = 6,
    size: tuple[int, int] = (240, 320),
    paraphrase: float = 0.0,
) -> Sample:
    """Sample ``index`` of ``split``: draw scenes until a template of the cell fits.

    ``paraphrase``: the probability that the query is reworded
    (:func:`~frs_ros.benchmark.paraphrase.reword`; the template's wording is kept in
    ``extra["template_query"]``). Its draws have their own stream, so the scene, the
    answer and the chain are those of ``paraphrase=0``.
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if (category, level) not in TEMPLATES:
        raise ValueError(f"no templates for category {category!r} level {level!r}")
    if n_frames < 3:
        raise ValueError(f"video scenes need at least 3 frames, got {n_frames}")
    templates = TEMPLATES[(category, level)]
    scene_id = f"{split}/{seed}/{index:06d}"
    for attempt in range(MAX_ATTEMPTS):
        rng = _rng(seed, split, index, attempt)
        video = category == "temporal" or rng.random() < video_fraction
        try:
            scene = sample_scene(rng, scene_id, n_frames=n_frames if video else 1, size=size)
            twin = scene_twin(scene)
        except SceneRejected:
            continue
        template = templates[int(rng.integers(len(templates)))]
        query = template(twin, rng, negative)
        if query is None:
            continue
        text, extra = query.text, {}
        if paraphrase > 0:
            wording = _rng(seed, split, index, _PARAPHRASE_STREAM)
            if wording.random() < paraphrase and (new := reword(text, wording)) != text:
                text, extra = new, {"template_query": query.text}
        return Sample.from_ids(
            f"{split}-{seed}-{index:06d}",
            twin,
            text,
            query.ids,
            category=category,
            level=level,
            negative=query.negative,
            chain=query.chain,
            split=split,
            scene_id=scene_id,
            template=query.template,
            version=GENERATOR_VERSION,
            extra=extra,
        )
    raise ChainError(  # the templates cannot produce this cell: a generator bug
        f"no {category} level-{level} {'negative' if negative else 'positive'} query after "
        f"{MAX_ATTEMPTS} scenes (split {split}, index {index}, seed {seed})"
    )


def plan_split(n_per_cell: int, negative_fraction: float) -> list[tuple[str, int, bool]]:
    """(category, level, negative) per sample index: balanced cells, negatives last."""
    if n_per_cell < 1:
        raise ValueError(f"n_per_cell must be >= 1, got {n_per_cell}")
    if not 0.0 <= negative_fraction <= 1.0:
        raise ValueError(f"negative_fraction must be in [0, 1], got {negative_fraction}")
    n_neg = round(negative_fraction * n_per_cell)
    jobs = []
    for j in range(n_per_cell):
        for category in CATEGORIES:
            for level in LEVELS:
                jobs.append((category, level, j >= n_per_cell - n_neg))
    return jobs


def generate_split(
    split: str,
    n_per_cell: int,
    *,
    seed: int = 0,
    negative_fraction: float = 0.2,
    video_fraction: float = 0.25,
    n_frames: int = 6,
    size: tuple[int, int] = (240, 320),
    paraphrase: float = 0.0,
    progress: bool = True,
) -> list[Sample]:
    jobs = plan_split(n_per_cell, negative_fraction)
    return [
        generate_sample(
            split,
            i,
            category,
            level,
            negative,
            seed=seed,
            video_fraction=video_fraction,
            n_frames=n_frames,
            size=size,
            paraphrase=paraphrase,
        )
        for i, (category, level, negative) in enumerate(
            tqdm(jobs, desc=f"generate {split}", disable=not progress)
        )
    ]


def counts_table(samples: Mapping[str, Sequence[Sample]]) -> str:
    """Markdown: positives / negatives per category x level, one column per split."""
    splits = list(samples)
    lines = [
        "| Category | Level | " + " | ".join(f"{s} (pos / neg / multi)" for s in splits) + " |",
        "|---|---:|" + "---:|" * len(splits),
    ]
    for category in CATEGORIES:
        for level in LEVELS:
            cells = []
            for split in splits:
                cell = [s for s in samples[split] if (s.category, s.level) == (category, level)]
                neg = sum(s.negative for s in cell)
                multi = sum(s.multi for s in cell)
                cells.append(f"{len(cell) - neg} / {neg} / {multi}")
            lines.append(f"| {category} | {level} | " + " | ".join(cells) + " |")
    totals = [str(len(samples[s])) for s in splits]
    lines.append("| **total** | | " + " | ".join(totals) + " |")
    return "\n".join(lines) + "\n"


def generate_dataset(
    out_dir: str | os.PathLike,
    n_per_cell: int,
    *,
    seed: int = 0,
    splits: Sequence[str] = SPLITS,
    negative_fraction: float = 0.2,
    video_fraction: float = 0.25,
    n_frames: int = 6,
    size: tuple[int, int] = (240, 320),
    paraphrase: float = 0.0,
    progress: bool = True,
) -> dict[str, Path]:
    """Write ``<out_dir>/<split>.jsonl`` per split and ``counts.md``; print the counts."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; expected some of {SPLITS}")
    out = Path(out_dir)
    generated = {
        split: generate_split(
            split,
            n_per_cell,
            seed=seed,
            negative_fraction=negative_fraction,
            video_fraction=video_fraction,
            n_frames=n_frames,
            size=size,
            paraphrase=paraphrase,
            progress=progress,
        )
        for split in splits
    }
    paths = {split: write_jsonl(out / f"{split}.jsonl", s) for split, s in generated.items()}
    table = counts_table(generated)
    reworded = f", {paraphrase:.0%} of the queries reworded" if paraphrase else ""
    header = f"frs benchmark v{GENERATOR_VERSION}, seed {seed}, {n_per_cell} per cell{reworded}\n\n"
    (out / "counts.md").write_text(header + table, encoding="utf-8")
    print(header + table)
    return paths
