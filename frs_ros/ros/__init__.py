"""The ROS 2 layer: rclpy adapters over the ROS-free core (docs/DESIGN.md §1) — the nodes, the
rclpy message-class provider, and conversions between frs_ros' messages and the core's
types. Camera messages, frames and bags are ``frs_ros.io``'s; nothing outside this package
imports it except the command line that starts it (``frs ros``).

``interfaces`` and ``conversions`` import no rclpy (they are tested without ROS); the
``*_node`` modules, ``client`` and ``player`` do.
"""
