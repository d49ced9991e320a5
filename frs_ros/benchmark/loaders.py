"""Loaders for public reasoning/referring segmentation datasets people bring.

Each yields :class:`ExternalSample`: the image (or frame) paths, one query, and the
ground-truth mask per frame as COCO RLE (``None`` masks never occur: an absent object is
an empty mask). Formats:

- ReasonSeg (LISA): per image ``<name>.jpg`` + ``<name>.json`` with ``text`` (list of
  queries), ``is_sentence`` and labelme-style ``shapes`` (``label``, ``points``); labels
  containing "ignore" mark ignored regions (returned separately), "flag" shapes are
  deprecated annotations and skipped, every other polygon is target.
- MeViS / ReVOS: ``meta_expressions.json`` (``videos`` → ``frames`` and ``expressions`` →
  ``exp``, ``anno_id``) + ``mask_dict.json`` (``anno_id`` → one RLE or null per frame),
  frames in ``JPEGImages/<video>/<frame>.jpg``. The target of an expression is the union
  of its ``anno_id`` masks.
- RefCOCOg: ``refs(umd).p`` (pickle) or a JSON list of refs (``ref_id``, ``ann_id``,
  ``image_id``, ``split``, ``sentences`` → ``sent``) + COCO ``instances.json``
  (``images``, ``annotations`` with polygon or RLE ``segmentation``).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from frs_ros import validation
from frs_ros.twin import RLE
from frs_ros.twin import rle as rle_utils


@dataclass(frozen=True)
class ExternalSample:
    id: str
    frames: list[Path]  # one path for an image dataset
    query: str
    masks: list[RLE]  # ground truth per frame
    ignore: list[RLE] | None = None  # ReasonSeg "ignore" regions per frame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def negative(self) -> bool:
        return all(rle_utils.area(m) == 0 for m in self.masks)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:  # some ReasonSeg files are cp1252
        return json.loads(path.read_text(encoding="cp1252"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def _polygon_mask(polygons: list[list[tuple[float, float]]], h: int, w: int) -> np.ndarray:
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for pts in polygons:
        if len(pts) >= 3:
            draw.polygon([(float(x), float(y)) for x, y in pts], fill=1)
    return np.asarray(canvas, dtype=bool)


# ------------------------------------------------------------------ ReasonSeg


def load_reasonseg(folder: str | os.PathLike) -> Iterator[ExternalSample]:
    """One sample per (image, query text) of a ReasonSeg split folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"ReasonSeg folder {folder} does not exist")
    for jpath in sorted(folder.glob("*.json")):
        anno = _read_json(jpath)
        if not isinstance(anno, dict) or "shapes" not in anno or "text" not in anno:
            raise ValueError(f"{jpath}: a ReasonSeg annotation needs 'shapes' and 'text'")
        image = next(
            (p for p in (jpath.with_suffix(s) for s in (".jpg", ".png")) if p.exists()),
            jpath.with_suffix(".jpg"),
        )
        h, w = anno.get("imageHeight"), anno.get("imageWidth")
        if h is None or w is None:
            if not image.exists():
                raise ValueError(f"{jpath}: no imageHeight/imageWidth and no image to measure")
            with Image.open(image) as im:
                w, h = im.size
        target: list[Any] = []  # the shapes' points, as the JSON has them
        ignore: list[Any] = []
        for shape in anno["shapes"]:
            label = str(shape.get("label", "")).lower()
            if label == "flag":
                continue
            (ignore if "ignore" in label else target).append(shape.get("points", []))
        h, w = validation.mask_size([h, w], f"{jpath}: imageHeight/imageWidth")
        tmask = _polygon_mask(target, h, w)
        imask = _polygon_mask(ignore, h, w) & ~tmask
        texts = anno["text"] if isinstance(anno["text"], list) else [anno["text"]]
        for k, text in enumerate(texts):
            yield ExternalSample(
                id=f"{jpath.stem}#{k}",
                frames=[image],
                query=str(text),
                masks=[rle_utils.encode(tmask)],
                ignore=[rle_utils.encode(imask)],
                meta={"is_sentence": bool(anno.get("is_sentence", False))},
            )


# ------------------------------------------------------------------ MeViS / ReVOS


