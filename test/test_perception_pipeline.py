"""The whole perception path: tiny random-weight models (invariants) and scripted cores
(exact tracking behaviour on a rendered video of moving shapes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from frs_ros.perception import PerceptionPipeline, load_perception_config, load_profile
from frs_ros.perception.models import ModelUnavailableError, load_sam2
from frs_ros.twin.geometry import CameraIntrinsics
from frs_ros.twin.model import FrameTwin, Twin

H, W = 48, 64


def render(t: int, shapes: list[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Bright squares (x, y, half-size) on black, moving 2 px right per frame."""
    rgb = np.zeros((H, W, 3), np.uint8)
    for x, y, r in shapes or [(12, 12, 5), (40, 30, 6)]:
        cx = x + 2 * t
        rgb[max(y - r, 0) : y + r, max(cx - r, 0) : cx + r] = 220
    return rgb


def _check_frame(frame: FrameTwin, depth_range: tuple[float, float] | None) -> None:
    assert (frame.width, frame.height) == (W, H)
    for o in frame.objects:
        m = o.decode_mask()
        assert m.shape == (H, W) and o.area == int(m.sum()) > 0
        ys, xs = np.nonzero(m)
        x0, y0, x1, y1 = o.bbox
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
        assert 0.0 <= o.score <= 1.0 and o.area_ratio == pytest.approx(o.area / (H * W))
        if depth_range is not None and o.depth is not None:
            lo, hi = depth_range
            assert lo <= o.depth.min <= o.depth.median <= o.depth.max <= hi
    assert FrameTwin.from_dict(json.loads(json.dumps(frame.to_dict()))) == frame


# --------------------------------------------------------------------------- tiny models

TEST_CONFIG = load_perception_config().with_overrides(
    detection={"score_threshold": 0.0, "max_detections": 4},
    proposals={"points_per_side": 3, "pred_iou_threshold": -1.0, "min_area": 1},
    tracking={"keep_iou": -1.0, "redetect_every": 2, "max_lost": 1},
)


@pytest.fixture(scope="module")
def tiny() -> PerceptionPipeline:
    return PerceptionPipeline.from_profile("tiny", TEST_CONFIG)


def test_tiny_image_to_twin_with_relative_depth(tiny):
    tiny.reset()
    frame = tiny.process_frame(render(0), stamp=1.5, extra_labels=["red mug"])
    assert frame.index == 0 and frame.stamp == 1.5 and frame.objects
    assert all(o.depth is not None and o.depth.source == "relative" for o in frame.objects)
    _check_frame(frame, (0.0, 1.0))
    labels = tiny.labels(["red mug", "chair", " "])
    assert labels[-1] == "red mug" and labels.count("chair") == 1


