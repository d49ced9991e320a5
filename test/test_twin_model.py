"""The digital twin data model: RLE, JSON round-trip, derived fields, bad input."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from frs_ros.twin import (
    CameraIntrinsics,
    FrameTwin,
    Twin,
    TwinObject,
    UnknownObjectError,
    clip_bbox,
    rle,
)
from frs_ros.twin.geometry import depth_stats
from frs_ros.twin.synthetic import random_twin, shape_mask

masks = st.integers(1, 24).flatmap(
    lambda h: st.integers(1, 24).flatmap(lambda w: arrays(np.bool_, (h, w)))
)


@given(masks)
def test_rle_round_trip(mask):
    enc = rle.encode(mask)
    assert json.loads(json.dumps(enc)) == enc  # JSON-safe
    assert np.array_equal(rle.decode(enc), mask)
    assert rle.area(enc) == int(mask.sum())


@given(masks)
def test_rle_bbox_matches_numpy(mask):
    box = rle.to_bbox(rle.encode(mask))
    if not mask.any():
        assert box == (0.0, 0.0, 0.0, 0.0)
        return
    ys, xs = np.nonzero(mask)
    assert box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_rle_decodes_uncompressed_counts():
    # Public datasets (e.g. MeViS) ship list counts; column-major runs: 2 off, 3 on, 1 off.
    mask = rle.decode({"size": [3, 2], "counts": [2, 3, 1]})
    assert mask.T.reshape(-1).tolist() == [False, False, True, True, True, False]


def test_rle_merge_and_intersection():
    a = np.zeros((10, 10), bool)
    a[:, :6] = True
    b = np.zeros((10, 10), bool)
    b[:, 4:] = True
    ra, rb = rle.encode(a), rle.encode(b)
    assert rle.intersection_area(ra, rb) == 20
    assert np.array_equal(rle.decode(rle.merge([ra, rb], (10, 10))), a | b)
    assert not rle.decode(rle.merge([], (4, 5))).any()


@pytest.mark.parametrize(
    "bad, err",
    [
        (np.zeros((4, 4, 3), bool), ValueError),  # not 2-D
        (np.zeros((4, 4), np.float32), TypeError),  # float dtype
        (np.full((4, 4), 2, np.uint8), ValueError),  # not 0/1
        ([[0, 1]], TypeError),  # not an array
    ],
)
def test_rle_rejects_bad_masks(bad, err):
    with pytest.raises(err):
        rle.encode(bad)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 4), st.integers(0, 10_000), st.booleans())
def test_twin_json_round_trip_is_lossless(n_objects, n_frames, seed, metric):
    twin = random_twin(n_objects, n_frames, size=(48, 64), seed=seed, metric_depth=metric)
    back = Twin.from_json(twin.to_json())
    assert back == twin
    assert back.to_json() == twin.to_json()


def test_from_mask_derives_fields():
    mask = np.zeros((40, 60), bool)
    mask[10:20, 30:50] = True  # 10 x 20 block
    depth = np.full((40, 60), 2.0, np.float32)
    depth[10, 30] = np.nan  # one missing pixel
    depth[11, 30] = 0.0  # sensor "no return"
    k = CameraIntrinsics(fx=100.0, fy=100.0, cx=30.0, cy=20.0)
    obj = TwinObject.from_mask(
        7, "mug", 0.9, mask, depth=depth, depth_source="metric", intrinsics=k
    )
    assert obj.area == 200 and obj.area_ratio == pytest.approx(200 / 2400)
    assert obj.bbox == (30.0, 10.0, 50.0, 20.0)
    assert obj.centroid == pytest.approx((39.5, 14.5))
    assert obj.depth.mean == 2.0 and obj.depth.var == 0.0
    assert obj.depth.valid_ratio == pytest.approx(198 / 200)
    # back-projection of the centroid at the median depth 2 m
    assert obj.centroid_3d == pytest.approx(((39.5 - 30) * 2 / 100, (14.5 - 20) * 2 / 100, 2.0))
    assert np.array_equal(obj.decode_mask(), mask)


def test_depth_stats_values_and_nan_handling():
    mask = np.ones((2, 3), bool)
    depth = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, np.inf]])
    s = depth_stats(mask, depth, "metric")
    assert (s.mean, s.median, s.min, s.max) == (2.5, 2.5, 1.0, 4.0)
    assert s.var == pytest.approx(1.25)
    assert s.valid_ratio == pytest.approx(4 / 6)
    # relative depth keeps a legitimate 0 (nearest point); metric treats 0 as missing
    rel = depth_stats(mask, np.zeros((2, 3)), "relative")
    assert rel.mean == 0.0
    assert depth_stats(mask, np.zeros((2, 3)), "metric") is None


def test_all_nan_depth_gives_no_stats_and_no_3d():
    mask = np.ones((5, 5), bool)
    obj = TwinObject.from_mask(
        1,
        "box",
        0.5,
        mask,
        depth=np.full((5, 5), np.nan),
        depth_source="metric",
        intrinsics=CameraIntrinsics(1, 1, 0, 0),
    )
    assert obj.depth is None and obj.centroid_3d is None


def test_relative_depth_never_gives_3d_centroid():
    mask = np.ones((5, 5), bool)
    obj = TwinObject.from_mask(
        1, "box", 0.5, mask, depth=np.full((5, 5), 0.3), intrinsics=CameraIntrinsics(1, 1, 0, 0)
    )
    assert obj.depth.source == "relative" and obj.centroid_3d is None


def test_depth_of_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match="does not match"):
        TwinObject.from_mask(1, "a", 0.5, np.ones((4, 4), bool), depth=np.ones((5, 4)))


def test_empty_mask_is_rejected():
    with pytest.raises(ValueError, match="empty mask"):
        TwinObject.from_mask(3, "ghost", 0.5, np.zeros((4, 4), bool))


def test_boxes_outside_the_image():
    assert clip_bbox((-5, -5, 10, 10), (20, 30)) == (0.0, 0.0, 10.0, 10.0)
    assert clip_bbox((25, 15, 40, 40), (20, 30)) == (25.0, 15.0, 30.0, 20.0)
    with pytest.raises(ValueError, match="outside"):
        clip_bbox((31, 0, 40, 10), (20, 30))
    with pytest.raises(ValueError, match="x_min"):
        clip_bbox((10, 0, 5, 10), (20, 30))
    with pytest.raises(ValueError, match="NaN"):
        clip_bbox((math.nan, 0, 5, 10), (20, 30))
    obj = TwinObject.from_mask(1, "a", 0.5, np.ones((20, 30), bool), bbox=(-5, -5, 100, 100))
    assert obj.bbox == (0.0, 0.0, 30.0, 20.0)


def test_invalid_fields_are_rejected():
    mask = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="score"):
        TwinObject.from_mask(1, "a", 1.5, mask)
    with pytest.raises(ValueError, match="level"):
        TwinObject.from_mask(1, "a", 0.5, mask, level="scene")
    with pytest.raises(ValueError, match="depth source"):
        TwinObject.from_mask(1, "a", 0.5, mask, depth=np.ones((4, 4)), depth_source="mm")


def test_frame_checks_sizes_and_duplicate_ids():
    a = TwinObject.from_mask(1, "a", 0.5, np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="frame is 5x4"):
        FrameTwin(index=0, stamp=0.0, width=5, height=4, objects=[a])
    with pytest.raises(ValueError, match="duplicate"):
        FrameTwin(index=0, stamp=0.0, width=4, height=4, objects=[a, a])
    with pytest.raises(ValueError, match="positive"):
        FrameTwin(index=0, stamp=0.0, width=0, height=4)


def test_unknown_ids_raise_a_clear_error():
    twin = random_twin(3, 2, size=(32, 32), seed=1)
    with pytest.raises(UnknownObjectError, match="object 99 is not in frame 0"):
        twin.frames[0].object(99)
    with pytest.raises(UnknownObjectError, match="not in the twin"):
        twin.track(99)


def test_tracks_follow_ids_across_frames():
    twin = random_twin(4, 5, size=(64, 64), seed=3)
    tracks = twin.tracks()
    assert set(tracks) == set(twin.ids)
    for obj_id, track in tracks.items():
        assert [f.index for f, _ in track] == sorted(f.index for f, _ in track)
        assert all(o.id == obj_id for _, o in track)


def test_frames_must_be_ordered():
    f0 = FrameTwin(index=0, stamp=0.0, width=4, height=4)
    f1 = FrameTwin(index=1, stamp=0.1, width=4, height=4)
    with pytest.raises(ValueError, match="increasing"):
        Twin(frames=[f1, f0])


def test_unsupported_schema_is_rejected():
    with pytest.raises(ValueError, match="schema"):
        Twin.from_dict({"schema": 99, "frames": []})


def test_shape_mask_kinds():
    rect = shape_mask((20, 20), (10, 10), (3, 2), "rect")
    assert rect.sum() == 7 * 5
    ell = shape_mask((20, 20), (10, 10), (3, 3), "ellipse")
    assert ell[10, 10] and not ell[0, 0] and ell.sum() < 49


def test_importing_the_twin_model_does_not_import_torch():
    code = "import sys, frs_ros.twin, frs_ros.twin.synthetic; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
