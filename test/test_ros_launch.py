"""launch/reasoning_seg.launch.py, config/ros/*.yaml and rviz/frs_ros.rviz agree with the nodes.

The launch file runs against a recording double of the launch / launch_ros API it uses
(Jazzy signatures, unknown keywords raise TypeError).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NODE_NAMES = {
    "frs_pipeline": ("pipeline_node", "PipelineNode"),
    "frs_camera": ("camera_node", "CameraNode"),
    "frs_perception": ("perception_node", "PerceptionNode"),
    "frs_reasoner": ("reasoner_node", "ReasonerNode"),
    "frs_visualization": ("visualization_node", "VisualizationNode"),
}
EXECUTABLES = {
    "frs_pipeline": "frs_pipeline",
    "camera_node": "frs_camera",
    "perception_node": "frs_perception",
    "reasoner_node": "frs_reasoner",
    "visualization_node": "frs_visualization",
}


class Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _cls(name: str, signature):
    def init(self, *args, **kwargs):
        signature(*args, **kwargs)  # raises TypeError like the real class
        Recorded.__init__(self, *args, **kwargs)

    return type(name, (Recorded,), {"__init__": init})


def _launch_double(monkeypatch) -> None:
    def declare(name, *, default_value=None, description=None, choices=None, **kw): ...
    def launch_config(variable_name, *, default=None): ...
    def path_join(substitutions): ...
    def find_share(package): ...
    def condition(predicate_expression): ...
    def description(initial_entities=None, *, deprecated_reason=None): ...

    def node(
        *,
        executable,
        package=None,
        name=None,
        namespace=None,
        exec_name=None,
        parameters=None,
        remappings=None,
        ros_arguments=None,
        arguments=None,
        condition=None,
        output="log",
        **kwargs,
    ): ...

    mods = {
        "launch": {"LaunchDescription": _cls("LaunchDescription", description)},
        "launch.actions": {"DeclareLaunchArgument": _cls("DeclareLaunchArgument", declare)},
        "launch.conditions": {
            "IfCondition": _cls("IfCondition", condition),
            "UnlessCondition": _cls("UnlessCondition", condition),
        },
        "launch.substitutions": {
            "LaunchConfiguration": _cls("LaunchConfiguration", launch_config),
            "PathJoinSubstitution": _cls("PathJoinSubstitution", path_join),
        },
        "launch_ros.actions": {"Node": _cls("Node", node)},
        "launch_ros.substitutions": {"FindPackageShare": _cls("FindPackageShare", find_share)},
    }
    for name, attrs in mods.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture
def launch(monkeypatch):
    _launch_double(monkeypatch)
    spec = importlib.util.spec_from_file_location(
        "frs_launch", ROOT / "launch/reasoning_seg.launch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.fixture
def node_params(monkeypatch):
    import rclpy_double

    rclpy_double.install(monkeypatch)
    out = {}
    for name, (module, cls) in NODE_NAMES.items():
        out[name] = getattr(importlib.import_module(f"frs_ros.ros.{module}"), cls).PARAMS
    return out


def test_launch_declares_the_documented_arguments(launch):
    entities = launch.args[0]
    declared = {e.args[0] for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    assert declared == {
        "namespace",
        "image_topic",
        "depth_topic",
        "camera_info_topic",
        "use_depth",
        "use_compressed",
        "profile",
        "device",
        "reasoner_config",
        "params_file",
        "single_process",
        "use_rviz",
    }


def test_launch_starts_installed_executables_with_known_parameters(launch, node_params):
    nodes = [e for e in launch.args[0] if type(e).__name__ == "Node"]
    ours = [n for n in nodes if n.kwargs["package"] == "frs_ros"]
    assert {n.kwargs["executable"] for n in ours} == set(EXECUTABLES)
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for n in ours:
        assert f"scripts/{n.kwargs['executable']}" in cmake
        params_file, overrides = n.kwargs["parameters"]
        assert type(params_file).__name__ == "LaunchConfiguration"
        known = node_params[EXECUTABLES[n.kwargs["executable"]]]
        assert set(overrides) <= set(known), n.kwargs["executable"]
        # single-process xor separate nodes
        cond = type(n.kwargs["condition"]).__name__
        assert cond == (
            "IfCondition" if n.kwargs["executable"] == "frs_pipeline" else "UnlessCondition"
        )
    rviz = [n for n in nodes if n.kwargs["package"] == "rviz2"]
    assert len(rviz) == 1 and rviz[0].kwargs["arguments"][0] == "-d"


def test_parameter_file_sections_match_node_parameters(node_params):
    data = yaml.safe_load((ROOT / "config/ros/frs_ros.yaml").read_text())
    sections = {key.split("/")[-1]: value["ros__parameters"] for key, value in data.items()}
    assert set(sections) == set(NODE_NAMES)
    for name, params in sections.items():
        declared = node_params[name]
        assert set(params) <= set(declared), (name, set(params) - set(declared))
        for key, value in params.items():  # same type as the declared default
            assert type(value) is type(declared[key]), (name, key)


def test_rviz_config_shows_overlay_and_markers():
    rviz = yaml.safe_load((ROOT / "rviz/frs_ros.rviz").read_text())
    displays = {d["Class"]: d for d in rviz["Visualization Manager"]["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/frs/overlay"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/frs/markers"
    launch_text = (ROOT / "launch/reasoning_seg.launch.py").read_text()
    assert re.search(r'"namespace": \("frs"', launch_text), "rviz topics assume namespace frs"