def load_mevis(
    folder: str | os.PathLike,
    meta_file: str = "meta_expressions.json",
    mask_file: str = "mask_dict.json",
) -> Iterator[ExternalSample]:
    """One sample per expression of a MeViS (or ReVOS: pass its meta file name) split."""
    folder = Path(folder)
    meta = _read_json(folder / meta_file)
    masks = _read_json(folder / mask_file)
    if "videos" not in meta:
        raise ValueError(f"{folder / meta_file}: expected a top-level 'videos' object")
    for vid, video in sorted(meta["videos"].items()):
        frames = [folder / "JPEGImages" / vid / f"{f}.jpg" for f in video["frames"]]
        for eid, expr in sorted(video["expressions"].items(), key=lambda kv: str(kv[0])):
            anno_ids = [str(a) for a in expr.get("anno_id", [])]
            missing = [a for a in anno_ids if a not in masks]
            if missing:
                raise ValueError(f"video {vid} expression {eid}: anno_id {missing} not in masks")
            unions = [_union_frame([masks[a][t] for a in anno_ids]) for t in range(len(frames))]
            per_frame = [m for m in unions if m is not None]
            if len(per_frame) < len(unions):
                size = _first_size(masks, anno_ids) or _image_size(frames[0])
                per_frame = [m or rle_utils.encode(np.zeros(size, bool)) for m in unions]
            yield ExternalSample(
                id=f"{vid}#{eid}",
                frames=frames,
                query=str(expr["exp"]),
                masks=per_frame,
                meta={"video": vid, "obj_id": expr.get("obj_id", []), "anno_id": anno_ids},
            )


def _as_rle(rle: Any, where: str = "mask") -> RLE:
    checked = validation.rle(rle, where)
    counts = checked["counts"]
    if isinstance(counts, list):  # uncompressed: re-encode to the compressed string form
        # arg-type: RLE types the compressed form only; decode reads this uncompressed one too
        return rle_utils.encode(rle_utils.decode(checked))  # type: ignore[arg-type]
    text = counts.decode("ascii") if isinstance(counts, bytes) else counts
    return {"size": checked["size"], "counts": text}


def _union_frame(rles: list[dict | None]) -> RLE | None:
    present = [_as_rle(r, "mask_dict.json entry") for r in rles if r is not None]
    if not present:
        return None
    h, w = present[0]["size"]
    return rle_utils.merge(present, (h, w))


def _first_size(masks: dict, anno_ids: list[str]) -> tuple[int, int] | None:
    for a in anno_ids:
        for r in masks[a]:
            if r is not None:
                return (int(r["size"][0]), int(r["size"][1]))
    return None


def _image_size(path: Path) -> tuple[int, int]:
    if not path.exists():
        raise ValueError(f"cannot size an empty mask: no mask and no frame {path}")
    with Image.open(path) as im:
        return (im.size[1], im.size[0])


# ------------------------------------------------------------------ RefCOCOg


def load_refcocog(
    refs_path: str | os.PathLike,
    instances_path: str | os.PathLike,
    image_dir: str | os.PathLike,
    split: str | None = "val",
) -> Iterator[ExternalSample]:
    """One sample per referring sentence of the refs in ``split`` (None: all splits)."""
    refs_path = Path(refs_path)
    if not refs_path.is_file():
        raise FileNotFoundError(f"refs file {refs_path} does not exist")
    if refs_path.suffix == ".p" or refs_path.suffix == ".pkl":
        # The official refs(umd).p is a pickle: only load files you trust.
        with refs_path.open("rb") as fh:
            refs = pickle.load(fh)
    else:
        refs = _read_json(refs_path)
    coco = _read_json(Path(instances_path))
    images = {img["id"]: img for img in coco["images"]}
    anns = {ann["id"]: ann for ann in coco["annotations"]}
    for ref in refs:
        if split is not None and ref.get("split") != split:
            continue
        ann = anns.get(ref["ann_id"])
        if ann is None:
            raise ValueError(f"ref {ref.get('ref_id')}: ann_id {ref['ann_id']} not in instances")
        img = images[ann["image_id"]]
        h, w = validation.mask_size([img["height"], img["width"]], f"image {img.get('id')}")
        mask = _coco_segmentation(ann["segmentation"], h, w)
        for sent in ref["sentences"]:
            yield ExternalSample(
                id=f"{ref['ref_id']}#{sent.get('sent_id', 0)}",
                frames=[Path(image_dir) / img["file_name"]],
                query=str(sent["sent"]),
                masks=[mask],
                meta={"ann_id": ref["ann_id"], "category_id": ref.get("category_id")},
            )


def _coco_segmentation(seg: Any, h: int, w: int) -> RLE:
    """COCO polygons, uncompressed RLE or compressed RLE → compressed RLE (pycocotools)."""
    if isinstance(seg, list):
        polygons = [validation.sequence(p, "segmentation polygon") for p in seg]
        for poly in polygons:
            if len(poly) < 6 or len(poly) % 2:
                raise ValueError(f"segmentation polygon needs >= 3 (x, y) pairs, got {poly!r:.60}")
            for v in poly:
                validation.number(v, "segmentation polygon")
        if not polygons:
            return rle_utils.encode(np.zeros((h, w), dtype=bool))
        coded = mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
    elif isinstance(seg, dict):
        return _as_rle(seg, "segmentation")
    else:
        raise ValueError(f"unsupported COCO segmentation of type {type(seg).__name__}")
    return {"size": [int(v) for v in coded["size"]], "counts": coded["counts"].decode()}
