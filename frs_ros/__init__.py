"""frs_ros: reasoning segmentation over digital twins (FastReasonSeg approach).

The core (``frs_ros.twin``, ``frs_ros.metrics``, ``frs_ros.perception``,
``frs_ros.reasoning``, ...) is ROS-free; ``frs_ros.ros`` holds the thin rclpy nodes.
"""

__version__ = "0.1.0"
