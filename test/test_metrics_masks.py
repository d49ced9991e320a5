"""Per-sample metrics: J, DAVIS boundary F, cIoU counts, video means, robustness R."""

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from frs_ros.metrics import (
    boundary_f,
    boundary_map,
    boundary_precision_recall,
    boundary_tolerance,
    iou_counts,
    j_and_f,
    region_similarity,
    robustness,
    video_boundary_f,
    video_region_similarity,
)
from frs_ros.metrics.masks import _dilate

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
masks = shapes.flatmap(lambda s: arrays(np.bool_, s))
mask_pairs = shapes.flatmap(lambda s: st.tuples(arrays(np.bool_, s), arrays(np.bool_, s)))


def square(size: tuple[int, int], top: int = 150, left: int = 150, side: int = 100) -> np.ndarray:
    m = np.zeros(size, bool)
    m[top : top + side, left : left + side] = True
    return m


def test_import_does_not_pull_torch_or_matplotlib():
    code = "import sys, frs_ros.metrics; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- properties


@given(masks)
def test_j_and_f_of_a_mask_with_itself_is_one(m):
    assert region_similarity(m, m) == 1.0
    assert boundary_f(m, m) == 1.0


@given(mask_pairs)
def test_j_symmetric_and_in_unit_interval(pair):
    p, g = pair
    j = region_similarity(p, g)
    assert j == region_similarity(g, p)
    assert 0.0 <= j <= 1.0


@given(mask_pairs)
def test_f_symmetric_and_in_unit_interval(pair):
    p, g = pair
    f = boundary_f(p, g)
    assert f == pytest.approx(boundary_f(g, p), abs=1e-12)
    assert 0.0 <= f <= 1.0
    assert 0.0 <= j_and_f(region_similarity(p, g), f) <= 1.0


@given(mask_pairs, st.integers(1, 4))
@settings(max_examples=60)
def test_precision_recall_match_brute_force_distances(pair, radius):
    # Independent reference: precision = share of predicted boundary pixels whose Euclidean
    # distance to some ground-truth boundary pixel is <= radius (and the converse for recall).
    p, g = pair
    if not p.any() or not g.any():
        return
    pb, gb = np.argwhere(boundary_map(p)), np.argwhere(boundary_map(g))
    if len(pb) == 0 or len(gb) == 0:
        return  # full-image masks: covered by their own test
    d2 = ((pb[:, None, :] - gb[None, :, :]) ** 2).sum(-1)
    expected_p = float((d2.min(axis=1) <= radius**2).mean())
    expected_r = float((d2.min(axis=0) <= radius**2).mean())
    assert boundary_precision_recall(p, g, bound_th=radius) == pytest.approx(
        (expected_p, expected_r)
    )


@given(arrays(np.bool_, (30, 40), elements=st.booleans()), st.integers(1, 6))
@settings(max_examples=40)
def test_distance_dilation_equals_disk_dilation(bmap, radius):
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = yy**2 + xx**2 <= radius**2
    np.testing.assert_array_equal(
        _dilate(bmap, radius), ndimage.binary_dilation(bmap, structure=disk)
    )


# --------------------------------------------------------------------------- worked values


def test_iou_counts_and_j_worked():
    p, g = np.zeros((4, 4), int), np.zeros((4, 4), int)
    p[0, :3] = 1  # 3 px
    g[0, 1:] = 1  # 3 px, overlap 2
    assert iou_counts(p, g) == (2, 4)
    assert region_similarity(p, g) == 0.5


def test_boundary_map_is_davis_seg2bmap():
    # seg2bmap marks pixels differing from their E, S or SE neighbour: the outline sits half a
    # pixel towards the origin, and the image border is never a boundary.
    m = np.zeros((5, 5), bool)
    m[1:3, 1:3] = True
    expected = np.array(
        [
            [1, 1, 1, 0, 0],
            [1, 0, 1, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        bool,
    )
    np.testing.assert_array_equal(boundary_map(m), expected)
    corner = np.zeros((4, 4), bool)
    corner[2:, 2:] = True
    expected_corner = np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 1, 0, 0], [0, 1, 0, 0]], bool)
    np.testing.assert_array_equal(boundary_map(corner), expected_corner)
    assert not boundary_map(np.ones((6, 7), bool)).any()


@pytest.mark.parametrize(
    ("shape", "bound_th", "expected"),
    [
        ((400, 400), 0.008, 5),  # diag 565.69 -> 4.53 -> 5
        ((480, 640), 0.008, 7),  # diag 800 -> 6.4 -> 7
        ((375, 500), 0.008, 5),  # diag 625 -> exactly 5.0 -> 5
        ((1080, 1920), 0.008, 18),  # diag 2202.9 -> 17.6 -> 18
        ((3, 4), 0.008, 1),  # never below one pixel
        ((400, 400), 3, 3),  # >= 1: already pixels, as in DAVIS
    ],
)
def test_boundary_tolerance(shape, bound_th, expected):
    assert boundary_tolerance(shape, bound_th) == expected


def shifted_square_f(shift: int, radius: int) -> float:
    """Hand derivation for a 100 px square vs the same square shifted right by ``shift``.

    Each seg2bmap outline is a 101 x 101 ring of 400 pixels (2 rows of 101 + 2 columns of 99).
    For shift > radius, of the shifted ring: its top and bottom rows lose the ``shift -
    radius`` pixels beyond the tolerance past the other ring's right side (101 - (shift -
    radius) matched each); its left column matches only the ``radius`` pixels at each end
    near the other ring's top/bottom rows (2 * radius); its right column matches nothing.
    The situation is mirror-symmetric, so precision = recall = F.
    """
    if shift <= radius:
        return 1.0
    return (2 * (101 - (shift - radius)) + 2 * radius) / 400


