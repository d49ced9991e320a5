"""The ``cpu`` model profile: input sizes that reach the models, the keyframe policy, the
onnxruntime backend chosen by the profile, and clear errors for bad settings. Tiny
random-weight models only (nothing is downloaded); "real checkpoints" are tiny ones saved
to a directory and loaded through the released checkpoints' code path."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from frs_ros.perception import PerceptionPipeline, backends, load_perception_config, load_profile
from frs_ros.perception.config import TrackingConfig
from frs_ros.perception.models import ModelProfile, TinySizes, load_owlv2, load_sam2
from frs_ros.perception.tracker import BoxPromptTracker

pytestmark = pytest.mark.slow  # module fixtures build models or export graphs

TINY = load_profile("tiny")


def frame(i: int, hw: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (*hw, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- the profile


def test_cpu_profile_names_smaller_inputs_onnx_and_its_perception_config() -> None:
    cpu = load_profile("cpu")
    default = load_profile("default")
    assert cpu.backend == "onnx" and default.backend == "torch"
    assert (cpu.sam2, cpu.owlv2, cpu.depth) == (default.sam2, default.owlv2, default.depth)
    assert cpu.sam2_image_size < default.sam2_image_size == 1024
    assert cpu.owlv2_image_size < default.owlv2_image_size == 960
    assert cpu.depth_input_size < default.depth_input_size == 518
    config = load_perception_config(cpu.perception)
    base = load_perception_config(default.perception)
    assert config.tracking.redetect_every > base.tracking.redetect_every
    assert config.proposals.points_per_side < base.proposals.points_per_side
    assert not config.tracking.detect_when_empty and base.tracking.detect_when_empty
    assert config.depth_every > 1 == base.depth_every


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"sam2_image_size": 500}, "sam2_image_size must be a positive multiple of 32"),
        ({"owlv2_image_size": 470}, "owlv2_image_size must be a positive multiple of 16"),
        ({"depth_input_size": 250}, "depth_input_size must be a positive multiple of 14"),
        ({"sam2_image_size": "512"}, "multiple of 32, got '512'"),
        ({"owlv2_image_size": 0}, "the released checkpoint uses 960"),
        ({"backend": "tensorrt"}, r"backend must be one of \('torch', 'onnx'\)"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"threads": True}, "threads must be a positive integer"),
        ({"tiny_sizes": TinySizes(sam2_image_size=100)}, "tiny_sizes.sam2_image_size"),
    ],
)
def test_bad_sizes_and_backends_are_refused_naming_the_key(change, match) -> None:
    with pytest.raises(ValueError, match=match):
        ModelProfile(**change)


def test_a_bad_profile_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump({"sam2_image_size": 300, "backend": "onnx"}))
    with pytest.raises(ValueError, match=f"model profile {path}: sam2_image_size"):
        load_profile(path)
    path.write_text(yaml.safe_dump({"tiny_sizes": {"sam2_size": 64}}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['sam2_size'\] in tiny_sizes"):
        load_profile(path)
    # types are checked too, naming the key (a number where a hub id belongs, a string flag)
    path.write_text(yaml.safe_dump({"sam2": 5}))
    with pytest.raises(ValueError, match=f"model profile {path}: sam2"):
        load_profile(path)
    path.write_text(yaml.safe_dump({"tiny": "yes"}))
    with pytest.raises(ValueError, match=f"model profile {path}: tiny"):
        load_profile(path)


# --------------------------------------------------------------------------- sizes reach models


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny SAM 2 (128 px) and OWLv2 (64 px) saved like downloaded checkpoints."""
    root = tmp_path_factory.mktemp("checkpoints")
    load_sam2(TINY).save_pretrained(root / "sam2")
    owlv2, tokenizer = load_owlv2(TINY)
    owlv2.save_pretrained(root / "owlv2")
    tokenizer.save_pretrained(root / "owlv2")
    return {"sam2": root / "sam2", "owlv2": root / "owlv2"}


def test_sam2_checkpoint_loads_at_the_profile_size_with_its_weights(checkpoints) -> None:
    from frs_ros.perception.torch_cores import TorchSam2Core

    profile = ModelProfile(sam2=str(checkpoints["sam2"]), sam2_image_size=192)
    core = TorchSam2Core.from_profile(profile)
    saved = load_sam2(TINY).state_dict()
    for name, value in core.model.state_dict().items():
        assert np.array_equal(value.numpy(), saved[name].numpy()), name  # nothing re-initialised
    assert core.image_size == 192
    embeddings = core.encode(np.zeros((1, 3, 192, 192), np.float32))
    assert [e.shape[-1] for e in embeddings] == [48, 24, 12]  # strides 4, 8, 16
    boxes = np.array([[[10.0, 20.0, 90.0, 120.0]]], np.float32)
    masks, iou = core.decode(embeddings, None, None, boxes, multimask=False)
    assert masks.shape == (1, 1, 1, 48, 48) and iou.shape == (1, 1, 1)


