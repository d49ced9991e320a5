"""onnxruntime cores vs torch cores on the tiny profile, through the core protocols.

Tolerances (max |ort - torch| <= atol + rtol * |torch|, atol relative to the output's
scale because random tiny weights give outputs of very different magnitudes):

    SAM 2 encoder embeddings      rtol 1e-4, atol 1e-4 x max|torch|
    SAM 2 mask logits / IoU       rtol 1e-4, atol 1e-4 x max|torch|
    OWLv2 logits / boxes          rtol 1e-4, atol 1e-4 x max|torch|
    Depth Anything depth          rtol 1e-4, atol 1e-4 x max|torch|

(float32 on both sides; observed differences are 1e-7 to 1e-5 relative.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frs_ros.perception.config import load_perception_config
from frs_ros.perception.models import load_profile
from frs_ros.perception.onnx.export import main as export_main
from frs_ros.perception.onnx.manifest import GRAPHS, MANIFEST, OPSET
from frs_ros.perception.onnx.runtime import (
    OnnxCores,
    load_onnx_cores,
    providers_for,
    sam2_prompt_points,
)
from frs_ros.perception.pipeline import PerceptionPipeline
from frs_ros.perception.processing import depth_input_hw
from frs_ros.perception.torch_cores import TorchDepthCore, TorchOwlv2Core, TorchSam2Core

pytestmark = pytest.mark.slow  # module fixtures build models or export graphs

FRAME_HW = (60, 80)  # camera frames of the pipeline test; the depth graph is fixed-shape
RTOL = 1e-4
ATOL_FRACTION = 1e-4


def assert_parity(ort_out: np.ndarray, torch_out: np.ndarray) -> None:
    assert ort_out.shape == torch_out.shape
    scale = float(np.abs(torch_out).max())
    assert scale > 0, "reference is all zeros: the comparison would prove nothing"
    np.testing.assert_allclose(ort_out, torch_out, rtol=RTOL, atol=ATOL_FRACTION * scale)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("onnx_tiny")
    args = ["--models", "tiny", "--out", str(out), "--frame-size", f"{FRAME_HW[0]}x{FRAME_HW[1]}"]
    assert export_main(args) == 0
    return out


@pytest.fixture(scope="module")
def ort_cores(export_dir) -> OnnxCores:
    return load_onnx_cores(export_dir, providers_for("cpu"))


@pytest.fixture(scope="module")
def torch_cores():
    profile = load_profile("tiny")
    owlv2, tokenizer = TorchOwlv2Core.from_profile(profile)
    return (
        TorchSam2Core.from_profile(profile),
        owlv2,
        tokenizer,
        TorchDepthCore.from_profile(profile),
    )


@pytest.fixture(scope="module")
def embeddings(ort_cores, torch_cores):
    sam2 = torch_cores[0]
    x = np.random.default_rng(0).standard_normal((1, 3, sam2.image_size, sam2.image_size))
    x = x.astype(np.float32)
    return ort_cores.sam2.encode(x), sam2.encode(x)


def test_manifest_lists_every_graph_with_signatures(export_dir) -> None:
    manifest = json.loads((export_dir / MANIFEST).read_text())
    assert manifest["opset"] == OPSET
    assert set(manifest["graphs"]) == set(GRAPHS)
    for entry in manifest["graphs"].values():
        assert (export_dir / entry["file"]).is_file()
        assert len(entry["sha256"]) == 64
    decoder_inputs = {i["name"]: i for i in manifest["graphs"]["sam2_decoder_multi"]["inputs"]}
    assert decoder_inputs["points"]["shape"] == [1, "num_prompts", "points_per_prompt", 2]
    assert decoder_inputs["labels"]["dtype"] == "int64"
    owl_inputs = {i["name"]: i for i in manifest["graphs"]["owlv2"]["inputs"]}
    assert owl_inputs["input_ids"]["shape"] == ["num_queries", "query_length"]


def test_sam2_encoder_parity(embeddings) -> None:
    ort_emb, torch_emb = embeddings
    assert len(ort_emb) == len(torch_emb) == 3
    for a, b in zip(ort_emb, torch_emb, strict=True):
        assert_parity(a, b)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(1, 4),
    p=st.integers(0, 3),
    with_boxes=st.booleans(),
    multimask=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_sam2_decoder_parity(
    ort_cores, torch_cores, embeddings, n, p, with_boxes, multimask, seed
) -> None:
    """Any mix of point and box prompts, any prompt count (dynamic axes), both graphs."""
    if p == 0 and not with_boxes:
        p = 1
    ort_emb, torch_emb = embeddings
    size = ort_cores.sam2.image_size
    rng = np.random.default_rng(seed)
    points = labels = boxes = None
    if p:
        points = (rng.random((1, n, p, 2)) * size).astype(np.float32)
        labels = rng.integers(0, 2, (1, n, p))
    if with_boxes:
        corners = np.sort(rng.random((1, n, 2, 2)) * size, axis=2)
        boxes = corners.reshape(1, n, 4).astype(np.float32)
    ort_masks, ort_iou = ort_cores.sam2.decode(ort_emb, points, labels, boxes, multimask)
    torch_masks, torch_iou = torch_cores[0].decode(torch_emb, points, labels, boxes, multimask)
    m = 3 if multimask else 1
    assert ort_masks.shape[:3] == (1, n, m)
    assert ort_iou.shape == (1, n, m)
    assert_parity(ort_masks, torch_masks)
    assert_parity(ort_iou, torch_iou)


def test_sam2_single_mask_graph_applies_the_stability_fallback(ort_cores, embeddings) -> None:
    """multimask=False is not just the first of the 3 masks: SAM 2 returns its own
    single-mask token (or, when that is unstable, the best of the 3)."""
    ort_emb, _ = embeddings
    points = np.array([[[[20.0, 30.0]], [[90.0, 100.0]]]], np.float32)
    labels = np.ones((1, 2, 1), np.int64)
    single, _ = ort_cores.sam2.decode(ort_emb, points, labels, None, multimask=False)
    multi, _ = ort_cores.sam2.decode(ort_emb, points, labels, None, multimask=True)
    assert not np.allclose(single[:, :, 0], multi[:, :, 0])


@pytest.mark.parametrize("queries", [["a photo of a cat"], ["red cup", "robot arm", "dog"]])
def test_owlv2_parity(ort_cores, torch_cores, queries) -> None:
    _, owlv2, tokenizer, _ = torch_cores
    text = tokenizer(queries, padding="longest", return_tensors="np")
    x = np.random.default_rng(1).standard_normal((1, 3, owlv2.image_size, owlv2.image_size))
    x = x.astype(np.float32)
    args = (x, text["input_ids"], text["attention_mask"])
    ort_logits, ort_boxes = ort_cores.owlv2.detect(*args)
    torch_logits, torch_boxes = owlv2.detect(*args)
    assert ort_logits.shape[2] == len(queries)
    assert_parity(ort_logits, torch_logits)
    assert_parity(ort_boxes, torch_boxes)


def test_depth_parity(ort_cores, torch_cores) -> None:
    hw = ort_cores.depth.input_hw
    assert hw == depth_input_hw(FRAME_HW, torch_cores[3].input_size)
    assert hw[0] != hw[1] and hw[0] % 14 == hw[1] % 14 == 0
    x = np.random.default_rng(2).standard_normal((1, 3, *hw)).astype(np.float32)
    out = ort_cores.depth.predict(x)
    assert out.shape == (1, *hw)
    assert_parity(out, torch_cores[3].predict(x))


def test_pipeline_runs_on_onnxruntime_cores(ort_cores, torch_cores) -> None:
    """The onnxruntime cores drop into the pipeline (real frames, real tokenizer)."""
    tokenizer = torch_cores[2]
    config = load_perception_config().with_overrides(tracking={"redetect_every": 1})
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (*FRAME_HW, 3), dtype=np.uint8) for _ in range(2)]
    twins = []
    for sam2, owlv2, depth in (
        (ort_cores.sam2, ort_cores.owlv2, ort_cores.depth),
        (torch_cores[0], torch_cores[1], torch_cores[3]),
    ):
        pipe = PerceptionPipeline(sam2, owlv2, tokenizer, depth, config)
        twins.append(pipe.process_video(frames, progress=False))
    ort_twin, torch_twin = twins
    assert len(ort_twin.frames) == 2
    for a, b in zip(ort_twin.frames, torch_twin.frames, strict=True):
        # Random tiny weights put many scores and mask logits at decision thresholds,
        # so 1e-6 differences can flip later detections; the confident one must agree.
        best_a = max(a.objects, key=lambda o: o.score)
        best_b = max(b.objects, key=lambda o: o.score)
        assert best_a.label == best_b.label
        assert abs(best_a.score - best_b.score) < 1e-3


def test_boxes_become_labelled_corners_after_points() -> None:
    points = np.zeros((1, 2, 1, 2), np.float32)
    boxes = np.array([[[1, 2, 3, 4], [5, 6, 7, 8]]], np.float32)
    pts, lbl = sam2_prompt_points(points, np.ones((1, 2, 1)), boxes)
    assert pts.shape == (1, 2, 3, 2) and lbl.dtype == np.int64
    np.testing.assert_array_equal(pts[0, 1, 1:], [[5, 6], [7, 8]])
    np.testing.assert_array_equal(lbl[0, 0], [1, 2, 3])


@pytest.mark.parametrize(
    ("points", "labels", "boxes", "match"),
    [
        (None, None, None, "needs point prompts"),
        (np.zeros((1, 2, 1, 2)), None, None, "need labels"),
        (np.zeros((2, 1, 2)), np.ones((2, 1)), None, r"\[1, N, P, 2\]"),
        (np.zeros((1, 2, 1, 2)), np.ones((1, 2, 1)), np.zeros((1, 3, 4)), "same number"),
        (None, None, np.zeros((1, 2, 2)), r"\[1, N, 4\]"),
    ],
)
def test_bad_prompts_are_rejected_clearly(points, labels, boxes, match) -> None:
    with pytest.raises(ValueError, match=match):
        sam2_prompt_points(points, labels, boxes)


def test_cores_reject_wrong_input_sizes(ort_cores) -> None:
    with pytest.raises(ValueError, match="SAM 2 pixel_values"):
        ort_cores.sam2.encode(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="--frame-size"):
        ort_cores.depth.predict(np.zeros((1, 3, 14, 14), np.float32))
    size = ort_cores.owlv2.image_size
    with pytest.raises(ValueError, match=r"\[Q, L\]"):
        ort_cores.owlv2.detect(
            np.zeros((1, 3, size, size), np.float32), np.zeros((2, 16)), np.zeros((2, 8))
        )
