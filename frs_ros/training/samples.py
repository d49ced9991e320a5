"""Training samples: a twin, a query, the ground truth, and optionally a reference chain.

JSONL, one sample per line::

    {"id": "s1", "query": "...", "twin": <Twin.to_dict()>,
     "gt": {"<frame index>": <COCO RLE>, ...}      # union mask per frame (absent = empty)
     "gt_ids": [3, 5] | null,                      # or ids in the twin (masks derived)
     "category": "semantic|spatial|temporal", "level": 1, "negative": false,
     "chain": "<reason>..</reason><plan>..</plan><results>..</results><answer>..</answer>"}

``gt`` or ``gt_ids`` is required; ``chain`` (an oracle or teacher rollout in the protocol of
docs/DESIGN.md §4) is optional. The benchmark generator's JSONL reads as is (its ``gt_ids``, and
its ``oracle`` as the chain). ``replay`` re-runs a chain's model-written parts through the real
engine, so its ``<results>`` are what the tools really return and the engine spans are known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frs_ros.reasoning import Reasoner, ReasonerConfig, ReasoningResult, answer_masks
from frs_ros.reasoning.engine import MAX_NEW_TOKENS
from frs_ros.reasoning.runtime import ScriptedRuntime
from frs_ros.twin import RLE, Twin
from frs_ros.twin import rle as rle_utils

_RESULTS = re.compile(r"<results>.*?</results>", re.DOTALL)


@dataclass
class Sample:
    id: str
    twin: Twin
    query: str
    gt: dict[int, RLE]
    gt_ids: list[int] | None = None
    category: str = "semantic"
    level: int = 1
    negative: bool = False
    chain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_ids(cls, id: str, twin: Twin, query: str, ids: list[int], **kw: Any) -> Sample:
        return cls(id, twin, query, gt_from_ids(twin, ids), gt_ids=sorted(ids), **kw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "query": self.query,
            "twin": self.twin.to_dict(),
            "gt": {str(k): v for k, v in sorted(self.gt.items())},
            "gt_ids": self.gt_ids,
            "category": self.category,
            "level": self.level,
            "negative": self.negative,
            "chain": self.chain,
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "sample") -> Sample:
        for key in ("id", "query", "twin"):
            if key not in d:
                raise ValueError(f"{where}: missing key {key!r}")
        twin = Twin.from_dict(d["twin"])
        if d.get("gt") is not None:
            gt = {int(k): v for k, v in d["gt"].items()}
            for k, v in gt.items():
                _check_rle(v, twin, k, where)
        elif d.get("gt_ids") is not None:
            gt = gt_from_ids(twin, list(d["gt_ids"]))
        else:
            raise ValueError(f"{where}: needs 'gt' (RLE per frame) or 'gt_ids'")
        return cls(
            id=str(d["id"]),
            twin=twin,
            query=str(d["query"]),
            gt=gt,
            gt_ids=d.get("gt_ids"),
            category=str(d.get("category", "semantic")),
            level=int(d.get("level", 1)),
            negative=bool(d.get("negative", False)),
            chain=d.get("chain", d.get("oracle")),  # a benchmark line names it "oracle"
            extra=dict(d.get("extra") or {}),
        )


def _check_rle(rle: Any, twin: Twin, frame: int, where: str) -> None:
    frames = {f.index: f for f in twin.frames}
    if frame not in frames:
        raise ValueError(f"{where}: gt for frame {frame}, which is not in the twin")
    f = frames[frame]
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"{where}: gt[{frame}] must be a COCO RLE {{size, counts}}")
    if list(rle["size"]) != [f.height, f.width]:
        raise ValueError(
            f"{where}: gt[{frame}] has size {rle['size']}, the frame is {[f.height, f.width]}"
        )


def gt_from_ids(twin: Twin, ids: list[int]) -> dict[int, RLE]:
    """Union masks per frame of ``ids`` (frames where none appears are left out = empty)."""
    return {
        fm.index: fm.union for fm in answer_masks(twin, ids).frames if rle_utils.area(fm.union) > 0
    }


def read_jsonl(path: str | Path) -> list[Sample]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sample file {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Sample.from_dict(json.loads(line), f"{path}:{n}"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{n}: not valid JSON ({err.msg})") from err
    return out


def write_jsonl(path: str | Path, samples: Iterable[Sample]) -> int:
    """Atomic write (a kill never leaves a half-written training set)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w") as f:
        for s in samples:
            f.write(json.dumps(s.to_dict(), separators=(",", ":")) + "\n")
            n += 1
    tmp.replace(path)
    return n


def model_parts(chain: str) -> list[str]:
    """The model-written pieces of a chain, one per ``complete`` call: its ``<results>``
    blocks (if any) are dropped and the text is cut after every ``</plan>``."""
    text = _RESULTS.sub("", chain)
    parts = [p + "</plan>" for p in text.split("</plan>")]
    parts[-1] = parts[-1][: -len("</plan>")]
    return [p for p in parts if p]


def replay(
    twin: Twin, query: str, chain: str, config: ReasonerConfig | None = None
) -> ReasoningResult:
    """Run ``chain``'s model-written parts through the real engine (tools really run)."""
    runtime = ScriptedRuntime(model_parts(chain))
    cfg = config or ReasonerConfig(max_new_tokens=MAX_NEW_TOKENS, timeout_s=3600)
    return Reasoner(runtime, cfg).answer(twin, query)
