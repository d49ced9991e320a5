"""Every .msg/.srv file parses as ROS 2 interface definitions (rosbags, no ROS needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.msg import normalize_msgtype

ROOT = Path(__file__).resolve().parents[1]
MSGS = sorted((ROOT / "msg").glob("*.msg"))
SRVS = sorted((ROOT / "srv").glob("*.srv"))


def _all_types() -> dict:
    # rosbags knows msg/ and action/ only: a service half "frs_ros/srv/X_Request" is stored
    # as "frs_ros/srv/msg/X_Request" (normalize_msgtype), which is fine for parsing.
    types: dict = {}
    for path in MSGS:
        types.update(get_types_from_msg(path.read_text(), f"frs_ros/msg/{path.stem}"))
    for path in SRVS:
        request, response = path.read_text().split("\n---\n")
        types.update(get_types_from_msg(request, f"frs_ros/srv/{path.stem}_Request"))
        types.update(get_types_from_msg(response, f"frs_ros/srv/{path.stem}_Response"))
    return types


def test_the_named_interfaces_exist() -> None:
    assert {p.stem for p in MSGS} >= {"TwinObject", "Twin", "ReasonQuery", "ReasonResult"}
    assert [p.stem for p in SRVS] == ["ReasonSegment"]


@pytest.mark.parametrize("path", SRVS, ids=lambda p: p.name)
def test_service_has_one_request_response_separator(path: Path) -> None:
    assert path.read_text().count("\n---\n") == 1


def test_all_interfaces_register_against_jazzy_standard_types() -> None:
    store = get_typestore(Stores.ROS2_JAZZY)
    types = _all_types()
    store.register(types)  # fails on any unknown field type
    # every referenced type resolves, nested ones included
    for name in types:
        assert name in store.types
    fields = store.types[
        normalize_msgtype("frs_ros/srv/ReasonSegment_Response")
    ].__dataclass_fields__
    assert {"success", "message", "result"} <= set(fields)
    result = store.types["frs_ros/msg/ReasonResult"].__dataclass_fields__
    assert {"query_id", "object_ids", "mask", "reasoning", "empty_target", "outcome"} <= set(result)


def test_messages_round_trip_through_cdr() -> None:
    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(_all_types())
    Query = store.types["frs_ros/msg/ReasonQuery"]
    msg = Query(
        id="q1", text="the red mug", follow_up=False, track=True, max_rounds=3, timeout_s=2.5
    )
    back = store.deserialize_cdr(store.serialize_cdr(msg, Query.__msgtype__), Query.__msgtype__)
    assert back == msg
