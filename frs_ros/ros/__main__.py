"""``python -m frs_ros.ros <executable> [--ros-args ...]``: a node by its executable name,
as ``ros2 run frs_ros <executable>`` starts it (``frs ros up`` uses this form, so the
venv's interpreter runs the node whatever the scripts' shebang says)."""

from __future__ import annotations

import importlib
import sys

EXECUTABLES = {
    "frs_pipeline": "frs_ros.ros.pipeline_node",
    "camera_node": "frs_ros.ros.camera_node",
    "perception_node": "frs_ros.ros.perception_node",
    "reasoner_node": "frs_ros.ros.reasoner_node",
    "visualization_node": "frs_ros.ros.visualization_node",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXECUTABLES:
        print(f"usage: python -m frs_ros.ros {{{','.join(EXECUTABLES)}}} [--ros-args ...]")
        return 2
    # rclpy reads the remaining arguments (--ros-args ...) from sys.argv
    sys.argv = [argv[0], *argv[1:]]
    return importlib.import_module(EXECUTABLES[argv[0]]).main()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
