"""The graph description (frs_ros.deploy.graph), the launch file that adapts it for
``ros2 launch``, the shipped parameter file and the RViz config agree with the nodes.

The nodes' declared parameters come from the real node classes (real rclpy). ``launch``
and ``launch_ros`` are not installable here, so the launch file runs against a small
recording stand-in of the five names it uses; the graph it adapts is the one the live
tests start (test_ros_live_*.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import cmake_lists
import pytest
import yaml
from ros_live import require_live_ros

from frs_ros.deploy import graph as graph_mod

ROOT = Path(__file__).resolve().parents[1]
NODE_CLASSES = {
    "frs_pipeline": ("pipeline_node", "PipelineNode"),
    "frs_camera": ("camera_node", "CameraNode"),
    "frs_perception": ("perception_node", "PerceptionNode"),
    "frs_reasoner": ("reasoner_node", "ReasonerNode"),
    "frs_visualization": ("visualization_node", "VisualizationNode"),
}


@pytest.fixture(scope="module")
def declared() -> dict[str, dict]:
    """Node name -> its declared parameters and defaults (FrsNode.PARAMS + autostart)."""
    require_live_ros()
    out = {}
    for name, (module, cls) in NODE_CLASSES.items():
        params = getattr(importlib.import_module(f"frs_ros.ros.{module}"), cls).PARAMS
        out[name] = {**params, "autostart": True}
    return out


def test_single_process_and_separate_graphs():
    single = graph_mod.describe({})
    assert [n.name for n in single.nodes] == ["frs_pipeline"]
    assert single.namespace == "frs" and single.rviz_config is None
    separate = graph_mod.describe({"single_process": "false", "use_rviz": "true"})
    assert [n.name for n in separate.nodes] == [
        "frs_camera",
        "frs_perception",
        "frs_reasoner",
        "frs_visualization",
    ]
    assert separate.rviz_config is not None and separate.rviz_config.is_file()


def test_launch_arguments_become_typed_parameter_overrides():
    g = graph_mod.describe(
        {
            "use_depth": "true",
            "profile": "tiny",
            "device": "cuda:1",
            "single_process": "false",
            "reasoner_config": "reasoner_student.yaml",
            "prompt": "brief",  # the prompt that student was trained with
        }
    )
    by_name = {n.name: n.overrides for n in g.nodes}
    assert by_name["frs_camera"]["use_depth"] is True
    assert by_name["frs_perception"] == {
        "use_depth": True,
        "profile": "tiny",
        "device": "cuda:1",
        "autostart": True,
    }
    assert by_name["frs_reasoner"]["reasoner_device"] == "cuda:1"
    assert by_name["frs_reasoner"]["reasoner_config"] == "reasoner_student.yaml"
    assert by_name["frs_reasoner"]["prompt"] == "brief"
    assert graph_mod.describe({"prompt": "brief"}).nodes[0].overrides["prompt"] == "brief"
    assert graph_mod.typed("0.5") == 0.5 and graph_mod.typed("") == ""
    assert graph_mod.typed("[1, 2]") == "[1, 2]"  # only scalars are typed


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({"no_such_argument": "1"}, "unknown launch argument"),
        ({"single_process": "maybe"}, "single_process"),
        ({"params_file": "/nonexistent.yaml"}, "does not exist"),
    ],
)
def test_bad_launch_arguments_are_clear_errors(given, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        graph_mod.describe(given)


def test_assignments_use_the_ros2_launch_syntax():
    assert graph_mod.parse_assignments(["a:=1", "b:="]) == {"a": "1", "b": ""}
    with pytest.raises(ValueError, match="name:=value"):
        graph_mod.parse_assignments(["a=1"])


@pytest.mark.ros
def test_overrides_are_declared_parameters_of_their_node(declared):
    for single in ("true", "false"):
        for spec in graph_mod.describe({"single_process": single}).nodes:
            assert set(spec.overrides) <= set(declared[spec.name]), spec.name


def test_every_executable_is_installed_and_runnable():
    from frs_ros.ros.__main__ import EXECUTABLES

    installed = {
        arg
        for c in cmake_lists.parse(ROOT / "CMakeLists.txt")
        if c.name == "install"
        for arg in c.after("PROGRAMS", until={"DESTINATION"})
    }
    for single in ("true", "false"):
        for spec in graph_mod.describe({"single_process": single}).nodes:
            assert spec.executable in EXECUTABLES
            assert (ROOT / "scripts" / spec.executable).is_file()
            assert f"scripts/{spec.executable}" in installed


@pytest.mark.ros
def test_parameter_file_values_are_the_node_defaults(declared):
    """The shipped file documents every parameter with the value the node declares, so
    the file and the code cannot drift apart."""
    data = yaml.safe_load(graph_mod.shipped_params_file().read_text())
    sections = {key.split("/")[-1]: value["ros__parameters"] for key, value in data.items()}
    assert set(sections) == set(NODE_CLASSES)
    for name, params in sections.items():
        defaults = {k: v for k, v in declared[name].items() if k != "autostart"}
        assert params == defaults, name


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _load_launch_file(monkeypatch, arguments: dict[str, str]):
    """The launch file against stand-ins of the launch/launch_ros names it imports."""

    class LaunchConfiguration(_Recorded):
        def perform(self, context):
            return context.get(self.args[0], graph_mod.ARGUMENTS[self.args[0]].default)

    mods = {
        "launch": {"LaunchDescription": type("LaunchDescription", (_Recorded,), {})},
        "launch.actions": {
            "DeclareLaunchArgument": type("DeclareLaunchArgument", (_Recorded,), {}),
            "OpaqueFunction": type("OpaqueFunction", (_Recorded,), {}),
        },
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch_ros.actions": {"Node": type("Node", (_Recorded,), {})},
    }
    for name, attrs in mods.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location(
        "frs_launch", ROOT / "launch/reasoning_seg.launch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    entities = description.args[0]
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities[:-1]}
    opaque = entities[-1]
    return declared, opaque.kwargs["function"](arguments)


@pytest.mark.parametrize("single", ["true", "false"])
def test_launch_file_starts_exactly_the_described_graph(monkeypatch, single):
    arguments = {"single_process": single, "use_rviz": "true", "profile": "tiny"}
    declared, nodes = _load_launch_file(monkeypatch, arguments)
    assert declared == {name: arg.default for name, arg in graph_mod.ARGUMENTS.items()}
    graph = graph_mod.describe(arguments)
    ours = [n.kwargs for n in nodes if n.kwargs["package"] == "frs_ros"]
    assert [(n["executable"], n["namespace"]) for n in ours] == [
        (spec.executable, graph.namespace) for spec in graph.nodes
    ]
    assert [n["parameters"] for n in ours] == [
        [str(graph.params_file), spec.overrides] for spec in graph.nodes
    ]
    (rviz,) = [n.kwargs for n in nodes if n.kwargs["package"] == "rviz2"]
    assert rviz["arguments"] == ["-d", str(graph.rviz_config)]


def test_rviz_config_shows_overlay_and_markers_of_the_default_namespace():
    rviz = yaml.safe_load((ROOT / "rviz/frs_ros.rviz").read_text())
    displays = {d["Class"]: d for d in rviz["Visualization Manager"]["Displays"]}
    ns = graph_mod.ARGUMENTS["namespace"].default
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == f"/{ns}/overlay"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == f"/{ns}/markers"
