"""The benchmark generator: determinism, split hygiene, balanced counts, oracle chains that
the real tools reproduce, and the renderer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frs_ros.benchmark import (
    GENERATOR_VERSION,
    generate_dataset,
    generate_sample,
    generate_split,
    read_jsonl,
    render_frame,
    render_twin,
)
from frs_ros.benchmark.generator import plan_split
from frs_ros.benchmark.queries import ChainBuilder, ChainError, plural
from frs_ros.benchmark.render import label_colour
from frs_ros.benchmark.vocabulary import KIND_BY_NAME, kinds_with
from frs_ros.metrics import CATEGORIES, LEVELS
from frs_ros.reasoning import TOOLS, ToolContext, answer_masks
from frs_ros.reasoning.protocol import blocks, check_format, format_results, parse_answer
from frs_ros.samples import Sample


@pytest.fixture(scope="module")
def split() -> list[Sample]:
    return generate_split("validation", 2, seed=3, negative_fraction=0.5, progress=False)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path, capsys):
    a = generate_dataset(tmp_path / "a", 1, seed=7, splits=["test"], progress=False)
    b = generate_dataset(tmp_path / "b", 1, seed=7, splits=["test"], progress=False)
    c = generate_dataset(tmp_path / "c", 1, seed=8, splits=["test"], progress=False)
    assert a["test"].read_bytes() == b["test"].read_bytes()
    assert a["test"].read_bytes() != c["test"].read_bytes()
    out = capsys.readouterr().out
    assert "| semantic | 1 |" in out and "| temporal | 3 |" in out  # the counts table
    assert (tmp_path / "a" / "counts.md").read_text().endswith("| **total** | | 9 |\n")


def test_balanced_cells_and_negatives(split):
    cells = {
        (c, lv): [s for s in split if (s.category, s.level) == (c, lv)]
        for c in CATEGORIES
        for lv in LEVELS
    }
    for cell in cells.values():
        assert len(cell) == 2
        assert sum(s.negative for s in cell) == 1
    assert all(s.video for s in split if s.category == "temporal")


def test_plan_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_per_cell"):
        plan_split(0, 0.2)
    with pytest.raises(ValueError, match="negative_fraction"):
        plan_split(3, 1.5)


def test_oracle_chain_is_well_formed_and_answers_the_ground_truth(split):
    for s in split:
        assert check_format(s.chain), s.chain
        assert parse_answer(blocks(s.chain, "answer")[-1]) == s.gt_ids
        assert s.negative == (not s.gt_ids)
        masks = answer_masks(s.twin, s.gt_ids)
        assert [f.union for f in masks.frames] == s.gt_masks
        assert 1 <= len(blocks(s.chain, "plan")) <= s.level  # a level-k query: <= k rounds


def test_oracle_results_are_what_the_real_tools_return(split):
    """Re-run every planned call and compare with the chain's <results> text."""
    for s in split:
        ctx = ToolContext(s.twin, [])
        plans, results = blocks(s.chain, "plan"), blocks(s.chain, "results")
        assert len(plans) == len(results)
        for plan, res in zip(plans, results, strict=True):
            entries = [TOOLS.call(ctx, c["tool"], c["args"]) for c in json.loads(plan)]
            assert f"<results>{res}</results>" == format_results(entries)


def test_splits_never_share_scenes():
    a = generate_split("train", 1, seed=0, progress=False)
    b = generate_split("test", 1, seed=0, progress=False)
    assert not {s.scene_id for s in a} & {s.scene_id for s in b}
    assert all(s.scene_id.startswith("train/") for s in a)
    assert not {s.twin.to_json() for s in a} & {s.twin.to_json() for s in b}


