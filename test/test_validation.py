"""The data-boundary checks (frs_ros.validation) where data enters: RLE masks, twin JSON,
benchmark JSONL, perception YAML, command-line numbers, images, depth and CameraInfo.

Command-line cases run the real ``frs`` as a subprocess and expect exit code 2 with one
line naming the file and field; every subprocess has a timeout, so a hang is a failure.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from frs_ros import validation
from frs_ros.io.camera import intrinsics_from_camera_info
from frs_ros.io.sources import iter_frames
from frs_ros.perception.config import PerceptionConfig, load_perception_config
from frs_ros.perception.frames import as_metric_depth, upscale_mask, work_image
from frs_ros.samples import read_jsonl
from frs_ros.twin import FrameTwin, Twin, TwinObject
from frs_ros.twin import rle as rle_utils
from frs_ros.twin.geometry import CameraIntrinsics

FRS = Path(sys.executable).with_name("frs")
H, W = 60, 100


def frs(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [str(FRS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(run: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2 and a single stderr line holding every needle."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _twin() -> Twin:
    objects = []
    for i, x0 in ((1, 5), (2, 40), (3, 80)):
        mask = np.zeros((H, W), bool)
        mask[20:40, x0 : x0 + 15] = True
        objects.append(TwinObject.from_mask(i, "mug", 0.9, mask))
    return Twin([FrameTwin(index=0, stamp=0.0, width=W, height=H, objects=objects)])


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    """An image and the twin of that image, as files."""
    image = tmp_path / "scene.png"
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(image)
    twin = tmp_path / "twin.json"
    twin.write_text(_twin().to_json())
    return {"image": image, "twin": twin}


def _write_twin(path: Path, mutate) -> Path:
    d = json.loads(_twin().to_json())
    mutate(d)
    path.write_text(json.dumps(d))
    return path


# ------------------------------------------------------------------ RLE masks


def test_compressed_counts_agree_with_pycocotools() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        mask = rng.random((h, w)) < rng.random()
        coded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        runs = validation.compressed_counts(coded["counts"])
        flat = mask.T.reshape(-1)  # COCO RLE runs column-major, starting with 0s
        changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        expected = np.diff(np.concatenate(([0], changes, [h * w])))
        if flat[0]:
            expected = np.concatenate(([0], expected))
        assert runs.tolist() == expected.tolist()
        assert validation.rle({"size": [h, w], "counts": coded["counts"].decode()})


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ({"size": [10, 10], "counts": "0"}, "cover 0 pixels"),  # decode: uninitialised memory
        ({"size": [10, 10], "counts": "d1"}, "cover"),  # runs beyond the mask: a heap write
        ({"size": [10, 10], "counts": [50]}, "cover 50 pixels"),
        ({"size": [10, 10], "counts": [50, -10, 60]}, "out of range"),
        ({"size": [10, 10], "counts": "oooooooo0"}, "too large"),
        ({"size": [10, 10], "counts": "\x7f"}, "alphabet"),
        ({"size": [10, 10], "counts": "b"}, "truncated"),
        ({"size": [10**6, 10**6], "counts": "0"}, "max_pixels"),
        ({"size": [0, 5], "counts": ""}, "out of range"),
        ({"size": [10, "a"], "counts": ""}, "integer"),
        ({"size": [10, 10]}, "missing field 'counts'"),
        ([1, 2], "mapping"),
    ],
)
def test_bad_rles_are_refused_before_pycocotools(rle, message: str) -> None:
    for op in (rle_utils.decode, rle_utils.area, rle_utils.to_bbox):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            op(rle)


def test_max_pixels_is_configurable() -> None:
    rle = rle_utils.encode(np.zeros((100, 100), bool))
    assert validation.rle(rle, max_pixels=10_000)["size"] == [100, 100]
    with pytest.raises(ValueError, match="more than the 9999 allowed"):
        validation.rle(rle, max_pixels=9999)


def test_merge_of_inconsistent_rles_fails_instead_of_looping() -> None:
    """pycocotools' merge loops forever (Ctrl-C cannot stop it) on counts that do not cover
    the mask: it runs in a subprocess with a timeout so that a regression fails, not hangs."""
    code = textwrap.dedent(
        """
        from frs_ros.twin import rle
        good = rle.encode(__import__("numpy").ones((10, 10), bool))
        try:
            rle.merge([good, {"size": [10, 10], "counts": [30, 5]}], (10, 10))
        except ValueError as exc:
            print("refused:", exc)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "refused:" in run.stdout and "cover 35 pixels" in run.stdout


