"""Each tool on a hand-built two-frame twin with known geometry and motion."""

import numpy as np
import pytest

from frs_ros.reasoning.tools import TOOLS, ToolContext
from frs_ros.twin import CameraIntrinsics, FrameTwin, Twin, TwinObject

H, W = 100, 200
K = CameraIntrinsics(fx=100.0, fy=100.0, cx=100.0, cy=50.0)


def rect(id, label, x0, y0, x1, y1, depth):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    d = np.full((H, W), depth, np.float32)
    return TwinObject.from_mask(id, label, 0.8, mask, depth=d, depth_source="metric", intrinsics=K)


@pytest.fixture
def ctx():
    # frame 0 (t=0 s): bottle 1 at x 10..30, cup 2 at x 100..120, table 3 big, knife 4
    # frame 1 (t=2 s): bottle moved right by 40 px (towards the cup); knife gone; apple 5 new
    f0 = [
        rect(1, "bottle", 10, 10, 30, 50, 1.0),
        rect(2, "cup", 100, 10, 120, 30, 2.0),
        rect(3, "table", 0, 60, 200, 100, 3.0),
        rect(4, "knife", 150, 10, 160, 20, 1.5),
    ]
    f1 = [
        rect(1, "bottle", 50, 10, 70, 50, 1.0),
        rect(2, "cup", 100, 10, 120, 30, 2.0),
        rect(3, "table", 0, 60, 200, 100, 3.0),
        rect(5, "apple", 170, 70, 180, 80, 2.9),
    ]
    twin = Twin([FrameTwin(0, 0.0, W, H, f0), FrameTwin(1, 2.0, W, H, f1)])
    return ToolContext(twin, previous_ids=[2])


def call(ctx, name, **args):
    entry = TOOLS.call(ctx, name, args)
    assert "error" not in entry, entry
    return entry["ok"]


def test_find_and_count(ctx):
    assert call(ctx, "find", label="Bottles") == [1]
    # a list is one call for several kinds: ids matching any label, in twin order
    assert call(ctx, "find", label=["cup", "spoon", "bottle"]) == [1, 2]
    assert call(ctx, "find", label=["spoon"]) == []
    assert call(ctx, "count", label="cup") == 1
    assert call(ctx, "count", label="spoon") == 0


def test_size_and_rank(ctx):
    assert call(ctx, "size", id=2) == {"area_px": 400, "area_pct": 2.0, "w": 20.0, "h": 20.0}
    assert call(ctx, "size_rank")[0] == [3, 8000]
    assert [i for i, _ in call(ctx, "size_rank", order="asc")][:3] == [
        5,
        4,
        2,
    ]  # ties: lower id first
    assert call(ctx, "size_rank", ids=[1, 2]) == [[1, 800], [2, 400]]


def test_position_and_region(ctx):
    p = call(ctx, "position", id=1)
    assert p["c"] == [59.5, 29.5] and p["region"] == "top-left"
    assert p["p3"] == [round((59.5 - 100) / 100, 2), round((29.5 - 50) / 100, 2), 1.0]
    assert call(ctx, "position", id=1, frame=0)["c"] == [19.5, 29.5]


def test_relation_overlap_and_prev(ctx):
    assert call(ctx, "relation", a=1, b=2) == ["left_of", "nearer"]
    assert call(ctx, "relation", a=1, b="prev") == ["left_of", "nearer"]
    assert call(ctx, "overlap", a=5, b=3) == {"iou": 0.0125, "a_in_b": 1.0, "b_in_a": 0.0125}
    assert call(ctx, "relation", a=5, b=3) == ["right_of", "inside"]  # 2.9 vs 3.0 m: within 5 %


def test_depth_order_and_distances(ctx):
    order = call(ctx, "depth_order")
    assert [i for i, _ in order] == [1, 4, 2, 5, 3]  # knife 4 keeps its last-seen depth
    assert call(ctx, "nearest", to="camera")[0][0] == 1
    assert call(ctx, "farthest", to="camera")[0][0] == 3
    near_cup = call(ctx, "nearest", to="2", label="bottle")
    assert near_cup[0][0] == 1 and near_cup[0][2] == "m"


def test_temporal_tools(ctx):
    assert call(ctx, "seen", id=4) == {
        "first": 0,
        "last": 0,
        "t_first": 0.0,
        "t_last": 0.0,
        "frames": 1,
        "in_latest": False,
    }
    d = call(ctx, "displacement", id=1)
    assert (d["px"], d["dx"], d["dy"], d["m"]) == (40.0, 40.0, 0.0, 0.4)
    assert call(ctx, "speed", id=1) == {"px_s": 20.0, "m_s": 0.2}
    assert call(ctx, "moved") == [1]
    assert call(ctx, "appeared") == [5]
    assert call(ctx, "disappeared") == [4]
    a = call(ctx, "approach", a=1, b=2)
    assert a["verdict"] == "approached" and a["unit"] == "m" and a["end"] < a["start"]
    assert call(ctx, "approach", a=3, b=2)["verdict"] == "unchanged"


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("speed", {"id": 4}, "single instant"),
        ("approach", {"a": 4, "b": 5}, "never appear together"),
        ("relation", {"a": 4, "b": 5}, "never appear together"),
        ("size", {"id": 1, "frame": 7}, "frame 7 is not in the window"),
        ("nearest", {"to": "sofa"}, "'to' must be 'camera'"),
        ("size_rank", {"order": "random"}, "must be one of"),
        ("find", {"label": ""}, "non-empty string"),
        ("find", {"label": []}, "a label or a list of labels"),
        ("find", {"label": ["cup", 3]}, "non-empty string"),
        ("moved", {"min_px": float("nan")}, "finite number"),
        ("size", {"id": True}, "must be an integer"),
    ],
)
def test_tool_errors_are_entries(ctx, name, args, message):
    entry = TOOLS.call(ctx, name, args)
    assert message in entry["error"]


def test_prev_without_previous_answer(ctx):
    ctx.previous_ids = []
    assert "no previous answer" in TOOLS.call(ctx, "size", {"id": "prev"})["error"]


def test_every_tool_is_described_for_the_prompt():
    text = TOOLS.describe()
    for name in TOOLS.names:
        assert f"- {name}(" in text
