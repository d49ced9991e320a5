"""Bounded window of frame twins over an endless stream (docs/DESIGN.md §1, §10).

The aggregator keeps the last ``window`` frame twins (a ``deque(maxlen=window)``), so
memory stays bounded however long the stream runs.

Ordering decision: frames must arrive in strictly increasing index order. A frame whose
index is not greater than the last accepted one (late, duplicated or replayed) is
*dropped with a warning* and ``push`` returns ``False``: a live stream should not die on
one late message, and inserting it would break the window's time order that the Twin
contract requires.
"""

from __future__ import annotations

import logging
from collections import deque

from frs_ros.twin.model import FrameTwin, Twin

log = logging.getLogger(__name__)


class TwinAggregator:
    def __init__(self, window: int = 16):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self._frames: deque[FrameTwin] = deque(maxlen=window)
        self._last_index: int | None = None
        self.dropped = 0  # frames rejected as out of order

    def push(self, frame: FrameTwin) -> bool:
        """Add the next frame twin; ``False`` (and a warning) if it arrived out of order."""
        if self._last_index is not None and frame.index <= self._last_index:
            self.dropped += 1
            log.warning(
                "frame %d dropped: arrived after frame %d (out of order)",
                frame.index,
                self._last_index,
            )
            return False
        self._last_index = frame.index
        self._frames.append(frame)
        return True

    def twin(self) -> Twin:
        """The current window as a Twin (oldest frame first)."""
        return Twin(frames=list(self._frames))

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
        self._last_index = None