def test_merge_refuses_masks_of_different_sizes() -> None:
    a = rle_utils.encode(np.ones((4, 4), bool))
    b = rle_utils.encode(np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="sizes differ"):
        rle_utils.merge([a, b], (4, 4))
    with pytest.raises(ValueError, match="sizes differ"):
        rle_utils.intersection_area(a, b)


# ------------------------------------------------------------------ twins


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(frames={"0": d["frames"][0]}), "frames: must be a JSON array"),
        (lambda d: d["frames"][0]["objects"][0].update(id=2**31), "out of range"),
        (lambda d: d["frames"][0]["objects"][0].update(parent=-(2**31) - 1), "parent"),
        (lambda d: d["frames"][0]["objects"][1].update(bbox="0,0,1,1"), "objects[1].bbox"),
        (lambda d: d["frames"][0]["objects"][0]["mask"].update(counts="0"), "cover 0 pixels"),
        (lambda d: d["frames"][0]["objects"][0].update(label=5), "label: must be a string"),
        (lambda d: d["frames"][0].update(objects={"a": 1}), "objects: must be a JSON array"),
        (lambda d: d["frames"].append(5), "frames[1]: must be a mapping"),
        (lambda d: d["frames"][0].pop("width"), "missing field 'width'"),
    ],
)
def test_twin_json_names_the_bad_field(mutate, message: str) -> None:
    d = json.loads(_twin().to_json())
    mutate(d)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Twin.from_dict(d)


def test_non_finite_numbers_never_reach_twin_json() -> None:
    d = json.loads(_twin().to_json())
    d["frames"][0]["objects"][0]["centroid_3d"] = [0.1, float("nan"), 1.0]
    with pytest.raises(ValueError, match="centroid_3d: must be finite"):
        Twin.from_dict(d)
    obj = _twin().frames[0].objects[0]
    with pytest.raises(ValueError, match="must be finite"):
        TwinObject(**{**obj.__dict__, "centroid_3d": (math.nan, 0.0, 1.0)})
    # the writer itself is strict: Python's default would write the non-JSON token NaN
    twin = _twin()
    object.__setattr__(twin.frames[0].objects[0], "centroid", (math.nan, 1.0))
    with pytest.raises(ValueError, match="Out of range float"):
        twin.to_json()


def test_twin_json_round_trips(scene) -> None:
    assert Twin.load(scene["twin"]) == _twin()


# ------------------------------------------------------------------ depth and CameraInfo


def test_camera_info_with_nan_or_inf_is_refused() -> None:
    k = [500.0, 0.0, math.nan, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"CameraInfo K rejected.*cx: must be finite"):
        intrinsics_from_camera_info(SimpleNamespace(k=k))
    with pytest.raises(ValueError, match="fx: must be finite"):
        CameraIntrinsics(fx=math.inf, fy=500.0, cx=1.0, cy=1.0)


def test_absurd_depth_is_no_measurement() -> None:
    depth = np.full((H, W), 2.0, np.float32)
    depth[:30] = 1e38
    metres = as_metric_depth(depth, (H, W))
    assert np.isnan(metres[:30]).all() and (metres[30:] == 2.0).all()
    mask = np.zeros((H, W), bool)
    mask[20:40, 10:20] = True
    intr = CameraIntrinsics(fx=50.0, fy=50.0, cx=W / 2, cy=H / 2)
    # straight from the raw map too: the twin's own depth statistics ignore such pixels
    obj = TwinObject.from_mask(
        1, "mug", 0.9, mask, depth=depth, depth_source="metric", intrinsics=intr
    )
    assert obj.depth is not None and obj.depth.max == 2.0 and obj.depth.valid_ratio == 0.5
    json.loads(Twin([FrameTwin(0, 0.0, W, H, [obj])]).to_json())


