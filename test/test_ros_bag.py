"""Twin and ReasonResult messages recorded to a rosbag2 MCAP file with the project's bag
writer and read back with a plain rosbags reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from frs_ros.io.bags import BagWriter
from frs_ros.io.images import image_to_numpy
from frs_ros.io.messages import RosbagsTypes
from frs_ros.reasoning.answers import answer_masks
from frs_ros.ros import conversions as conv
from frs_ros.twin import Twin
from frs_ros.twin.synthetic import random_twin

TYPES = RosbagsTypes()
STORE = TYPES.store


def test_twins_and_results_round_trip_through_an_mcap_bag(tmp_path: Path) -> None:
    full = random_twin(4, 3, size=(24, 32), seed=3)
    windows = [Twin(frames=full.frames[: i + 1]) for i in range(len(full))]
    ids = full.latest.ids[:1]
    bag = tmp_path / "frs_bag"
    with BagWriter(bag, storage="mcap", types=TYPES) as writer:
        for twin in windows:
            ns = int(twin.latest.stamp * 1e9)
            writer.write("/frs/twin", conv.twin_to_msg(TYPES, twin), ns)
            masks = answer_masks(twin, ids)
            result = conv.result_to_msg(
                TYPES,
                query_id="q",
                query_text="the first one",
                frame=twin.latest,
                masks=masks.latest,
                ids=masks.ids,
                unknown_ids=[],
                outcome="tracking",
            )
            writer.write("/frs/result", result, ns)
    assert list(bag.glob("*.mcap"))

    twins, results = [], []
    with Reader(bag) as reader:
        # the bag carries the message definitions: a reader needs no frs_ros install
        assert {c.msgtype for c in reader.connections} == {
            "frs_ros/msg/Twin",
            "frs_ros/msg/ReasonResult",
        }
        for connection, _, raw in reader.messages():
            msg = STORE.deserialize_cdr(raw, connection.msgtype)
            (twins if connection.topic == "/frs/twin" else results).append(msg)
    assert [conv.msg_to_twin(m).to_dict() for m in twins] == [w.to_dict() for w in windows]
    for twin, result in zip(windows, results, strict=True):
        expected = twin.latest.object(ids[0]).decode_mask() if ids[0] in twin.latest.ids else 0
        np.testing.assert_array_equal(
            image_to_numpy(result.mask) > 0, np.zeros((24, 32), bool) | expected
        )
        assert result.frame_index == twin.latest.index
