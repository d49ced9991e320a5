"""One sample type for the benchmark, evaluation and training: a twin, a query, its ground
truth and, optionally, a reference chain.

JSONL, one sample per line (``write_jsonl`` writes it; ``read_jsonl`` reads it back)::

    {"id": "s1", "query": "...", "twin": <Twin.to_dict()>,
     "gt": {"<frame index>": <COCO RLE>, ...},     # union mask per frame (absent = empty)
     "gt_ids": [3, 5] | null,                      # the answer's ids in the twin, if known
     "category": "semantic|spatial|temporal", "level": 1, "negative": false,
     "chain": "<reason>..</reason><plan>..</plan><results>..</results><answer>..</answer>",
     "split": "test", "scene_id": "...", "template": "...", "version": 1}   # benchmark only

``gt`` or ``gt_ids`` is required (masks are derived from the twin when only ids are
given); ``chain`` is the generator's oracle rollout or a teacher's (docs/DESIGN.md §4).
Benchmark files of the older layout (``gt_masks`` as a list per frame, the chain under
``oracle``) read as well.

Nothing here loads the segmenter: replaying a chain through it is ``frs_ros.replay``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frs_ros import validation
from frs_ros.reasoning.answers import answer_masks
from frs_ros.twin import RLE, Twin
from frs_ros.twin import rle as rle_utils


@dataclass
class Sample:
    id: str
    query: str
    twin: Twin
    gt: dict[int, RLE]  # union mask of the answer per frame index; absent frames are empty
    gt_ids: list[int] | None = None
    category: str = "semantic"
    level: int = 1
    negative: bool = False
    chain: str = ""  # a reference rollout: the generator's oracle or a teacher's ("" = none)
    split: str = ""
    scene_id: str = ""
    template: str = ""
    version: int | None = None  # the benchmark generator's version, for generated samples
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_ids(cls, id: str, twin: Twin, query: str, ids: list[int], **kw: Any) -> Sample:
        return cls(id, query, twin, gt_from_ids(twin, ids), gt_ids=sorted(ids), **kw)

    @property
    def multi(self) -> bool:
        return self.gt_ids is not None and len(self.gt_ids) > 1

    @property
    def video(self) -> bool:
        return len(self.twin) > 1

    @property
    def gt_masks(self) -> list[RLE]:
        """The ground-truth union mask of every twin frame, in order (empty ones included)."""
        return [
            self.gt.get(f.index) or rle_utils.merge([], (f.height, f.width))
            for f in self.twin.frames
        ]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "query": self.query,
            "category": self.category,
            "level": self.level,
            "negative": self.negative,
            "multi": self.multi,
            "video": self.video,
            "gt_ids": self.gt_ids,
            "gt": {str(k): v for k, v in sorted(self.gt.items())},
            "chain": self.chain,
        }
        for key in ("split", "scene_id", "template", "version", "extra"):
            if value := getattr(self, key):
                d[key] = value
        d["twin"] = self.twin.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "sample") -> Sample:
        d = validation.mapping(d, where)
        for key in ("id", "query", "twin"):
            if key not in d:
                raise ValueError(f"{where}: missing key {key!r}")
        twin = Twin.from_dict(d["twin"], where=f"{where}: twin")
        gt_ids = None
        if d.get("gt_ids") is not None:
            ids = validation.sequence(d["gt_ids"], f"{where}: gt_ids")
            gt_ids = [validation.integer(i, f"{where}: gt_ids") for i in ids]
        if d.get("gt") is not None:
            gt = {
                _frame_key(k, f"{where}: gt"): v
                for k, v in validation.mapping(d["gt"], f"{where}: gt").items()
            }
        elif d.get("gt_masks") is not None:  # a benchmark file of the older layout
            masks = validation.sequence(d["gt_masks"], f"{where}: gt_masks")
            if len(masks) != len(twin.frames):
                raise ValueError(f"{where}: {len(masks)} gt_masks for {len(twin.frames)} frames")
            gt = {f.index: m for f, m in zip(twin.frames, masks, strict=True)}
            gt = {k: v for k, v in gt.items() if rle_utils.area(v) > 0}
        elif gt_ids is not None:
            gt = gt_from_ids(twin, gt_ids)
        else:
            raise ValueError(f"{where}: needs 'gt' (RLE per frame) or 'gt_ids'")
        for k, v in gt.items():
            _check_rle(v, twin, k, where)
        return cls(
            id=str(d["id"]),
            query=str(d["query"]),
            twin=twin,
            gt=gt,
            gt_ids=gt_ids,
            category=str(d.get("category", "semantic")),
            level=int(d.get("level", 1)),
            negative=bool(d.get("negative", False)),
            chain=str(d.get("chain") or d.get("oracle") or ""),
            split=str(d.get("split", "")),
            scene_id=str(d.get("scene_id", "")),
            template=str(d.get("template", "")),
            version=int(d["version"]) if d.get("version") is not None else None,
            extra=dict(d.get("extra") or {}),
        )


def _check_rle(rle: Any, twin: Twin, frame: int, where: str) -> None:
    frames = {f.index: f for f in twin.frames}
    if frame not in frames:
        raise ValueError(f"{where}: gt for frame {frame}, which is not in the twin")
    f = frames[frame]
    rle = validation.rle(rle, f"{where}: gt[{frame}]")
    if list(rle["size"]) != [f.height, f.width]:
        raise ValueError(
            f"{where}: gt[{frame}] has size {rle['size']}, the frame is {[f.height, f.width]}"
        )


def _frame_key(key: Any, where: str) -> int:
    """A ``gt`` key: a frame index, written as a string in JSON."""
    try:
        return validation.integer(int(key), where, 0, validation.UINT32_MAX)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: key {key!r:.20} is not a frame index") from None


def gt_from_ids(twin: Twin, ids: list[int]) -> dict[int, RLE]:
    """Union masks per frame of ``ids`` (frames where none appears are left out = empty)."""
    return {
        fm.index: fm.union for fm in answer_masks(twin, ids).frames if rle_utils.area(fm.union) > 0
    }


def read_jsonl(path: str | os.PathLike[str]) -> list[Sample]:
    """Every sample of a JSONL file; a bad line is a ValueError naming ``path:line``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"sample file {path} does not exist; `frs bench generate --out DIR` writes "
            "DIR/train.jsonl, validation.jsonl and test.jsonl"
        )
    with path.open(encoding="utf-8") as fh:
        return parse_lines(fh, str(path))


def parse_lines(lines: Iterable[str], where: str) -> list[Sample]:
    """Samples of JSONL ``lines``; a bad line is a ValueError naming ``where:line``."""
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(Sample.from_dict(json.loads(line), f"{where}:{n}"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}:{n}: not valid JSON ({err.msg})") from err
        except (KeyError, TypeError) as err:
            raise ValueError(f"{where}:{n}: not a sample: {err}") from err
    return out


def read_appended(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The JSON records of a file that a resumable job appends to one line at a time (its
    resume point); a torn last line (the job killed mid-write) is cut off the file. A file
    that does not exist holds none."""
    path = Path(path)
    if not path.exists():
        return []
    records, good_bytes = [], 0
    with path.open("rb") as fh:
        for raw in fh:
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("incomplete line")
                records.append(json.loads(raw))
            except ValueError:
                break
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with path.open("r+b") as fh:
            fh.truncate(good_bytes)
    return records


def write_jsonl(path: str | os.PathLike[str], samples: Iterable[Sample]) -> Path:
    """One compact JSON object per line, written to a temp file then renamed: a kill never
    leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for s in samples:
            fh.write(json.dumps(s.to_dict(), separators=(",", ":")) + "\n")
    tmp.replace(path)
    return path
