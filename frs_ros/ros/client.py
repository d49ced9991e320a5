"""A one-shot client of the ``reason_segment`` service (``frs ros ask``)."""

from __future__ import annotations

import time
from typing import Any

import rclpy

from frs_ros.reasoning.engine import NO_TWIN_YET
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
    """Call ``/<namespace>/reason_segment``; the ReasonSegment response. A graph started a
    moment ago has no twin yet: that refusal is asked again until ``wait_s`` is spent, so
    ``frs ros up & frs ros play & frs ros ask`` answers. Ctrl-C raises KeyboardInterrupt."""
    types = RclpyTypes()
    srv = types.get("frs_ros/srv/ReasonSegment")
    name = resolve_name(namespace, "reason_segment")
    with cli_node("frs_ask") as node:
        client = node.create_client(srv, name)
        deadline = time.monotonic() + wait_s
        if not client.wait_for_service(timeout_sec=wait_s):
            raise TimeoutError(f"no {name} service within {wait_s:g} s (is `frs ros up` running?)")
        request = srv.Request(
            query=types.new("frs_ros/msg/ReasonQuery", text=text, follow_up=follow_up, track=track)
        )
        while True:
            future = client.call_async(request)
            rclpy.spin_until_future_complete(
                node, future, timeout_sec=max(deadline - time.monotonic(), 0.0)
            )
            if not future.done():
                raise TimeoutError(f"{name} gave no answer within {wait_s:g} s")
            response = future.result()
            no_twin = not response.success and response.message.startswith(NO_TWIN_YET)
            if not no_twin or time.monotonic() + 1.0 > deadline:
                return response
            time.sleep(1.0)
