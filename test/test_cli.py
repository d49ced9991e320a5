"""The ``frs`` command line with the tiny profiles: image and video in, outputs written."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from frs_ros.cli import main
from frs_ros.io.sources import iter_frames, kind_of
from frs_ros.twin import Twin


def scene(t: int) -> np.ndarray:
    a = np.full((96, 128, 3), 200, np.uint8)
    a[20:50, 10 + 8 * t : 40 + 8 * t] = (200, 30, 30)
    a[55:90, 70:110] = (30, 30, 200)
    return a


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(scene(0)).save(path)
    return path


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.gif"
    frames = [Image.fromarray(scene(t)) for t in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    return path


TINY = ["--models", "tiny", "--reasoner", "tiny", "--max-new-tokens", "24"]


@pytest.mark.slow
def test_segment_image_writes_outputs(image, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["segment", str(image), "-q", "the red thing", "--out", str(out), *TINY]) == 0
    report = json.loads((out / "result.json").read_text())
    assert report["query"] == "the red thing" and report["frames"] == 1
    assert report["prompt"] == "full"
    assert report["outcome"] in {"answered", "empty", "unparseable", "max_tokens", "max_rounds"}
    assert report["input_kind"] == "image" and report["tokens"] <= 24
    assert set(report["timings"]) >= {"perception_per_frame_s", "reasoning_total_s"}
    with Image.open(out / "overlay.png") as im:
        assert im.size == (128, 96)
    with Image.open(out / "masks" / "frame_0000.png") as im:
        assert im.mode == "L" and im.size == (128, 96)
    assert "answer:" in capsys.readouterr().out


@pytest.mark.slow
def test_segment_video_writes_a_mask_per_frame(video, tmp_path):
    out = tmp_path / "out"
    args = ["segment", str(video), "-q", "what moved", "--out", str(out), "--prompt", "brief"]
    assert main([*args, "--few-shot", "1", *TINY]) == 0
    report = json.loads((out / "result.json").read_text())
    assert (report["prompt"], report["few_shot"]) == ("brief", 1)
    assert sorted(p.name for p in (out / "masks").glob("frame_????.png")) == [
        "frame_0000.png",
        "frame_0001.png",
        "frame_0002.png",
    ]
    assert (out / "overlay.gif").is_file()
    twin = json.loads((out / "twin.json").read_text())
    assert [f["index"] for f in twin["frames"]] == [0, 1, 2]


@pytest.mark.slow
def test_twin_command_compact(image, tmp_path):
    out = tmp_path / "twin.txt"
    assert (
        main(["twin", str(image), "--models", "tiny", "--form", "compact", "--out", str(out)]) == 0
    )
    assert json.loads(out.read_text())["T"] == 1


def test_bad_inputs_are_clear_errors(tmp_path, capsys):
    assert main(["twin", str(tmp_path / "missing.png"), "--models", "tiny"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hi")
    assert main(["twin", str(tmp_path / "notes.txt"), "--models", "tiny"]) == 2
    assert "cannot read" in capsys.readouterr().err
    img = tmp_path / "a.png"
    Image.fromarray(scene(0)).save(img)
    assert main(["segment", str(img), "-q", "  ", *TINY]) == 2
    assert "query is empty" in capsys.readouterr().err


def test_sources_folder_gif_stride_and_limits(tmp_path, video):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(5):
        Image.fromarray(scene(t)).save(folder / f"{t:03d}.png")
    assert kind_of(folder) == "folder" and kind_of(video) == "gif"
    frames = list(iter_frames(folder, fps=5.0, stride=2))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.stamp for f in frames] == [0.0, 0.4, 0.8]
    assert np.array_equal(frames[1].rgb, scene(2))
    assert len(list(iter_frames(video, max_frames=2))) == 2
    with pytest.raises(ValueError, match="stride"):
        list(iter_frames(folder, stride=0))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sources_read_rgbd_rosbag2(rgbd_bag, storage):
    bag = rgbd_bag([scene(t) for t in range(3)], storage)
    assert kind_of(bag) == "rosbag"
    frames = list(iter_frames(bag, depth_topic="/cam/depth", info_topic="/cam/info"))
    assert len(frames) == 3 and np.array_equal(frames[2].rgb, scene(2))
    assert frames[1].stamp == pytest.approx(1.1)
    assert frames[0].depth is not None and float(frames[0].depth[0, 0]) == pytest.approx(1.5)
    assert frames[0].intrinsics.fx == 100.0 and frames[0].frame_id == "cam"
    with pytest.raises(ValueError, match="not in bag"):
        list(iter_frames(bag, depth_topic="/nope"))


@pytest.mark.slow
def test_segment_rosbag_gives_metric_depth(rgbd_bag, tmp_path):
    bag = rgbd_bag([scene(t) for t in range(2)])
    out = tmp_path / "out"
    args = ["segment", str(bag), "-q", "the red thing", "--out", str(out), *TINY]
    assert main([*args, "--depth-topic", "/cam/depth", "--info-topic", "/cam/info"]) == 0
    twin = json.loads((out / "twin.json").read_text())
    objects = [o for f in twin["frames"] for o in f["objects"]]
    assert objects, "the tiny profile's low thresholds always give objects"
    assert all(o["depth"]["source"] == "metric" for o in objects)
    assert all(o["centroid_3d"][2] == pytest.approx(1.5) for o in objects)


def test_sources_pair_depth_images_with_colour(tmp_path):
    folder = tmp_path / "rgbd"
    folder.mkdir()
    for t in range(2):
        Image.fromarray(scene(t)).save(folder / f"f{t}.png")
        Image.fromarray(np.full((96, 128), 1200 + t, np.uint16)).save(folder / f"f{t}_depth.png")
    frames = list(iter_frames(folder))
    assert len(frames) == 2  # depth images are companions, not frames
    assert frames[1].depth.dtype == np.uint16 and int(frames[1].depth[0, 0]) == 1201
    (single,) = iter_frames(folder / "f0.png")
    assert int(single.depth[5, 5]) == 1200


def test_segment_over_a_given_twin_skips_perception(tmp_path):
    """--twin: the example's ground-truth twin is reasoned over as is (no perception runs:
    the perception profile named here does not exist)."""
    example = Path(__file__).resolve().parents[1] / "examples" / "kitchen_image"
    twin = Twin.from_dict(json.loads((example / "twin.json").read_text()))
    book = next(o.id for o in twin.frames[0].objects if o.label == "book")
    cfg = tmp_path / "scripted.yaml"
    answer = f'<reason>books are read</reason><answer>{{"ids": [{book}]}}</answer>'
    cfg.write_text(json.dumps({"runtime": {"kind": "scripted", "outputs": [answer]}}))
    out = tmp_path / "out"
    args = ["segment", str(example / "image.png"), "--twin", str(example / "twin.json")]
    args += ["-q", "the thing I could read", "--reasoner", str(cfg), "--models", "absent.yaml"]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert (result["ids"], result["outcome"]) == ([book], "answered")
    mask = np.array(Image.open(out / "masks" / "frame_0000.png")) > 0
    assert np.array_equal(mask, twin.frames[0].object(book).decode_mask())
    assert (out / "overlay.png").is_file()
