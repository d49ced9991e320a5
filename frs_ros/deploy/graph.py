"""The node graph of frs_ros, described once: which nodes run, from which executables, in
which namespace, with which parameter files and launch-argument overrides.

Two thin adapters start it: ``launch/reasoning_seg.launch.py`` (``ros2 launch`` on a ROS
machine) and ``frs ros up`` (processes started from the virtual environment, for the
pip-only route, where ``launch``/``launch_ros`` are not installable). The live tests start
the graph through ``frs ros up``, so the graph that ``ros2 launch`` starts is the one that
was tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from frs_ros.paths import config_dir
from frs_ros.yaml_safe import load_yaml_text


@dataclass(frozen=True)
class Argument:
    default: str
    description: str


# Launch arguments: ``ros2 launch frs_ros reasoning_seg.launch.py name:=value`` and
# ``frs ros up name:=value``. Values are strings, typed like launch_ros types them (YAML).
ARGUMENTS: dict[str, Argument] = {
    "namespace": Argument("frs", "namespace of every node, topic and the reason_segment service"),
    "image_topic": Argument("image", "sensor_msgs/Image (or its /compressed with use_compressed)"),
    "depth_topic": Argument("depth", "depth sensor_msgs/Image registered to the colour image"),
    "camera_info_topic": Argument("camera_info", "sensor_msgs/CameraInfo of the colour camera"),
    "use_depth": Argument("false", "synchronise depth + CameraInfo (metric depth, 3D markers)"),
    "use_compressed": Argument("false", "subscribe to sensor_msgs/CompressedImage"),
    "profile": Argument("default", "perception model profile: default, cpu, tiny or a YAML path"),
    "device": Argument("cpu", "torch device of the perception models and the reasoner"),
    "reasoner_config": Argument("reasoner.yaml", "LLM runtime config (config/reasoner*.yaml)"),
    "prompt": Argument(
        "full", "system prompt: full | brief (the one the reasoner was trained with)"
    ),
    "params_file": Argument("", "ROS parameter YAML (empty: the shipped config/ros/frs_ros.yaml)"),
    "single_process": Argument("true", "one composed node instead of four"),
    "autostart": Argument("true", "configure + activate at start (false: drive the lifecycle)"),
    "use_rviz": Argument("false", "start RViz with rviz/frs_ros.rviz"),
}

# Node parameter -> the launch argument that overrides it (the rest come from params_file).
_OVERRIDES: dict[str, str] = {
    "image_topic": "image_topic",
    "depth_topic": "depth_topic",
    "camera_info_topic": "camera_info_topic",
    "use_depth": "use_depth",
    "use_compressed": "use_compressed",
    "profile": "profile",
    "device": "device",
    "reasoner_config": "reasoner_config",
    "prompt": "prompt",
    "reasoner_device": "device",
    "autostart": "autostart",
}
_CAMERA = ("image_topic", "depth_topic", "camera_info_topic", "use_depth", "use_compressed")

# executable (scripts/, ``ros2 run frs_ros <executable>``) -> node name, overridden parameters
_SINGLE = {"frs_pipeline": ("frs_pipeline", tuple(_OVERRIDES))}
_SEPARATE = {
    "camera_node": ("frs_camera", (*_CAMERA, "autostart")),
    "perception_node": ("frs_perception", ("use_depth", "profile", "device", "autostart")),
    "reasoner_node": (
        "frs_reasoner",
        ("reasoner_config", "prompt", "reasoner_device", "autostart"),
    ),
    "visualization_node": ("frs_visualization", ("autostart",)),
}


@dataclass(frozen=True)
class NodeSpec:
    executable: str  # scripts/<executable>, i.e. `ros2 run frs_ros <executable>`
    name: str  # the name the node gives itself (and its section in the parameter file)
    overrides: dict[str, Any] = field(default_factory=dict)  # typed parameter values


@dataclass(frozen=True)
class Graph:
    namespace: str
    params_file: Path
    nodes: list[NodeSpec]
    rviz_config: Path | None  # set when RViz is asked for


def typed(value: str) -> Any:
    """A launch-argument string as a parameter value: YAML scalar typing, as launch_ros does
    (``false`` -> bool, ``0.5`` -> float); an empty string stays a string."""
    parsed = load_yaml_text(value, "launch argument") if value.strip() else value
    return parsed if isinstance(parsed, bool | int | float | str) else value


def resolve_arguments(given: Mapping[str, str]) -> dict[str, str]:
    """The launch arguments with defaults filled in; unknown names are an error."""
    unknown = sorted(set(given) - set(ARGUMENTS))
    if unknown:
        raise ValueError(f"unknown launch argument(s) {unknown}; known: {sorted(ARGUMENTS)}")
    return {name: str(given.get(name, arg.default)) for name, arg in ARGUMENTS.items()}


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``name:=value`` command-line items (the ``ros2 launch`` syntax) as a mapping."""
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"expected name:=value, got {item!r}")
        out[name] = value
    return out


def describe(given: Mapping[str, str]) -> Graph:
    """The graph for these launch arguments."""
    args = resolve_arguments(given)
    single = typed(args["single_process"])
    if not isinstance(single, bool):
        raise ValueError(f"single_process must be true or false, got {args['single_process']!r}")
    values = {param: typed(args[arg]) for param, arg in _OVERRIDES.items()}
    nodes = [
        NodeSpec(executable, name, {key: values[key] for key in keys})
        for executable, (name, keys) in (_SINGLE if single else _SEPARATE).items()
    ]
    params_file = Path(args["params_file"]) if args["params_file"] else shipped_params_file()
    if not params_file.is_file():
        raise FileNotFoundError(f"parameter file {params_file} does not exist")
    rviz = config_dir().parent / "rviz" / "frs_ros.rviz" if typed(args["use_rviz"]) else None
    return Graph(args["namespace"].strip("/"), params_file, nodes, rviz)


def shipped_params_file() -> Path:
    return config_dir() / "ros" / "frs_ros.yaml"


def overrides_yaml(spec: NodeSpec) -> str:
    """A parameter file holding a node's overrides (what launch_ros writes for a dict)."""
    return yaml.safe_dump({"/**": {"ros__parameters": spec.overrides}}, sort_keys=True)
