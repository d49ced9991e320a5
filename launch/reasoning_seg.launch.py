"""Reasoning segmentation on a camera stream.

    ros2 launch frs_ros reasoning_seg.launch.py image_topic:=/camera/color/image_raw \
        use_depth:=true depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info profile:=default device:=cuda

``single_process:=true`` (default) runs every job in one node (frames and twins passed by
reference); ``false`` starts the camera, perception, reasoner and visualisation nodes.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "namespace": ("frs", "namespace of every node, topic and the reason_segment service"),
    "image_topic": ("image", "sensor_msgs/Image (or its /compressed with use_compressed)"),
    "depth_topic": ("depth", "depth sensor_msgs/Image registered to the colour image"),
    "camera_info_topic": ("camera_info", "sensor_msgs/CameraInfo of the colour camera"),
    "use_depth": ("false", "synchronise depth + CameraInfo (metric depth, 3D markers)"),
    "use_compressed": ("false", "subscribe to sensor_msgs/CompressedImage"),
    "profile": ("default", "perception model profile: default, tiny or a YAML path"),
    "device": ("cpu", "torch device of the perception models and the reasoner"),
    "reasoner_config": ("reasoner.yaml", "LLM runtime config (config/reasoner*.yaml)"),
    "params_file": (None, "ROS parameter YAML (default: share/frs_ros/config/ros/frs_ros.yaml)"),
    "single_process": ("true", "one composed node instead of four"),
    "use_rviz": ("false", "start RViz with rviz/frs_ros.rviz"),
}


def generate_launch_description() -> LaunchDescription:
    cfg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    share = FindPackageShare("frs_ros")
    default_params = PathJoinSubstitution([share, "config", "ros", "frs_ros.yaml"])
    overrides = {
        "image_topic": cfg["image_topic"],
        "depth_topic": cfg["depth_topic"],
        "camera_info_topic": cfg["camera_info_topic"],
        "use_depth": cfg["use_depth"],
        "use_compressed": cfg["use_compressed"],
        "profile": cfg["profile"],
        "device": cfg["device"],
        "reasoner_config": cfg["reasoner_config"],
        "reasoner_device": cfg["device"],
    }
    single = IfCondition(cfg["single_process"])
    separate = UnlessCondition(cfg["single_process"])

    def node(executable: str, keys: tuple[str, ...], condition) -> Node:
        return Node(
            package="frs_ros",
            executable=executable,
            namespace=cfg["namespace"],
            parameters=[cfg["params_file"], {k: overrides[k] for k in keys}],
            condition=condition,
            output="screen",
        )

    camera_keys = ("image_topic", "depth_topic", "camera_info_topic", "use_depth", "use_compressed")
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(
                    name, default_value=default or default_params, description=text
                )
                for name, (default, text) in ARGUMENTS.items()
            ),
            node("frs_pipeline", tuple(overrides), single),
            node("camera_node", camera_keys, separate),
            node("perception_node", ("use_depth", "profile", "device"), separate),
            node("reasoner_node", ("reasoner_config", "reasoner_device"), separate),
            node("visualization_node", (), separate),
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", PathJoinSubstitution([share, "rviz", "frs_ros.rviz"])],
                condition=IfCondition(cfg["use_rviz"]),
            ),
        ]
    )