# ------------------------------------------------------------------ images


def test_16_bit_png_keeps_its_grey_levels(tmp_path: Path) -> None:
    grey = np.tile(np.linspace(0, 65535, W).astype(np.uint16), (H, 1))
    Image.fromarray(grey).save(tmp_path / "g16.png")
    rgb = next(iter_frames(tmp_path / "g16.png")).rgb
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    assert (rgb[..., 0] == (grey >> 8)).all()  # not clipped to white
    assert rgb.mean() < 160


def test_16_bit_png_compressed_image_keeps_its_grey_levels() -> None:
    import io

    from frs_ros.io.images import compressed_to_rgb

    grey = np.tile(np.linspace(0, 65535, W).astype(np.uint16), (H, 1))
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG")
    rgb = compressed_to_rgb(SimpleNamespace(format="png", data=buf.getvalue()))
    assert (rgb[..., 1] == (grey >> 8)).all()


def test_int32_tiff_depth(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "a.tif")
    Image.fromarray(np.full((H, W), 1500, np.int32)).save(tmp_path / "a_depth.tif")
    depth = next(iter_frames(tmp_path / "a.tif")).depth
    assert depth is not None and depth.dtype == np.uint16 and (depth == 1500).all()  # mm
    Image.fromarray(np.full((H, W), 70000, np.int32)).save(tmp_path / "a_depth.tif")
    with pytest.raises(ValueError, match=r"a_depth\.tif.*32-bit integer pixels outside"):
        next(iter_frames(tmp_path / "a.tif"))


