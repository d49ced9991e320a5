"""The bounded YAML loader (frs_ros.yaml_safe) and that every YAML the package reads goes
through it: a size bound, an alias-expansion bound (a "billion laughs" document fails fast
with memory bounded) and one-line errors naming the file."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from frs_ros.yaml_safe import (
    MAX_ALIAS_NODES,
    YAMLFileError,
    load_yaml_file,
    load_yaml_mapping,
    load_yaml_text,
)

ROOT = Path(__file__).resolve().parents[1]


def billion_laughs(levels: int = 9) -> str:
    """The classic anchor bomb: each level is nine aliases of the one above (9**levels)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_anchor_bomb_fails_fast_with_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(30))  # 9**30 nodes once expanded
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(YAMLFileError, match=r"bomb\.yaml: refused: its aliases expand"):
        load_yaml_file(path)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 5 << 20


def test_recursive_anchors_are_refused() -> None:
    for text in ("a: &a [*a]", "&a {x: {y: *a}}"):
        with pytest.raises(YAMLFileError, match="recursive anchor"):
            load_yaml_text(text, "r.yaml")


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    text = "base: &b {lr: 0.1, steps: 3}\nrun: {<<: *b, steps: 5}\nagain: *b\n"
    assert load_yaml_text(text) == {
        "base": {"lr": 0.1, "steps": 3},
        "run": {"lr": 0.1, "steps": 5},
        "again": {"lr": 0.1, "steps": 3},
    }
    # just under the bound loads; the bound counts expansion, not the nodes written
    n = MAX_ALIAS_NODES // 2 - 10
    wide = "x: &x [" + ", ".join(["1"] * n) + "]\ny: *x\n"
    assert len(load_yaml_text(wide)["y"]) == n


def test_a_large_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(YAMLFileError, match=r"big\.yaml: refused: larger than the 1000-byte"):
        load_yaml_file(path, max_bytes=1000)
    assert load_yaml_file(path, max_bytes=4000) == {"a": "x" * 2000}


def test_an_endless_device_is_read_only_up_to_the_bound() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(YAMLFileError, match="larger than"):
        load_yaml_file("/dev/zero", max_bytes=1 << 16)


def test_malformed_deep_and_multi_document_yaml_give_one_line_errors(tmp_path: Path) -> None:
    cases = {
        "syntax.yaml": "a: [1, 2\nb: 3\n",
        "deep.yaml": "[" * 100_000,
        "two.yaml": "a: 1\n---\nb: 2\n",
        "binary.yaml": b"\xff\xfe\x00\x00garbage\x80",
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.write_bytes(body if isinstance(body, bytes) else body.encode())
        with pytest.raises(YAMLFileError) as info:
            load_yaml_file(path)
        message = str(info.value)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message, message


def test_unsafe_tags_are_not_constructed() -> None:
    with pytest.raises(YAMLFileError, match="not valid YAML"):
        load_yaml_text("!!python/object/apply:os.system ['true']")


def test_mapping_helper(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml_mapping(empty) == {}
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(YAMLFileError, match=r"recipe .*list\.yaml must be a YAML mapping"):
        load_yaml_mapping(listed, "recipe")
    with pytest.raises(YAMLFileError, match="cannot read"):
        load_yaml_mapping(tmp_path / "absent.yaml")


def test_every_yaml_read_in_the_package_goes_through_the_bounded_loader() -> None:
    # yaml.safe_load / yaml.load / yaml.compose etc. anywhere but the loader itself would
    # bypass the bounds; writing YAML (safe_dump) is fine.
    readers = {"safe_load", "load", "full_load", "unsafe_load", "load_all", "safe_load_all"}
    readers |= {"compose", "compose_all", "parse", "scan"}
    offenders = []
    for path in [*(ROOT / "frs_ros").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        if path.name == "yaml_safe.py" and path.parent.name == "frs_ros":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "yaml"
                and node.attr in readers
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} yaml.{node.attr}")
    assert offenders == []


def test_frs_refuses_a_bomb_recipe_with_exit_2(tmp_path: Path) -> None:
    # a free-form mapping of a known section: loaded unchecked, the bomb would go off when
    # the stage's manifest is written (json.dumps walks it as a tree)
    recipe = tmp_path / "bomb.yaml"
    bomb = "".join(f"    {line}\n" for line in billion_laughs(30).splitlines())
    recipe.write_text(f"teacher:\n  model: tiny\n  judge:\n{bomb}")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "frs_ros.cli", "train", "teacher", "--recipe", str(recipe)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "bomb.yaml: refused: its aliases expand" in proc.stderr
    assert time.perf_counter() - t0 < 60


def test_a_long_text_is_refused_too() -> None:
    with pytest.raises(YAMLFileError, match="launch argument: refused: larger than the 100-byte"):
        load_yaml_text("x" * 101, "launch argument", max_bytes=100)
