"""TwinAggregator: bounded memory on endless streams, out-of-order frames dropped."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from frs_ros.twin.aggregator import TwinAggregator
from frs_ros.twin.model import FrameTwin, TwinObject


def _frame(index: int, ids: list[int], size: tuple[int, int] = (8, 8)) -> FrameTwin:
    mask = np.zeros(size, bool)
    mask[2:4, 2:4] = True
    objs = [TwinObject.from_mask(i, "x", 0.5, mask) for i in ids]
    return FrameTwin(index, index / 30.0, size[1], size[0], objs)


def test_memory_stays_bounded_over_5000_frames():
    agg = TwinAggregator(window=8)
    obj = _frame(0, [1]).objects[0]
    for k in range(5000):
        # a few persistent tracks plus a new track every frame (a churning scene)
        ids = [1, 2, 3, 1000 + k]
        frame = FrameTwin(k, k / 30.0, 8, 8, [obj.with_id(i) for i in ids])
        assert agg.push(frame)
        assert len(agg) <= 8
    assert len(agg) == 8
    assert [f.index for f in agg.twin()] == list(range(4992, 5000))


def test_out_of_order_and_duplicate_frames_are_dropped_with_warning(caplog):
    agg = TwinAggregator(window=4)
    assert agg.push(_frame(0, [1]))
    assert agg.push(_frame(2, [1]))
    with caplog.at_level(logging.WARNING):
        assert not agg.push(_frame(1, [1]))
        assert not agg.push(_frame(2, [1]))
    assert "out of order" in caplog.text
    assert agg.dropped == 2
    assert [f.index for f in agg.twin()] == [0, 2]


def test_clear_starts_a_new_stream():
    agg = TwinAggregator()
    agg.push(_frame(5, [7]))
    assert not agg.push(_frame(0, [1]))
    agg.clear()
    assert len(agg) == 0 and agg.push(_frame(0, [1]))
    assert [f.index for f in agg.twin()] == [0]


def test_bad_bounds_rejected():
    with pytest.raises(ValueError):
        TwinAggregator(window=0)
