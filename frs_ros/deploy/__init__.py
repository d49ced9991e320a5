"""Building and starting the ROS 2 graph without ROS tooling (ROS-free: no rclpy import).

``workspace``: the pip-only build (ROS 2 wheels + colcon inside the virtual environment);
``graph``: the one description of the node graph that both the launch file and
``frs ros up`` start.
"""
