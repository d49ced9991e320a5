"""Loaders for ReasonSeg, MeViS/ReVOS and RefCOCOg on small files written in their formats."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from frs_ros.benchmark.loaders import load_mevis, load_reasonseg, load_refcocog
from frs_ros.twin import rle as rle_utils


def test_reasonseg_targets_ignores_and_queries(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "img1.jpg")
    anno = {
        "text": ["what keeps food cold?", "the fridge"],
        "is_sentence": True,
        "shapes": [
            {
                "label": "target",
                "points": [[0, 0], [10, 0], [10, 10], [0, 10]],
                "shape_type": "polygon",
            },
            {"label": "ignore", "points": [[20, 20], [30, 20], [30, 29], [20, 29]]},
            {"label": "flag", "points": [[0, 20], [5, 20], [5, 25]]},
        ],
    }
    (tmp_path / "img1.json").write_text(json.dumps(anno))
    samples = list(load_reasonseg(tmp_path))
    assert [s.query for s in samples] == anno["text"]
    s = samples[0]
    assert s.frames == [tmp_path / "img1.jpg"] and s.meta["is_sentence"]
    target = rle_utils.decode(s.masks[0])
    assert target.shape == (30, 40) and target[5, 5] and not target[25, 25]
    assert 100 <= target.sum() <= 121  # the 10x10 square, edges included
    assert rle_utils.decode(s.ignore[0])[25, 25] and not target[22, 2]  # flag skipped


def test_reasonseg_bad_annotation(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"shapes": []}))
    with pytest.raises(ValueError, match="'shapes' and 'text'"):
        list(load_reasonseg(tmp_path))
    with pytest.raises(FileNotFoundError):
        list(load_reasonseg(tmp_path / "missing"))


def _rle(mask):
    return rle_utils.encode(mask)


def test_mevis_union_of_annotations_and_absent_frames(tmp_path):
    a = np.zeros((8, 12), bool)
    a[1:3, 1:3] = True
    b = np.zeros((8, 12), bool)
    b[5:7, 8:10] = True
    meta = {
        "videos": {
            "v1": {
                "vid_id": "v1",
                "frames": ["00000", "00001"],
                "expressions": {
                    "0": {"exp": "the cat jumping", "obj_id": [0, 1], "anno_id": [10, 11]},
                    "1": {"exp": "the dog", "obj_id": [2], "anno_id": [12]},
                },
            }
        }
    }
    masks = {"10": [_rle(a), None], "11": [_rle(b), _rle(b)], "12": [None, None]}
    (tmp_path / "meta_expressions.json").write_text(json.dumps(meta))
    (tmp_path / "mask_dict.json").write_text(json.dumps(masks))
    (tmp_path / "JPEGImages" / "v1").mkdir(parents=True)
    Image.new("RGB", (12, 8)).save(tmp_path / "JPEGImages" / "v1" / "00000.jpg")
    cat, dog = list(load_mevis(tmp_path))
    assert cat.query == "the cat jumping" and len(cat.frames) == 2
    np.testing.assert_array_equal(rle_utils.decode(cat.masks[0]), a | b)
    np.testing.assert_array_equal(rle_utils.decode(cat.masks[1]), b)
    assert dog.negative and rle_utils.decode(dog.masks[0]).shape == (8, 12)
    assert cat.frames[0] == tmp_path / "JPEGImages" / "v1" / "00000.jpg"


def test_mevis_missing_annotation(tmp_path):
    meta = {"videos": {"v": {"frames": ["0"], "expressions": {"0": {"exp": "x", "anno_id": [1]}}}}}
    (tmp_path / "meta_expressions.json").write_text(json.dumps(meta))
    (tmp_path / "mask_dict.json").write_text("{}")
    with pytest.raises(ValueError, match="not in masks"):
        list(load_mevis(tmp_path))


@pytest.mark.parametrize("fmt", ["pickle", "json"])
def test_refcocog_polygons_and_rle(tmp_path, fmt):
    m = np.zeros((20, 30), bool)
    m[2:6, 3:9] = True
    instances = {
        "images": [
            {"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "height": 20, "width": 30}
        ],
        "annotations": [
            {
                "id": 5,
                "image_id": 1,
                "category_id": 3,
                "iscrowd": 0,
                "segmentation": [[10.0, 10.0, 20.0, 10.0, 20.0, 18.0, 10.0, 18.0]],
            },
            {"id": 6, "image_id": 1, "category_id": 3, "iscrowd": 1, "segmentation": _rle(m)},
        ],
    }
    refs = [
        {
            "ref_id": 0,
            "ann_id": 5,
            "image_id": 1,
            "split": "val",
            "category_id": 3,
            "sentences": [
                {"sent": "the box on the right", "sent_id": 7},
                {"sent": "a cardboard box", "sent_id": 8},
            ],
        },
        {
            "ref_id": 1,
            "ann_id": 6,
            "image_id": 1,
            "split": "val",
            "sentences": [{"sent": "the small thing", "sent_id": 9}],
        },
        {
            "ref_id": 2,
            "ann_id": 5,
            "image_id": 1,
            "split": "train",
            "sentences": [{"sent": "train only", "sent_id": 10}],
        },
    ]
    inst = tmp_path / "instances.json"
    inst.write_text(json.dumps(instances))
    if fmt == "pickle":
        refs_path = tmp_path / "refs(umd).p"
        refs_path.write_bytes(pickle.dumps(refs))
    else:
        refs_path = tmp_path / "refs.json"
        refs_path.write_text(json.dumps(refs))
    samples = list(load_refcocog(refs_path, inst, tmp_path / "images", split="val"))
    assert [s.query for s in samples] == [
        "the box on the right",
        "a cardboard box",
        "the small thing",
    ]
    poly = rle_utils.decode(samples[0].masks[0])
    assert poly.shape == (20, 30) and poly[14, 15] and not poly[2, 2]
    np.testing.assert_array_equal(rle_utils.decode(samples[2].masks[0]), m)
    assert samples[0].frames[0].name == "COCO_train2014_000000000001.jpg"
    assert len(list(load_refcocog(refs_path, inst, tmp_path, split=None))) == 4
