"""Bounded window of frame twins over an endless stream (docs/DESIGN.md §1, §10).

The aggregator keeps the last ``window`` frame twins (a ``deque(maxlen=window)``) and, per
track, a bounded trajectory of (frame index, stamp, centroid, 3-D centroid) — at most
``trajectory_length`` points per track and at most ``max_tracks`` tracks (least recently
seen evicted first), so memory stays bounded however long the stream runs.

Ordering decision: frames must arrive in strictly increasing index order. A frame whose
index is not greater than the last accepted one (late, duplicated or replayed) is
*dropped with a warning* and ``push`` returns ``False``: a live stream should not die on
one late message, and inserting it would break the window's time order that the Twin
contract requires.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass

from frs_ros.twin.model import FrameTwin, Twin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrajectoryPoint:
    index: int
    stamp: float
    centroid: tuple[float, float]
    centroid_3d: tuple[float, float, float] | None


class TwinAggregator:
    def __init__(self, window: int = 16, trajectory_length: int = 256, max_tracks: int = 1024):
        if window < 1 or trajectory_length < 1 or max_tracks < 1:
            raise ValueError("window, trajectory_length and max_tracks must be >= 1")
        self.window = window
        self.trajectory_length = trajectory_length
        self.max_tracks = max_tracks
        self._frames: deque[FrameTwin] = deque(maxlen=window)
        self._trajectories: OrderedDict[int, deque[TrajectoryPoint]] = OrderedDict()
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
        for obj in frame.objects:
            traj = self._trajectories.pop(obj.id, None)
            if traj is None:
                traj = deque(maxlen=self.trajectory_length)
            traj.append(TrajectoryPoint(frame.index, frame.stamp, obj.centroid, obj.centroid_3d))
            self._trajectories[obj.id] = traj  # re-insert: most recently seen last
        while len(self._trajectories) > self.max_tracks:
            self._trajectories.popitem(last=False)
        return True

    def twin(self) -> Twin:
        """The current window as a Twin (oldest frame first)."""
        return Twin(frames=list(self._frames))

    def trajectory(self, track_id: int) -> list[TrajectoryPoint]:
        if track_id not in self._trajectories:
            raise KeyError(f"no trajectory for track {track_id}")
        return list(self._trajectories[track_id])

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._trajectories)

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
        self._trajectories.clear()
        self._last_index = None
