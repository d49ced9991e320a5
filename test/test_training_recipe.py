"""Recipe validation: every value is checked for type and range when the recipe loads,
before any model loads, and ``frs train`` reports a bad one as one line naming the recipe
file, section and key, with exit code 2."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from frs_ros.samples import Sample, write_jsonl
from frs_ros.training.config import load_recipe
from frs_ros.twin.synthetic import random_twin

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "training/recipes/tiny.yaml").read_text())

Edit = Callable[[dict[str, Any]], None]


def _set(section: str, key: str, value: Any, sub: str = "") -> Edit:
    def edit(d: dict[str, Any]) -> None:
        (d[section][sub] if sub else d[section])[key] = value

    return edit


# (edit of the tiny recipe, what the error must name)
BAD: dict[str, tuple[Edit, str]] = {
    "save_steps 0": (_set("teacher", "save_steps", 0, "optim"), "teacher.optim.save_steps"),
    "num_generations 0": (_set("teacher", "num_generations", 0), "teacher.num_generations"),
    "save_total_limit 0": (
        _set("teacher", "save_total_limit", 0, "optim"),
        "teacher.optim.save_total_limit",
    ),
    "a list for a section": (lambda d: d.update(teacher=[1, 2]), "teacher: must be a mapping"),
    "max_steps ten": (_set("teacher", "max_steps", "ten", "optim"), "teacher.optim.max_steps"),
    "a list for lora": (_set("teacher", "lora", [2, 4]), "teacher.lora: must be a mapping"),
    "top_p 0": (_set("teacher", "top_p", 0.0), "teacher.top_p"),
}


def _recipe(tmp_path: Path, edit: Edit | None = None) -> Path:
    """The tiny recipe's teacher stage on a one-sample training file in ``tmp_path``."""
    doc = copy.deepcopy(TINY)
    train = tmp_path / "samples.jsonl"
    twin = random_twin(1, size=(16, 16), seed=1)
    write_jsonl(train, [Sample.from_ids("a", twin, "the object", [1])])
    doc["teacher"].update(train_file=str(train), output_dir=str(tmp_path / "teacher"))
    if edit is not None:
        edit(doc)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD))
def test_frs_train_refuses_a_bad_value_before_loading_models(tmp_path: Path, case: str) -> None:
    edit, named = BAD[case]
    recipe = _recipe(tmp_path, edit)
    proc = subprocess.run(
        [sys.executable, "-m", "frs_ros.cli", "train", "teacher", "--recipe", str(recipe)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-2000:]  # one line, no traceback
    assert f"recipe {recipe}: {named}" in lines[0]
    # refused before the stage began: no manifest, no checkpoint, no model
    assert not (tmp_path / "teacher").exists()


def test_the_shipped_recipes_load() -> None:
    for path in sorted((ROOT / "training/recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        assert recipe.teacher.optim.save_steps >= 1, path


def test_unknown_keys_and_post_init_checks_name_the_section(tmp_path: Path) -> None:
    cases: dict[str, tuple[Edit, str]] = {
        "unknown section": (lambda d: d.update(evaluation={}), "unknown key(s) ['evaluation']"),
        "unknown key": (_set("sft", "lernrate", 1.0), "unknown key(s) ['lernrate'] in sft"),
        "nested unknown": (_set("sft", "lr", 1.0, "optim"), "unknown key(s) ['lr'] in sft.optim"),
        "no steps": (
            lambda d: d["sft"]["optim"].update(max_steps=0, epochs=0),
            "sft.optim: set epochs > 0 or max_steps > 0",
        ),
        "a string for a number": (_set("data", "eval_fraction", "0.1"), "data.eval_fraction"),
        "a bool for a count": (_set("data", "max_frames", True), "data.max_frames"),
    }
    for name, (edit, named) in cases.items():
        path = _recipe(tmp_path, edit)
        with pytest.raises(ValueError, match=r"recipe .*recipe\.yaml: ") as info:
            load_recipe(path)
        assert named in str(info.value), name


def test_valid_values_keep_their_types(tmp_path: Path) -> None:
    recipe = load_recipe(_recipe(tmp_path, _set("sft", "epochs", 2, "optim")))
    assert recipe.sft.optim.epochs == 2.0
    assert recipe.teacher.num_generations == 2
    assert recipe.student.judge["runtime"] == {"kind": "hf", "model": "tiny"}


def test_configs_built_in_python_refuse_zero_save_settings() -> None:
    from frs_ros.training.config import OptimSettings

    for bad in ({"save_steps": 0}, {"save_total_limit": 0}):
        with pytest.raises(ValueError, match="save_steps and save_total_limit must be >= 1"):
            OptimSettings(**bad)