def test_owlv2_runs_at_the_profile_size_on_torch_and_onnx(checkpoints, tmp_path) -> None:
    import torch

    from frs_ros.perception.onnx import runtime
    from frs_ros.perception.onnx.export import export_models
    from frs_ros.perception.torch_cores import TorchOwlv2Core

    profile = ModelProfile(owlv2=str(checkpoints["owlv2"]), owlv2_image_size=96)
    core, tokenizer = TorchOwlv2Core.from_profile(profile)
    assert core.image_size == 96 and core.interpolate
    enc = tokenizer(["cup", "red mug"], padding="max_length", max_length=16, return_tensors="np")
    pixels = np.random.default_rng(0).standard_normal((1, 3, 96, 96)).astype(np.float32)
    logits, boxes = core.detect(pixels, enc["input_ids"], enc["attention_mask"])
    assert logits.shape == (1, 36, 2) and boxes.shape == (1, 36, 4)  # a 6 x 6 patch grid
    # With the box head's output layer zeroed a box is its bias alone: centred on its cell
    # of the 6 x 6 grid of the 96 px input (the config's 64 px would give 4 x 4).
    with torch.no_grad():
        head = core.model.box_head.dense2
        saved = head.weight.clone(), head.bias.clone()
        head.weight.zero_(), head.bias.zero_()
        _, bias_only = core.detect(pixels, enc["input_ids"], enc["attention_mask"])
        head.weight.copy_(saved[0]), head.bias.copy_(saved[1])
    cells = (np.arange(6) + 1) / 6  # transformers' grid corner coordinates
    np.testing.assert_allclose(bias_only[0, :6, 0], np.minimum(cells, 0.9999), atol=1e-4)
    np.testing.assert_allclose(bias_only[0, ::6, 1], np.minimum(cells, 0.9999), atol=1e-4)

    export_models(tmp_path, owlv2=core.model, owlv2_image_size=96)
    ort_core = runtime.load_owlv2_core(runtime.OnnxExport.open(tmp_path), ["CPUExecutionProvider"])
    assert ort_core.image_size == 96
    ort_logits, ort_boxes = ort_core.detect(pixels, enc["input_ids"], enc["attention_mask"])
    np.testing.assert_allclose(ort_logits, logits, atol=1e-3)
    np.testing.assert_allclose(ort_boxes, boxes, atol=1e-4)


# --------------------------------------------------------------------------- keyframe policy


class CountingDetector:
    """Records the frame index of every detection the pipeline runs."""

    def __init__(self, pipe: PerceptionPipeline) -> None:
        self.pipe, self.inner, self.frames = pipe, pipe.detector, []
        self.labels: list[list[str]] = []

    def __call__(self, rgb, labels):
        self.frames.append(self.pipe._index)
        self.labels.append(list(labels))
        return self.inner(rgb, labels)


class CountingDepth:
    def __init__(self, core) -> None:
        self.core, self.input_size, self.calls = core, core.input_size, 0

    def predict(self, pixel_values):
        self.calls += 1
        return self.core.predict(pixel_values)


@pytest.fixture(scope="module")
def keyframed() -> PerceptionPipeline:
    config = load_perception_config("perception_cpu.yaml").with_overrides(
        tracking={"redetect_every": 3}, proposals={"enabled": False}
    )
    return PerceptionPipeline.from_profile("tiny", dataclasses.replace(config, depth_every=2))


def test_detection_runs_on_keyframes_and_when_a_query_brings_new_labels(keyframed) -> None:
    pipe = keyframed
    pipe.reset()
    counter = pipe.detector = CountingDetector(pipe)
    for i in range(7):
        pipe.process_frame(frame(i))
    assert counter.frames == [0, 3, 6]  # every 3rd frame, whatever is tracked
    pipe.process_frame(frame(7), extra_labels=["red mug"])  # a query asks for a new label
    for i in (8, 9):
        pipe.process_frame(frame(i), extra_labels=["red mug"])  # known now: no detection
    pipe.process_frame(frame(10), extra_labels=["red mug"])  # 3 frames after the last one
    pipe.process_frame(frame(11))  # fewer labels than detected: nothing new to look for
    assert counter.frames == [0, 3, 6, 7, 10]
    assert "red mug" in counter.labels[3] and "red mug" not in counter.labels[2]
    pipe.reset()  # a new stream detects on its first frame again
    pipe.process_frame(frame(12), extra_labels=["red mug"])
    assert counter.frames[-1] == 0 and len(counter.frames) == 6


