"""A one-shot client of the ``reason_segment`` service (``frs ros ask``)."""

from __future__ import annotations

from typing import Any

import rclpy

from frs_ros.ros.admin import cli_node
from frs_ros.ros.interfaces import RclpyTypes


def resolve_name(namespace: str, name: str) -> str:
    """``name`` under ``namespace`` as an absolute ROS name (``frs``, ``/frs/`` -> ``/frs/x``)."""
    ns = namespace.strip("/")
    return f"/{ns}/{name}" if ns else f"/{name}"


def ask(
    text: str,
    *,
    namespace: str = "frs",
    follow_up: bool = False,
    track: bool = False,
    wait_s: float = 120.0,
) -> Any:
    """Call ``/<namespace>/reason_segment``; the ReasonSegment response. Ctrl-C raises
    KeyboardInterrupt."""
    types = RclpyTypes()
    srv = types.get("frs_ros/srv/ReasonSegment")
    name = resolve_name(namespace, "reason_segment")
    with cli_node("frs_ask") as node:
        client = node.create_client(srv, name)
        if not client.wait_for_service(timeout_sec=min(wait_s, 30.0)):
            raise TimeoutError(f"no {name} service (is `frs ros up` running?)")
        request = srv.Request(
            query=types.new("frs_ros/msg/ReasonQuery", text=text, follow_up=follow_up, track=track)
        )
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=wait_s)
        if not future.done():
            raise TimeoutError(f"{name} gave no answer within {wait_s:g} s")
        return future.result()
