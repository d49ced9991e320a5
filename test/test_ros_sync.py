"""Pure helpers of the ROS layer (no rclpy): the approximate-time pairing used where
message_filters is absent, and the message-time throttle."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from frs_ros.ros.jobs import RateLimiter
from frs_ros.ros.sync import ApproximateSync


def msg(name: str, sec: int, nanosec: int = 0):
    stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
    return SimpleNamespace(name=name, header=SimpleNamespace(stamp=stamp))


def test_a_set_is_emitted_when_every_input_lies_within_slop():
    out = []
    sync = ApproximateSync(3, 10, 0.05, lambda *m: out.append([x.name for x in m]))
    sync.add(0, msg("image", 1, 0))
    sync.add(1, msg("depth", 1, 30_000_000))
    assert out == []  # no CameraInfo yet
    sync.add(2, msg("info", 1, 10_000_000))
    assert out == [["image", "depth", "info"]]


def test_inputs_further_apart_than_slop_are_not_paired():
    out = []
    sync = ApproximateSync(2, 10, 0.05, lambda *m: out.append(m))
    sync.add(0, msg("image", 1, 0))
    sync.add(1, msg("depth", 1, 60_000_000))  # 60 ms > 50 ms
    assert out == []
    sync.add(0, msg("image", 1, 55_000_000))  # 5 ms from that depth
    assert [m.header.stamp.nanosec for m in out[0]] == [55_000_000, 60_000_000]


def test_the_closest_partner_is_chosen_and_older_messages_are_dropped():
    out = []
    sync = ApproximateSync(2, 10, 0.1, lambda *m: out.append(m))
    for ns in (0, 40_000_000, 80_000_000):
        sync.add(1, msg("depth", 2, ns))
    sync.add(0, msg("image", 2, 75_000_000))
    assert [m.header.stamp.nanosec for m in out[-1]] == [75_000_000, 80_000_000]
    assert list(sync.queues[1]) == []  # older depth images can no longer pair


def test_queues_are_bounded_and_out_of_order_inputs_pair():
    out = []
    sync = ApproximateSync(2, 3, 0.01, lambda *m: out.append(m))
    for sec in (5, 1, 4, 2, 3):  # out of order
        sync.add(1, msg("depth", sec))
    assert len(sync.queues[1]) == 3
    sync.add(0, msg("image", 3))
    assert [m.header.stamp.sec for m in out[0]] == [3, 3]
    assert [t for t, _ in sync.queues[1]] == [4 * 10**9]  # only the newer one is left


@pytest.mark.parametrize(
    "args", [(1, 10, 0.05), (2, 0, 0.05), (2, 10, -1.0), (2, 10, float("nan"))]
)
def test_bad_settings_are_refused(args):
    with pytest.raises(ValueError):
        ApproximateSync(*args, callback=print)


def test_throttling_keeps_one_frame_per_period_of_message_time():
    limiter = RateLimiter(2.0)
    kept = [t for t in (1.0, 1.1, 1.2, 1.5, 1.9, 2.0) if limiter.accept(t)]
    assert kept == [1.0, 1.5, 2.0]
    assert limiter.accept(0.5)  # time went backwards (a bag restarted): start over
    with pytest.raises(ValueError):
        RateLimiter(-1.0)