def test_an_empty_scene_waits_for_the_next_keyframe_unless_configured() -> None:
    for when_empty, expected in ((False, [True, False, False, True]), (True, [True] * 4)):
        tracker = BoxPromptTracker(TrackingConfig(redetect_every=3, detect_when_empty=when_empty))
        seen = []
        for _ in range(4):
            seen.append(tracker.needs_detection())
            tracker.step(None, [] if seen[-1] else None)  # nothing found, nothing tracked
        assert seen == expected


def test_depth_anything_runs_every_depth_every_frames(keyframed) -> None:
    pipe = keyframed
    pipe.reset()
    pipe.depth = counter = CountingDepth(pipe.depth)
    for i in range(5):
        pipe.process_frame(frame(i))
    assert counter.calls == 3  # frames 0, 2, 4
    pipe.process_frame(frame(5, hw=(40, 64)))  # another frame size: a new map at once
    assert counter.calls == 4


# --------------------------------------------------------------------------- onnx backend


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx") / "cpu"


def test_from_profile_runs_the_onnx_backend_the_profile_names(onnx_dir, monkeypatch) -> None:
    from frs_ros.perception.onnx.runtime import OrtOwlv2Core, OrtSam2Core

    profile = dataclasses.replace(load_profile("cpu"), tiny=True, onnx_dir=str(onnx_dir))
    pipe = PerceptionPipeline.from_profile(profile)  # exported on first use
    assert isinstance(pipe.segmenter.core, OrtSam2Core)
    assert isinstance(pipe.detector.core, OrtOwlv2Core)
    assert isinstance(pipe.depth, backends.ShapeCachedOrtDepthCore)
    assert pipe.segmenter.core.image_size == TINY.tiny_sizes.sam2_image_size
    assert pipe.config == load_perception_config("perception_cpu.yaml")
    twin = pipe.process_frame(frame(0))
    assert twin.width == 64 and (onnx_dir / "depth_42x56" / "manifest.json").is_file()

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr("frs_ros.perception.onnx.export.export_models", no_export)
    again = PerceptionPipeline.from_profile(profile, {"tracking": {"redetect_every": 2}})
    again.process_frame(frame(1))  # same frame shape: the cached depth graph
    assert again.config.tracking.redetect_every == 2  # an explicit config wins


def test_onnx_export_dir_is_keyed_by_what_the_graphs_depend_on(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FRS_CACHE_DIR", str(tmp_path))
    cpu = load_profile("cpu")
    path = backends.onnx_export_dir(cpu)
    assert path.parent == tmp_path / "onnx" and path.name.startswith("cpu-")
    same = dataclasses.replace(cpu, threads=2, perception="perception.yaml", device="cpu")
    assert backends.onnx_export_dir(same) == path
    for change in ({"sam2_image_size": 512}, {"owlv2": "other/owlv2"}, {"revision": "v2"}):
        assert backends.onnx_export_dir(dataclasses.replace(cpu, **change)) != path


def test_onnx_backend_without_torch_names_the_export_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(backends, "_torch_available", lambda: False)
    profile = dataclasses.replace(load_profile("cpu"), tiny=True, onnx_dir=str(tmp_path / "x"))
    command = "python -m frs_ros.perception.onnx.export --models cpu"
    with pytest.raises(RuntimeError, match=re.escape(command)):
        PerceptionPipeline.from_profile(profile)


def test_onnx_dir_with_graphs_of_other_sizes_is_refused(onnx_dir) -> None:
    profile = dataclasses.replace(
        load_profile("cpu"),
        tiny=True,
        onnx_dir=str(onnx_dir),
        tiny_sizes=TinySizes(sam2_image_size=96),
    )
    with pytest.raises(ValueError, match="holds sam2 graphs for 128 px inputs but profile"):
        PerceptionPipeline.from_profile(profile)


@pytest.mark.ros
def test_ros_perception_node_uses_the_profiles_perception_config(tmp_path) -> None:
    pytest.importorskip("rclpy")
    from frs_ros.ros.node_base import node_pipeline

    profile = tmp_path / "robot.yaml"
    profile.write_text(yaml.safe_dump({"tiny": True, "perception": "perception_cpu.yaml"}))

    class Node:
        def __init__(self, **params) -> None:
            self.params = {"profile": str(profile), "device": "", **params}

        def param(self, name: str):
            return self.params[name]

    cpu_config = load_perception_config("perception_cpu.yaml")
    assert node_pipeline(Node(perception_config="")).config == cpu_config
    assert node_pipeline(Node(perception_config="perception.yaml")).config != cpu_config
