"""Hand-worked spatial relations (DTwinSeger §3.2) and the two prompt serializers."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frs_ros.twin import FrameTwin, Twin, TwinObject, relations, to_compact, to_verbose
from frs_ros.twin.synthetic import random_twin

H, W = 100, 100


def box(x0, y0, x1, y1, depth=None, id=1, source="metric"):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    d = None if depth is None else np.full((H, W), depth, np.float32)
    return TwinObject.from_mask(id, "thing", 0.9, mask, depth=d, depth_source=source)


def test_left_and_right_are_symmetric():
    a, b = box(0, 40, 20, 60), box(60, 40, 80, 60)
    assert relations(a, b) == ["left_of"]
    assert relations(b, a) == ["right_of"]


def test_above_and_below():
    a, b = box(40, 0, 60, 20), box(40, 70, 60, 90)
    assert relations(a, b) == ["above"]
    assert relations(b, a) == ["below"]


def test_diagonal_gives_two_relations():
    assert relations(box(0, 0, 20, 20), box(70, 70, 90, 90)) == ["left_of", "above"]


def test_small_offsets_are_not_directional():
    # centroids 4 px apart, boxes 20 px wide: within half the narrower width
    assert relations(box(40, 40, 60, 60), box(44, 40, 64, 60)) == ["overlapping"]


def test_inside_and_surrounding():
    cup, shelf = box(45, 45, 55, 55), box(20, 20, 80, 80)
    assert relations(cup, shelf) == ["inside"]
    assert relations(shelf, cup) == ["surrounding"]


def test_overlapping_without_containment():
    a, b = box(10, 10, 50, 50), box(30, 30, 70, 70)
    assert "overlapping" in relations(a, b) and "overlapping" in relations(b, a)
    assert "inside" not in relations(a, b)


def test_disjoint_objects_do_not_overlap():
    rel = relations(box(0, 0, 10, 10), box(50, 50, 60, 60))
    assert not {"inside", "surrounding", "overlapping"} & set(rel)


def test_nearer_and_farther():
    near, far = box(0, 40, 20, 60, depth=1.0), box(60, 40, 80, 60, depth=3.0)
    assert relations(near, far) == ["left_of", "nearer"]
    assert relations(far, near) == ["right_of", "farther"]


def test_depth_within_tolerance_or_mixed_sources_gives_no_depth_relation():
    a, b = box(0, 40, 20, 60, depth=2.0), box(60, 40, 80, 60, depth=2.05)
    assert relations(a, b) == ["left_of"]
    rel = box(60, 40, 80, 60, depth=0.9, source="relative")
    assert relations(a, rel) == ["left_of"]
    assert relations(a, box(60, 40, 80, 60)) == ["left_of"]  # no depth at all


CONVERSE = {
    "left_of": "right_of",
    "right_of": "left_of",
    "above": "below",
    "below": "above",
    "inside": "surrounding",
    "surrounding": "inside",
    "overlapping": "overlapping",
    "nearer": "farther",
    "farther": "nearer",
}

_box = st.tuples(
    st.integers(0, 90), st.integers(0, 90), st.integers(1, 40), st.integers(1, 40)
).map(lambda b: (b[0], b[1], min(b[0] + b[2], W), min(b[1] + b[3], H)))
_depth = st.none() | st.floats(0.2, 10.0)


@settings(max_examples=60, deadline=None)
@given(_box, _box, _depth, _depth)
def test_every_relation_has_its_converse(a_box, b_box, a_depth, b_depth):
    """a REL b holds exactly when b CONVERSE(REL) a: the tool answers "a relative to b" and
    a model asking the other way round must get the mirror image, never a contradiction."""
    a, b = box(*a_box, depth=a_depth, id=1), box(*b_box, depth=b_depth, id=2)
    forward, backward = relations(a, b), relations(b, a)
    assert sorted(CONVERSE[r] for r in forward) == sorted(backward)
    # at most one of each opposing pair, and only relations of the documented vocabulary
    assert not {"left_of", "right_of"} <= set(forward)
    assert not {"above", "below"} <= set(forward)
    assert len({"inside", "surrounding", "overlapping"} & set(forward)) <= 1
    assert set(forward) <= set(CONVERSE)


def test_objects_from_images_of_different_sizes():
    small = TwinObject.from_mask(1, "a", 0.5, np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="different sizes"):
        relations(small, box(0, 0, 10, 10))


def test_compact_form_keys_and_track_summary():
    a0, a1 = box(10, 10, 20, 20, depth=1.0, id=1), box(30, 10, 40, 20, depth=1.0, id=1)
    b0 = box(60, 60, 80, 80, depth=2.0, id=2)
    twin = Twin(
        frames=[
            FrameTwin(index=5, stamp=0.5, width=W, height=H, objects=[a0, b0]),
            FrameTwin(index=6, stamp=0.6, width=W, height=H, objects=[a1]),
        ]
    )
    c = json.loads(to_compact(twin))
    assert c["img"] == [100, 100] and c["T"] == 2 and c["fr"] == [5, 6] and c["depth"] == "m"
    o1, o2 = c["objs"]
    assert o1 == {
        "id": 1,
        "lb": "thing",
        "sc": 0.9,
        "bb": [30, 10, 40, 20],
        "ar": 1.0,
        "c": [34, 14],
        "d": 1.0,
        "f": [5, 6],
        "n": 2,
        "mv": [20, 0],
    }
    assert o2["gone"] is True and o2["f"] == [5, 5]
    assert "mask" not in to_compact(twin) and "counts" not in to_compact(twin)


def test_verbose_form_is_paper_style():
    twin = random_twin(3, 2, size=(40, 40), seed=2)
    v = json.loads(to_verbose(twin))
    assert set(v) == {"0", "1"}
    entry = next(iter(v["0"].values()))
    assert {"mask", "depth_stats", "mean_depth", "semantic_label"} <= set(entry)
    assert entry["mean_depth"] == entry["depth_stats"]["mean"]


def test_compact_is_much_smaller_than_verbose():
    twin = random_twin(20, 8, seed=0)
    assert len(to_compact(twin)) * 4 <= len(to_verbose(twin))
