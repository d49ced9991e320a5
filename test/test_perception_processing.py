"""Pre/post-processing against the transformers processors and the documented parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frs_ros.perception import processing as P


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("hw", [(37, 53), (64, 40), (48, 48)])
def test_owlv2_preprocess_matches_transformers_pil_processor(hw):
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

    rgb = _rgb(*hw)
    ref = Owlv2ImageProcessorPil(size={"height": 32, "width": 32})(images=rgb, return_tensors="np")
    ours = P.owlv2_preprocess(rgb, 32)
    assert ours.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(ours, ref["pixel_values"], atol=1e-4)


@pytest.mark.parametrize("hw", [(37, 53), (120, 70), (518, 700)])
def test_depth_preprocess_matches_dpt_pil_processor(hw):
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    # Parameters of depth-anything/Depth-Anything-V2-Small-hf's preprocessor_config.json.
    proc = DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        image_mean=list(P.IMAGENET_MEAN),
        image_std=list(P.IMAGENET_STD),
    )
    rgb = _rgb(*hw, seed=1)
    ref = proc(images=rgb, return_tensors="np")["pixel_values"]
    ours = P.depth_preprocess(rgb, 56)
    assert ours.shape == ref.shape
    assert ours.shape[2] % 14 == 0 and ours.shape[3] % 14 == 0
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_sam2_preprocess_documented_parameters():
    rgb = np.zeros((30, 50, 3), np.uint8)
    rgb[..., 0] = 255
    x = P.sam2_preprocess(rgb, 64)
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    expected = (np.array([1.0, 0.0, 0.0]) - P.IMAGENET_MEAN) / P.IMAGENET_STD
    np.testing.assert_allclose(x[0, :, 10, 10], expected, atol=1e-5)


def test_sam2_coordinates_scale_per_axis():
    pts = P.sam2_scale_xy(np.array([[50.0, 30.0], [0.0, 0.0]]), (30, 50), 128)
    np.testing.assert_allclose(pts, [[128.0, 128.0], [0.0, 0.0]])
    box = P.sam2_scale_xy(np.array([10.0, 15.0, 25.0, 30.0]), (30, 50), 100)
    np.testing.assert_allclose(box, [20.0, 50.0, 50.0, 100.0])


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 20),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 99),
)
def test_resize_bilinear_equals_torch_interpolate(h, w, oh, ow, seed):
    x = np.random.default_rng(seed).normal(size=(2, 3, h, w)).astype(np.float32)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(x), (oh, ow), mode="bilinear", align_corners=False
    ).numpy()
    np.testing.assert_allclose(P.resize_bilinear(x, (oh, ow)), ref, atol=1e-5)


def test_sam2_masks_threshold_logits_at_zero():
    logits = np.full((1, 1, 8, 8), -5.0, np.float32)
    logits[..., :4] = 5.0
    m = P.sam2_masks(logits, (16, 32))
    assert m.shape == (1, 1, 16, 32) and m.dtype == bool
    assert m[0, 0, :, :15].all() and not m[0, 0, :, 17:].any()


def test_owlv2_detections_decode_threshold_and_per_label_nms():
    # Two overlapping boxes of label 0, one of label 1 at the same place, one low score.
    logits = np.array([[[3.0, -9], [2.0, -9], [-9, 1.0], [-4.0, -9]]], np.float32)
    boxes = np.array(
        [
            [
                [0.25, 0.25, 0.2, 0.2],
                [0.26, 0.25, 0.2, 0.2],
                [0.25, 0.25, 0.2, 0.2],
                [0.7, 0.7, 0.1, 0.1],
            ]
        ],
        np.float32,
    )
    det = P.owlv2_detections(logits, boxes, (100, 200), score_threshold=0.1, nms_iou=0.5)
    assert sorted(det.labels.tolist()) == [0, 1]
    assert det.scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    # cxcywh of the padded 200x200 square → pixels.
    np.testing.assert_allclose(det.boxes[0], [30.0, 30.0, 70.0, 70.0], atol=1e-4)
    assert (np.diff(det.scores) <= 0).all()


def test_owlv2_detections_clip_to_image_and_drop_padding_boxes():
    logits = np.array([[[5.0], [5.0]]], np.float32)
    boxes = np.array([[[0.5, 0.9, 0.4, 0.1], [0.5, 0.3, 0.4, 0.2]]], np.float32)
    det = P.owlv2_detections(logits, boxes, (50, 100), score_threshold=0.1, nms_iou=0.5)
    # The first box lies in the padding below the 50-pixel-high image: dropped.
    assert len(det) == 1
    assert (det.boxes[:, [1, 3]] <= 50).all()


def test_nms_keeps_best_and_disjoint():
    b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    keep = P.nms(b, np.array([0.5, 0.9, 0.3]), 0.5)
    assert keep.tolist() == [1, 2]


def test_relative_depth_flips_inverse_depth_to_zero_one():
    inv = np.array([[[4.0, 2.0], [1.0, 0.0]]], np.float32)  # larger = nearer
    d = P.relative_depth(inv, (2, 2))
    np.testing.assert_allclose(d, [[0.0, 0.5], [0.75, 1.0]])
    assert np.isnan(P.relative_depth(np.full((1, 2, 2), np.nan), (4, 4))).all()
    assert (P.relative_depth(np.ones((1, 3, 3)), (3, 3)) == 0).all()


def test_depth_input_hw_is_multiple_of_14_and_keeps_aspect():
    assert P.depth_input_hw((480, 640), 518) == (518, 686)
    h, w = P.depth_input_hw((10, 1000), 518)
    assert h % 14 == 0 and w % 14 == 0 and h >= 14
