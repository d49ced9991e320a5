"""Reasoning segmentation on a camera stream.

    ros2 launch frs_ros reasoning_seg.launch.py image_topic:=/camera/color/image_raw \
        use_depth:=true depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info profile:=default device:=cuda

``single_process:=true`` (default) runs every job in one node (frames and twins passed by
reference); ``false`` starts the camera, perception, reasoner and visualisation nodes.

A thin adapter: the graph (nodes, parameters, namespace) is described once in
``frs_ros.deploy.graph``, which ``frs ros up`` starts too (docs/ros.md).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from frs_ros.deploy.graph import ARGUMENTS, describe
from launch import LaunchDescription


def _nodes(context, *args, **kwargs) -> list[Node]:
    graph = describe({name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS})
    nodes = [
        Node(
            package="frs_ros",
            executable=spec.executable,
            namespace=graph.namespace,
            parameters=[str(graph.params_file), spec.overrides],
            output="screen",
        )
        for spec in graph.nodes
    ]
    if graph.rviz_config is not None:
        nodes.append(
            Node(package="rviz2", executable="rviz2", arguments=["-d", str(graph.rviz_config)])
        )
    return nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=arg.default, description=arg.description)
                for name, arg in ARGUMENTS.items()
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
