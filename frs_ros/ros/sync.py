"""Approximate-time pairing of image + depth + CameraInfo when ``message_filters`` is absent.

``message_filters`` (ROS 2's synchronisers) is not on PyPI, so the pip-only route has no
ApproximateTimeSynchronizer. This keeps its contract for our use, with the same parameters:
a bounded queue per input (``queue_size`` newest messages), and a set is emitted when one
message of every input lies within ``slop`` seconds of each other (the spread of the set's
header stamps); emitted messages and everything older on their inputs are dropped. Among
candidates, the one closest in time to the newest message is taken. Stamps are compared in
integer nanoseconds. No rclpy import: the nodes feed it from plain subscriptions.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from itertools import product
from typing import Any


def stamp_ns(msg: Any) -> int:
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class ApproximateSync:
    """``add(i, msg)`` for input ``i``; ``callback(*msgs)`` with one message per input."""

    def __init__(
        self, n_inputs: int, queue_size: int, slop_s: float, callback: Callable[..., None]
    ) -> None:
        if n_inputs < 2 or queue_size < 1 or not slop_s >= 0:
            raise ValueError(
                f"need >= 2 inputs, queue_size >= 1, slop >= 0 (got {n_inputs}, "
                f"{queue_size}, {slop_s})"
            )
        self.slop_ns = round(slop_s * 1e9)
        self.queues: list[deque[tuple[int, Any]]] = [
            deque(maxlen=queue_size) for _ in range(n_inputs)
        ]
        self.callback = callback
        self._lock = threading.Lock()

    def add(self, index: int, msg: Any) -> None:
        t = stamp_ns(msg)
        with self._lock:
            self.queues[index].append((t, msg))
            match = self._match(index, t)
            if match is None:
                return
            for queue, (stamp, _) in zip(self.queues, match, strict=True):
                newer = [m for m in queue if m[0] > stamp]  # inputs may arrive out of order
                queue.clear()
                queue.extend(newer)
        self.callback(*(msg for _, msg in match))

    def _match(self, index: int, t: int) -> list[tuple[int, Any]] | None:
        """The set holding the new message whose other members are closest to it in time."""
        others = [
            sorted((m for m in q if abs(m[0] - t) <= self.slop_ns), key=lambda m: abs(m[0] - t))
            for i, q in enumerate(self.queues)
            if i != index
        ]
        if any(not candidates for candidates in others):
            return None
        for combo in product(*others):
            members = list(combo)
            members.insert(index, (t, None))
            stamps = [s for s, _ in members]
            if max(stamps) - min(stamps) <= self.slop_ns:
                members[index] = self.queues[index][-1]
                return members
        return None
