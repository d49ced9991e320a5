"""The ROS 2 layer: rclpy nodes that are thin callers of the ROS-free core (DESIGN.md §1).

``image_conversion``, ``interfaces`` and ``conversions`` import no rclpy (they are tested
without ROS); the ``*_node`` modules do.
"""