def test_a_bad_file_in_a_folder_is_found_on_the_first_frame(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / f"{i}.png")
    data = (folder / "2.png").read_bytes()
    (folder / "2.png").write_bytes(data[: len(data) // 2])  # truncated last file
    with pytest.raises(ValueError, match=r"2\.png"):
        next(iter_frames(folder))
    # a file the stride or --max-frames leaves out is not read at all
    assert len(list(iter_frames(folder, max_frames=2))) == 2
    assert [f.index for f in iter_frames(folder, stride=2, max_frames=1)] == [0]


def test_a_bad_file_in_a_folder_fails_before_models_load(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / f"{i}.png")
    (folder / "2.png").write_bytes(b"not a png")
    # the model profile does not exist: failing on it would mean models load first
    run = frs("twin", str(folder), "--models", str(tmp_path / "none.yaml"), cwd=tmp_path)
    one_line_error(run, "2.png")


def test_large_frames_are_processed_downscaled() -> None:
    rgb = np.zeros((3000, 1000, 3), np.uint8)
    small = work_image(rgb, 600)
    assert small.shape == (600, 200, 3)
    assert work_image(rgb, 4000) is rgb
    mask = np.zeros((600, 200), bool)
    mask[:300] = True
    big = upscale_mask(mask, (3000, 1000))
    assert big.shape == (3000, 1000) and big[:1500].all() and not big[1500:].any()


@pytest.mark.slow
def test_pipeline_keeps_the_frame_size_when_it_downscales() -> None:
    from frs_ros.perception import PerceptionPipeline

    config = PerceptionConfig.from_dict({"work_side": 128})
    pipe = PerceptionPipeline.from_profile("tiny", config)
    rgb = np.full((300, 500, 3), 90, np.uint8)
    rgb[100:200, 100:250] = 220
    frame = pipe.process_frame(rgb)
    assert (frame.width, frame.height) == (500, 300)
    assert all(o.size == (300, 500) for o in frame.objects)


# ------------------------------------------------------------------ perception YAML


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("detection:\n  score_threshold: 1.5\n", "detection.score_threshold"),
        ("proposals:\n  points_per_side: -4\n", "proposals.points_per_side"),
        ("proposals:\n  points_per_side: ten\n", "valid integer"),
        ("tracking:\n  detect_when_empty: 1\n", "tracking.detect_when_empty"),
        ("tracking: [1, 2]\n", "tracking: must be a mapping"),
        ("vocabulary: mug\n", "vocabulary"),
        ("depth_every: 0\n", "depth_every"),
        ("detection:\n  threshold: 0.5\n", "unknown key(s) ['threshold'] in detection"),
    ],
)
def test_perception_yaml_is_typed_and_ranged(tmp_path: Path, yaml_text: str, message: str):
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ValueError) as err:
        load_perception_config(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_shipped_perception_configs_load() -> None:
    assert load_perception_config("perception.yaml").proposals.points_per_side == 16
    assert load_perception_config("perception_cpu.yaml").work_side == 2048


@dataclasses.dataclass(frozen=True)
class _Bounds:
    n: int = 1


@dataclasses.dataclass(frozen=True)
class _Section:
    required: _Bounds = dataclasses.field(default_factory=_Bounds)
    optional: _Bounds | None = None


def test_config_nested_sections_and_the_section_name() -> None:
    """A ``D`` field takes a mapping (null: its defaults); a ``D | None`` field takes a
    mapping or null; ``section`` is named before every field."""
    got = validation.config(_Section, {"required": None, "optional": {"n": 3}}, "f.yaml")
    assert got == _Section(_Bounds(), _Bounds(3))
    assert validation.config(_Section, {"optional": None}, "f.yaml").optional is None
    with pytest.raises(ValueError, match=r"^f\.yaml: runtime\.optional\.n: Input should be a"):
        validation.config(_Section, {"optional": {"n": "3"}}, "f.yaml", section="runtime")
    with pytest.raises(ValueError, match=r"^f\.yaml: unknown key\(s\) \['m'\] in s\.optional$"):
        validation.config(_Section, {"optional": {"m": 1}}, "f.yaml", section="s")
    with pytest.raises(ValueError, match=r"^f\.yaml: s\.optional: must be a mapping"):
        validation.config(_Section, {"optional": 5}, "f.yaml", section="s")


@pytest.mark.slow
def test_perception_yaml_through_frs(scene, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("detection:\n  score_threshold: 2\n")
    run = frs(
        "twin", str(scene["image"]), "--models", "tiny", "--perception", str(path), cwd=tmp_path
    )
    one_line_error(run, str(path), "detection.score_threshold", "less than or equal to 1")


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-frames", "0"), ("--fps", "0"), ("--fps", "nan"), ("--stride", "-1")],
)
def test_bad_numbers_are_refused_by_argparse(scene, tmp_path: Path, flag: str, value: str):
    run = frs(
        "segment",
        str(scene["image"]),
        "-q",
        "the mug",
        "--models",
        "tiny",
        flag,
        value,
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
        timeout=60,
    )
    one_line_error(run, f"argument {flag}")
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(frames={"0": d["frames"][0]}), "frames: must be a JSON array"),
        (lambda d: d["frames"][0]["objects"][0].update(id=2**31), "2147483648 is out of range"),
        (
            lambda d: d["frames"][0]["objects"][0].update(
                mask={"size": [10**6, 10**6], "counts": "0"}
            ),
            "max_pixels",
        ),  # once a segfault (exit 139)
        (lambda d: d["frames"][0]["objects"][0]["mask"].update(counts="0"), "cover 0 pixels"),
    ],
)
def test_bad_twin_file_through_frs_segment(scene, tmp_path, mutate, message) -> None:
    twin = _write_twin(tmp_path / "bad.json", mutate)
    run = frs(
        "segment",
        str(scene["image"]),
        "-q",
        "the mug",
        "--twin",
        str(twin),
        "--reasoner",
        "tiny",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    one_line_error(run, str(twin), message)


def test_twin_of_another_size_than_the_input(scene, tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(other)
    run = frs(
        "segment",
        str(other),
        "-q",
        "the mug",
        "--twin",
        str(scene["twin"]),
        "--reasoner",
        "tiny",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    one_line_error(run, f"is for {W}x{H} frames", f"{W}x{H + 1}")


@pytest.mark.slow
def test_two_identical_runs_write_identical_masks(scene, tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        run = frs(
            "segment",
            str(scene["image"]),
            "-q",
            "the mug",
            "--twin",
            str(scene["twin"]),
            "--reasoner",
            "tiny",
            "--out",
            str(out),
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
        outs.append({p.name: p.read_bytes() for p in sorted((out / "masks").iterdir())})
        json.loads((out / "twin.json").read_text())
    assert outs[0] and outs[0] == outs[1]


def _sample_line(tmp_path: Path, mutate) -> Path:
    twin = _twin()
    sample = {"id": "s1", "query": "the mug", "twin": twin.to_dict(), "gt_ids": [1]}
    mutate(sample)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(sample) + "\n")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(twin=[1, 2]), "twin: must be a mapping"),
        (lambda s: s.update(gt=[{"size": [H, W], "counts": "0"}]), "gt: must be a mapping"),
        (lambda s: s.update(gt={"0": {"size": [H, W], "counts": [10]}}), "gt[0]: counts cover"),
        (lambda s: s.update(gt={"x": {}}), "not a frame index"),
        (lambda s: s.update(gt_ids="1"), "gt_ids: must be a JSON array"),
    ],
)
def test_bad_benchmark_sample(tmp_path: Path, mutate, message: str) -> None:
    path = _sample_line(tmp_path, mutate)
    with pytest.raises(ValueError, match=f"{path}:1: ".replace(".", r"\.")) as err:
        read_jsonl(path)
    assert message in str(err.value)


@pytest.mark.slow
def test_bad_benchmark_sample_through_frs_eval(tmp_path: Path) -> None:
    """Once ``frs eval`` ran 40 minutes on such a sample (pycocotools' merge looping)."""
    path = _sample_line(tmp_path, lambda s: s.update(gt={"0": {"size": [H, W], "counts": "0"}}))
    run = frs(
        "eval",
        str(path),
        "--method",
        "oracle",
        "--out",
        str(tmp_path / "e"),
        "--no-progress",
        cwd=tmp_path,
        timeout=120,
    )
    one_line_error(run, f"{path}:1", "gt[0]", "cover 0 pixels")
    path = _sample_line(tmp_path, lambda s: s.update(twin=[1]))
    run = frs(
        "eval",
        str(path),
        "--method",
        "oracle",
        "--out",
        str(tmp_path / "e"),
        "--no-progress",
        cwd=tmp_path,
        timeout=120,
    )
    one_line_error(run, f"{path}:1", "twin: must be a mapping")


@pytest.mark.parametrize(
    ("argv", "flag", "message"),
    [
        (["ros", "play", "x.png", "--max-frames", "0"], "--max-frames", "at least 1"),
        (["ros", "play", "x.png", "--rate", "-2"], "--rate", "> 0"),
        (["ros", "topics", "--window", "nan"], "--window", "> 0"),
        (["ros", "ask", "the mug", "--wait", "0"], "--wait", "> 0"),
        (["eval", "heldout", "--limit", "0"], "--limit", "at least 1"),
        (["eval", "heldout", "--bootstrap", "-1"], "--bootstrap", "at least 0"),
        (["bench", "generate", "--negative-fraction", "1.5"], "--negative-fraction", "0 and 1"),
        (["bench", "generate", "--n-per-cell", "0"], "--n-per-cell", "at least 1"),
    ],
)
def test_every_command_refuses_bad_numbers_before_work(argv, flag, message, capsys) -> None:
    from frs_ros.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and message in err, err
