"""The package's import structure: no import cycle, and the layers import only downwards:
``frs_ros.io`` (ROS-free I/O) needs nothing above the twin's geometry, samples load without
the segmenter, and the ROS layer (``frs_ros.ros``) is imported by nothing but the command
line that starts it.

Read from the source with ``ast`` (nothing is imported), so a violation is named by file
even when importing the offending module would fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "frs_ros"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
PACKAGES = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}


def imported(module: str, *, lazy: bool) -> set[str]:
    """frs_ros modules that ``module`` imports: at import time (``lazy=False``: statements at
    module level) or anywhere (also inside functions). ``from pkg import name`` counts as an
    import of ``pkg.name`` when that is a module."""
    tree = ast.parse(MODULES[module].read_text())
    nodes: Iterable[ast.AST] = ast.walk(tree) if lazy else tree.body
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out & MODULES.keys()


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _graph(*, lazy: bool, within: str = "frs_ros") -> dict[str, set[str]]:
    # A package's __init__ re-exports its submodules and they import their siblings through
    # it; that is how Python packages work, not a cycle between modules, so edges into
    # package __init__ files are left out.
    return {
        m: {d for d in imported(m, lazy=lazy) if d not in PACKAGES and d.startswith(within)}
        for m in MODULES
        if m not in PACKAGES and m.startswith(within)
    }


def test_no_import_cycle_at_import_time() -> None:
    assert cycles(_graph(lazy=False)) == []


def test_no_cycle_even_through_function_level_imports() -> None:
    # The easy cycles to reintroduce: onnx.runtime <-> tensorrt (their shared profiles live
    # below both, in onnx.profiles), ort_genai <-> export_cpu (conversion lives in
    # export_cpu) and reasoning.few_shot -> the benchmark generator -> reasoning (the
    # examples ship as an asset the generator writes).
    assert cycles(_graph(lazy=True)) == []
    assert "frs_ros.perception.tensorrt" not in imported(
        "frs_ros.perception.onnx.runtime", lazy=True
    )


# `frs ros up / play / ask` start the ROS layer: the command line sits above it.
ROS_ENTRY_POINTS = {"frs_ros.deploy.cli"}


def test_nothing_below_the_ros_layer_imports_it() -> None:
    upward = {
        m: sorted(d for d in imported(m, lazy=True) if d.startswith("frs_ros.ros"))
        for m in MODULES
        if not m.startswith("frs_ros.ros") and m not in ROS_ENTRY_POINTS
    }
    assert {m: d for m, d in upward.items() if d} == {}


def _third_party(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name.split(".")[0] for name in names}


def test_io_is_ros_free_and_depends_only_on_the_twin_geometry() -> None:
    io_modules = [m for m in MODULES if m.startswith("frs_ros.io")]
    assert len(io_modules) >= 6
    for m in io_modules:
        inside = {d for d in imported(m, lazy=True) if not d.startswith("frs_ros.io")}
        assert inside <= {"frs_ros.twin.geometry"}, m
        assert not {"rclpy", "sensor_msgs", "std_msgs", "cv_bridge"} & _third_party(m), m


def reachable(module: str, *, lazy: bool) -> set[str]:
    """Every frs_ros module that importing ``module`` runs (``lazy=False``) or may run
    (``lazy=True``), package ``__init__`` files included: they run on import too."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        for d in imported(m, lazy=lazy) | _parents(m):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:k]) for k in range(1, len(parts))} & MODULES.keys()


def test_samples_load_without_the_segmenter() -> None:
    # the benchmark, evaluation and training read and write samples; replaying a chain
    # through the segmenter is frs_ros.replay, one layer above
    loaded = reachable("frs_ros.samples", lazy=True)  # not even inside a function
    assert "frs_ros.segmenter" not in loaded
    assert "frs_ros.replay" not in loaded
    assert "frs_ros.segmenter" in reachable("frs_ros.replay", lazy=False)
    for m in ("frs_ros.benchmark.generator", "frs_ros.benchmark.loaders"):
        assert "frs_ros.segmenter" not in reachable(m, lazy=False), m
