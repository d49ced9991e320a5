"""rosbag2 -> twins (MCAP and sqlite3, tiny perception), corrupted bags, annotations, and
every stage from the command line on a generated bag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from frs_ros.cli import main
from frs_ros.training.bags import bag_to_twins
from frs_ros.training.data import validate_annotations
from frs_ros.training.synthetic import write_bag, write_inputs

os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="module")
def pipeline():
    from frs_ros.perception.pipeline import PerceptionPipeline

    return PerceptionPipeline.from_profile("tiny")


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_to_twins_cached_and_resumable(tmp_path, pipeline, storage) -> None:
    bag = write_bag(tmp_path / "bag", n_frames=3, storage=storage)
    twins, report = bag_to_twins(bag, tmp_path / "cache", pipeline, "tiny")
    assert report.ok and report.frames == 3 and report.built == 3
    assert [t.index for t in twins] == [0, 1, 2] and twins[0].width == 40
    assert twins[1].stamp > twins[0].stamp
    cached = sorted((tmp_path / "cache").rglob("[0-9]*.json"))
    assert len(cached) == 3
    cached[1].unlink()  # as if killed before frame 1 was written
    again, report = bag_to_twins(bag, tmp_path / "cache", pipeline, "tiny")
    assert (
        report.built == 1 and [t.to_dict() for t in again][::2] == [t.to_dict() for t in twins][::2]
    )


@pytest.mark.slow
def test_twin_cache_kill_then_other_settings_get_a_fresh_folder(tmp_path, pipeline) -> None:
    """The cache policy (frs_ros.manifest.keyed_folder): a build killed after 2 frames and
    resumed with another depth topic or stride must not reuse the first build's twins."""
    import json

    bag = write_bag(tmp_path / "bag", n_frames=3, storage="mcap")
    cache = tmp_path / "cache"
    _, killed = bag_to_twins(bag, cache, pipeline, "tiny", max_frames=2)  # the "kill"
    assert killed.built == 2
    _, changed = bag_to_twins(bag, cache, pipeline, "tiny", stride=2)
    assert changed.built == 2 and changed.frames == 2  # frames 0 and 2, none reused
    _, resumed = bag_to_twins(bag, cache, pipeline, "tiny")
    assert resumed.built == 1 and resumed.frames == 3  # same settings: frames 0, 1 reused
    manifests = sorted(cache.rglob("manifest.json"))
    assert len(manifests) == 2
    strides = sorted(json.loads(m.read_text())["stride"] for m in manifests)
    assert strides == [1, 2]
    assert all(
        json.loads(m.read_text())["profile_sha256"] not in ("", "missing") for m in manifests
    )


def test_corrupted_bag_is_skipped_and_reported(tmp_path, pipeline) -> None:
    bag = write_bag(tmp_path / "bag", n_frames=2, storage="mcap")
    for f in bag.glob("*.mcap"):
        f.write_bytes(f.read_bytes()[:200])  # truncated recording
    twins, report = bag_to_twins(bag, tmp_path / "cache", pipeline, "tiny")
    assert not report.ok and twins == [] and report.skipped[0].startswith("bag:")
    twins, report = bag_to_twins(tmp_path / "missing", tmp_path / "cache", pipeline, "tiny")
    assert not report.ok


def test_annotation_validator_messages() -> None:
    assert (
        validate_annotations(
            {
                "bag": "b",
                "annotations": [
                    {"id": "a", "query": "q", "start": 0, "end": 1, "gt": {"ids": [1]}}
                ],
            }
        )
        == []
    )
    errs = validate_annotations(
        {
            "bag": "",
            "annotations": [
                {
                    "id": "a",
                    "query": " ",
                    "start": 2,
                    "end": 1,
                    "gt": {"ids": [1], "rle": {}},
                    "colour": 1,
                },
                {
                    "id": "a",
                    "query": "q",
                    "end": 1,
                    "negative": True,
                    "gt": {"ids": [3]},
                    "category": "funny",
                },
            ],
        },
        "f.yaml",
    )
    text = "\n".join(errs)
    for needle in (
        "'bag'",
        "annotations[0].query",
        "start <= end",
        "exactly one of",
        "unknown key 'colour'",
        "annotations[1].id",
        "negative: true",
        "annotations[1].category",
    ):
        assert needle in text, needle


@pytest.mark.slow
def test_every_stage_from_the_command_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_inputs("runs/tiny/inputs")
    recipe = Path(__file__).parents[1] / "training" / "recipes" / "tiny.yaml"
    doc = yaml.safe_load(recipe.read_text())
    doc["sft"]["max_length"] = 4096
    Path("recipe.yaml").write_text(yaml.safe_dump(doc))
    for stage in ("data", "teacher", "sft", "student", "export"):
        assert main(["train", stage, "--recipe", "recipe.yaml"]) == 0, stage
    assert len(Path("runs/tiny/data/samples.jsonl").read_text().splitlines()) == 4
    assert Path("runs/tiny/sft/kept_chains.jsonl").read_text().count("oracle") == 3
    assert Path("runs/tiny/export/merged/config.json").is_file()
    assert Path("runs/tiny/export/adapter/adapter_config.json").is_file()
    from frs_ros.reasoning.runtime.hf import HFRuntime

    HFRuntime.from_pretrained("runs/tiny/export/merged")  # the runtime loads the export