def test_tiny_metric_depth_gives_3d_centroids_and_all_nan_depth_gives_none(tiny):
    tiny.reset()
    depth = np.full((H, W), 2000, np.uint16)
    depth[:, W // 2 :] = 3000
    intr = CameraIntrinsics(fx=50, fy=50, cx=W / 2, cy=H / 2)
    frame = tiny.process_frame(render(0), depth=depth, intrinsics=intr)
    _check_frame(frame, (2.0, 3.0))
    assert all(o.depth.source == "metric" and o.centroid_3d is not None for o in frame.objects)
    tiny.reset()
    frame = tiny.process_frame(render(0), depth=np.full((H, W), np.nan, np.float32))
    assert frame.objects and all(o.depth is None for o in frame.objects)


@pytest.mark.slow
def test_tiny_video_ids_persist_and_indices_increase(tiny):
    twin = tiny.process_video([render(t) for t in range(4)], fps=10.0, progress=False)
    assert [f.index for f in twin] == [0, 1, 2, 3]
    assert [f.stamp for f in twin] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    for f in twin:
        _check_frame(f, (0.0, 1.0))
    # Frame 1 is not a detection frame: every object in it is a propagated track of frame 0.
    assert twin.frames[1].ids and set(twin.frames[1].ids) <= set(twin.frames[0].ids)
    assert Twin.from_json(twin.to_json()).to_dict() == twin.to_dict()


def test_tiny_bad_frames_raise_clear_errors(tiny):
    with pytest.raises(ValueError, match="empty"):
        tiny.process_frame(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="aspect"):
        tiny.process_frame(render(0), depth=np.ones((10, 10), np.float32))


def test_missing_weights_error_names_model_and_remedy(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=r"(?s)SAM 2\.1.*huggingface-cli download"):
        load_sam2(load_profile("default"))


# --------------------------------------------------------------------------- scripted cores


class ShapeSam2:
    """Scripted SAM-2: a box prompt segments the bright pixels within the box grown by 4 px."""

    image_size = 64  # test frames are resized 64x48 → 64x64 (x scale 1, y scale 4/3)

    def encode(self, pixel_values):
        self.bright = pixel_values[0, 0] > 0
        return [pixel_values]

    def decode(self, embeddings, points, labels, boxes, multimask):
        assert boxes is not None and points is None
        s = self.image_size
        logits = np.full((1, boxes.shape[1], 1, s, s), -10.0, np.float32)
        for i, (x0, y0, x1, y1) in enumerate(boxes[0]):
            win = np.zeros((s, s), bool)
            win[max(int(y0) - 4, 0) : int(y1) + 4, max(int(x0) - 4, 0) : int(x1) + 4] = True
            logits[0, i, 0][win & self.bright] = 10.0
        return logits, np.ones((1, boxes.shape[1], 1), np.float32)


class ShapeOwlv2:
    """Scripted detector: one box per bright connected component, label 0."""

    image_size = 64

    def detect(self, pixel_values, input_ids, attention_mask):
        comps, n = ndimage.label(pixel_values[0, 0] > 0)
        boxes = [
            [
                (sl[1].start + sl[1].stop) / 2,
                (sl[0].start + sl[0].stop) / 2,
                sl[1].stop - sl[1].start,
                sl[0].stop - sl[0].start,
            ]
            for sl in ndimage.find_objects(comps)
        ]
        logits = np.full((1, n, len(input_ids)), -10.0, np.float32)
        logits[..., 0] = 5.0
        return logits, np.array([boxes], np.float32).reshape(1, n, 4) / self.image_size


class Tok:
    def __call__(self, labels, **kw):
        return {
            "input_ids": np.ones((len(labels), 16), np.int64),
            "attention_mask": np.ones((len(labels), 16), np.int64),
        }


def scripted(redetect_every: int, max_lost: int) -> PerceptionPipeline:
    cfg = load_perception_config().with_overrides(
        proposals={"enabled": False},
        tracking={"redetect_every": redetect_every, "max_lost": max_lost, "keep_iou": 0.5},
    )
    return PerceptionPipeline(ShapeSam2(), ShapeOwlv2(), Tok(), None, cfg)


def test_scripted_tracker_keeps_ids_of_moving_shapes():
    twin = scripted(3, 1).process_video([render(t) for t in range(7)], progress=False)
    assert all(f.ids == [1, 2] for f in twin)
    xs = [f.object(1).centroid[0] for f in twin]
    assert np.diff(xs) == pytest.approx([2.0] * 6)  # the track follows its shape
    assert all(o.depth is None for f in twin for o in f.objects)


def test_scripted_tracker_adds_new_objects_and_retires_lost_ones():
    pipe = scripted(1, 1)
    shapes_a = [(12, 12, 5), (40, 30, 6)]
    shapes_b = [(40, 30, 6), (12, 38, 4)]  # first square gone, a new one appears
    ids = [pipe.process_frame(render(0, shapes_a)).ids]
    ids += [pipe.process_frame(render(0, shapes_b)).ids for _ in range(3)]
    assert ids[0] == [1, 2]
    assert ids[1] == [2, 3]  # new id for the new square, id 1 not seen
    assert 1 not in pipe.tracker.tracks  # retired after max_lost frames
    pipe.reset()
    assert pipe.process_frame(render(0, shapes_a)).ids == [1, 2]
