"""The rclpy message-class provider: the rosidl-generated Python classes.

It offers what ``frs_ros.io.messages.MessageTypes`` asks of a provider, so the conversions
build rclpy messages on a ROS machine with the same code that builds rosbags messages
(``frs_ros.io.messages.RosbagsTypes``) in tests and bag files.
"""

from __future__ import annotations

import array
import importlib
from typing import Any

import numpy as np

from frs_ros.io.messages import NUMERIC, split_interface_name


class RclpyTypes:
    """The rosidl-generated Python classes (a sourced ROS 2 workspace)."""

    def get(self, name: str) -> Any:
        pkg, kind, typ = split_interface_name(name)
        return getattr(importlib.import_module(f"{pkg}.{kind}"), typ)

    def new(self, name: str, **fields: Any) -> Any:
        return self.get(name)(**fields)

    def sequence(self, ros_type: str, values: Any) -> Any:
        code = NUMERIC[ros_type][0]
        if isinstance(values, bytes | bytearray | memoryview):
            return array.array(code, bytes(values))  # frombytes: no per-element checks
        return array.array(code, np.asarray(values, dtype=NUMERIC[ros_type][1]).tobytes())