def test_jsonl_round_trip(tmp_path, split):
    from frs_ros.benchmark import write_jsonl

    path = write_jsonl(tmp_path / "x.jsonl", split)
    back = list(read_jsonl(path))
    assert [s.to_dict() for s in back] == [s.to_dict() for s in split]
    line = json.loads(path.read_text().splitlines()[0])
    assert line["version"] == GENERATOR_VERSION
    assert {
        "query",
        "category",
        "level",
        "negative",
        "gt_ids",
        "gt",
        "chain",
        "twin",
    } <= set(line)
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        list(read_jsonl(tmp_path / "bad.jsonl"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, 10_000),
    cell=st.sampled_from([(c, lv) for c in CATEGORIES for lv in LEVELS]),
    negative=st.booleans(),
)
def test_any_sample_is_consistent(index, cell, negative):
    s = generate_sample("train", index, *cell, negative, seed=1)
    assert check_format(s.chain) and s.negative == negative == (not s.gt_ids)
    assert set(s.gt_ids) <= set(s.twin.ids)
    if cell == ("semantic", 1) and not negative:  # every object with the property
        prop_kinds = {s.twin.last_seen(i).label for i in s.gt_ids}
        assert prop_kinds  # and they share the asked property
        common = set.intersection(*(set(KIND_BY_NAME[k].properties) for k in prop_kinds))
        assert any(
            set(s.twin.last_seen(i).label for i in s.gt_ids) <= set(kinds_with(p)) for p in common
        )


def test_chain_builder_refuses_failing_calls(split):
    b = ChainBuilder(split[0].twin)
    b.reason("x")
    with pytest.raises(ChainError, match="9999 is not in the twin"):
        b.plan([("size", {"id": 9999})])


def test_plural():
    assert [plural(w) for w in ("mug", "glass", "knife", "scissors", "box")] == [
        "mugs",
        "glasses",
        "knives",
        "scissors",
        "boxes",
    ]


def test_render_matches_twin(split):
    s = next(s for s in split if s.video)
    frames = render_twin(s.twin)
    assert len(frames) == len(s.twin)
    for (rgb, depth), f in zip(frames, s.twin.frames, strict=True):
        assert rgb.shape == (f.height, f.width, 3) and rgb.dtype == np.uint8
        assert depth.shape == (f.height, f.width) and depth.dtype == np.float32
        for o in f.objects:
            m = o.decode_mask()
            # each object's own (topmost) pixels carry its depth and a shade of its colour
            own = m & np.isclose(depth, o.depth.median)
            assert own.sum() >= 0.5 * m.sum()
            mean = rgb[own].astype(float).mean(axis=0)
            colour = label_colour(o.label)
            cos = mean @ colour / (np.linalg.norm(mean) * np.linalg.norm(colour) + 1e-9)
            assert cos > 0.95, (o.label, mean, colour)
    with pytest.raises(ValueError, match="without frames"):
        from frs_ros.twin import Twin

        render_twin(Twin([]))
    assert render_frame(s.twin.frames[0])[0].sum() > 0


def test_benchmark_files_are_training_files_and_their_chains_replay_to_the_truth(tmp_path, split):
    """One sample type: ``frs train`` reads the generator's files as they are, and every
    oracle chain replays through the engine to the ground truth (so SFT can use it)."""
    from frs_ros.benchmark import write_jsonl
    from frs_ros.replay import replay
    from frs_ros.training.rewards import prediction_iou

    samples = read_jsonl(write_jsonl(tmp_path / "bench.jsonl", split))
    assert [s.to_dict() for s in samples] == [b.to_dict() for b in split]
    for s in samples:
        result = replay(s.twin, s.query, s.chain)
        assert sorted(result.ids) == s.gt_ids
        assert prediction_iou(s.twin, result.ids, s.gt) == 1.0


def test_files_of_the_older_benchmark_layout_still_read(tmp_path, split):
    """The older line layout: ``gt_masks`` (one RLE per frame, empty ones included) and the
    chain as ``oracle``."""
    old = []
    for s in split:
        d = s.to_dict()
        d["gt_masks"], d["oracle"] = s.gt_masks, d.pop("chain")
        del d["gt"]
        old.append(json.dumps(d))
    path = tmp_path / "old.jsonl"
    path.write_text("\n".join(old) + "\n")
    assert [s.to_dict() for s in read_jsonl(path)] == [s.to_dict() for s in split]