@pytest.mark.parametrize(
    ("shape", "shift", "expected"),
    [
        ((400, 400), 3, 1.0),  # tolerance 5: fully matched
        ((400, 400), 5, 1.0),  # exactly at the tolerance still matches
        ((400, 400), 6, 0.525),  # (2 * 100 + 10) / 400
        ((400, 400), 12, 0.495),  # (2 * 94 + 10) / 400
        ((480, 640), 7, 1.0),  # tolerance 7 on a 480 x 640 image
        ((480, 640), 8, 0.535),  # (2 * 100 + 14) / 400
    ],
)
def test_boundary_f_of_shifted_square(shape, shift, expected):
    gt = square(shape)
    pred = square(shape, left=150 + shift)
    assert shifted_square_f(shift, boundary_tolerance(shape)) == pytest.approx(expected)
    assert boundary_precision_recall(pred, gt) == pytest.approx((expected, expected))
    assert boundary_f(pred, gt) == pytest.approx(expected)
    # J for comparison: 100 x (100 - shift) overlap.
    inter = 100 * (100 - shift)
    assert region_similarity(pred, gt) == pytest.approx(inter / (20000 - inter))


def test_empty_mask_conventions():
    empty, full, sq = (
        np.zeros((50, 50), bool),
        np.ones((50, 50), bool),
        square((50, 50), 10, 10, 20),
    )
    assert region_similarity(empty, empty) == 1.0
    assert boundary_f(empty, empty) == 1.0
    for a, b in [(empty, sq), (sq, empty)]:
        assert region_similarity(a, b) == 0.0
        assert boundary_f(a, b) == 0.0
    # A full-image mask has no boundary (DAVIS); against empty it is still "one empty" -> 0,
    # where DAVIS would say 1 (documented deviation).
    assert boundary_f(full, empty) == 0.0
    assert boundary_f(full, full) == 1.0
    assert boundary_f(full, sq) == 0.0
    assert boundary_precision_recall(empty, sq) == (1.0, 0.0)
    assert boundary_precision_recall(sq, empty) == (0.0, 1.0)


def test_video_means_over_frames():
    gt = np.zeros((2, 20, 20), bool)
    gt[:, 5:15, 5:15] = True
    pred = gt.copy()
    pred[1, 5:15, 10:15] = False  # frame 1: half the object -> J = 0.5
    assert video_region_similarity(pred, gt) == pytest.approx(0.75)
    assert video_region_similarity(list(pred), list(gt)) == pytest.approx(0.75)
    f1 = boundary_f(pred[1], gt[1])
    assert 0.0 < f1 < 1.0
    assert video_boundary_f(pred, gt) == pytest.approx((1.0 + f1) / 2)


# --------------------------------------------------------------------------- robustness


def test_robustness_cases():
    assert robustness([0, 0], [100, 50]) == 1.0  # no false positives
    assert robustness([150], [100, 50]) == 0.0  # false-positive area == positive area
    assert robustness([400], [100]) == 0.0  # clamped at 0
    assert robustness([10, 20], [100, 200]) == pytest.approx(0.9)  # 1 - 30 / 300
    assert robustness([], [100]) == 1.0
    # No predicted foreground on positives: 1 if no false positive either, else 0.
    assert robustness([0], [0, 0]) == 1.0
    assert robustness([5], []) == 0.0


@pytest.mark.parametrize("bad", [[-1], [math.nan], [math.inf], [True]])
def test_robustness_rejects_bad_areas(bad):
    with pytest.raises((ValueError, TypeError), match="neg_pred_areas"):
        robustness(bad, [10])


# --------------------------------------------------------------------------- bad input


def test_bad_masks_raise_clear_errors():
    a = np.zeros((4, 4), bool)
    with pytest.raises(ValueError, match="shapes differ"):
        region_similarity(a, np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match="2-D"):
        boundary_f(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool))
    with pytest.raises(ValueError, match="only 0 and 1"):
        region_similarity(np.full((4, 4), 0.7), a)
    with pytest.raises(ValueError, match="only 0 and 1"):
        boundary_f(a, np.full((4, 4), 2))
    with pytest.raises(TypeError, match="dtype"):
        iou_counts(np.full((4, 4), "x"), a)
    with pytest.raises(TypeError, match="dtype"):
        region_similarity(None, a)
    # Floats holding exactly 0/1 are fine.
    assert region_similarity(a.astype(float), a) == 1.0


def test_bad_videos_and_tolerance_raise_clear_errors():
    v = np.zeros((2, 4, 4), bool)
    with pytest.raises(ValueError, match="frames"):
        video_region_similarity(v, v[:1])
    with pytest.raises(ValueError, match="no frames"):
        video_boundary_f([], [])
    with pytest.raises(ValueError, match="T, H, W"):
        video_region_similarity(np.zeros((4, 4), bool), np.zeros((4, 4), bool))
    with pytest.raises(TypeError, match="sequence"):
        video_region_similarity(3, 3)
    with pytest.raises(ValueError, match="bound_th"):
        boundary_f(v[0], v[0] | True, bound_th=0)
