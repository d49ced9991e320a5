"""Answer ids → masks (docs/DESIGN.md §4): per frame a union mask and per-instance masks.

For video the ids are track ids, so an answered object is followed through every frame
of the window it appears in; frames where none of the ids appear get an empty union.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from frs_ros.twin import RLE, Twin
from frs_ros.twin import rle as rle_utils


@dataclass
class FrameMasks:
    index: int
    union: RLE
    instances: dict[int, RLE] = field(default_factory=dict)

    def union_array(self) -> np.ndarray:
        return rle_utils.decode(self.union)


@dataclass
class AnswerMasks:
    frames: list[FrameMasks]
    ids: list[int]  # answered ids present in the twin
    unknown_ids: list[int]  # answered ids absent from the twin (reported, not fatal)

    @property
    def empty(self) -> bool:
        return not self.ids

    @property
    def latest(self) -> FrameMasks:
        return self.frames[-1]


def answer_masks(twin: Twin, ids: list[int]) -> AnswerMasks:
    known = set(twin.ids)
    present = sorted(i for i in set(ids) if i in known)
    frames = []
    for f in twin.frames:
        inst = {i: o.mask for i in present if (o := f.get(i)) is not None}
        frames.append(
            FrameMasks(f.index, rle_utils.merge(list(inst.values()), (f.height, f.width)), inst)
        )
    return AnswerMasks(frames, present, sorted(set(ids) - known))
