"""The frozen held-out test set and the hand-written reworded set (``frs eval heldout``,
``frs eval reworded``).

The held-out set is the generator's ``test`` split for the settings in
``frs_ros/benchmark/data/heldout.json`` (seed, samples per cell, negative and video
shares, frame count, image size). The generated JSONL itself is committed, gzipped
(``heldout.jsonl.gz``), together with the sha256 of its uncompressed text, so evaluations
never drift when the generator changes: ``test/test_heldout.py`` checks the hash, that
``frs bench generate --heldout`` still reproduces the file while the generator version is
unchanged, and that no held-out scene appears in a train split. Train splits cannot share a
scene with it by construction: every random draw of the generator is seeded with the split.

The reworded set (``data/reworded.json``) rewrites some held-out queries by hand, in words
the generator's templates never use, over the same scenes with the same answers: a student
that learned the templates' wording rather than the reasoning scores lower on it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from frs_ros.benchmark.generator import GENERATOR_VERSION, generate_split
from frs_ros.samples import Sample, parse_lines, write_jsonl

DATA_DIR = Path(__file__).parent / "data"
HELDOUT_SPEC = DATA_DIR / "heldout.json"
HELDOUT_FILE = DATA_DIR / "heldout.jsonl.gz"
REWORDED_FILE = DATA_DIR / "reworded.json"
#: Sample sets shipped with the package, usable as the data argument of ``frs eval``.
NAMED_SETS: tuple[str, ...] = ("heldout", "reworded")


@dataclass(frozen=True)
class HeldoutSpec:
    """What generates the held-out set, and the sha256 of the JSONL text it generated."""

    split: str
    seed: int
    n_per_cell: int
    negative_fraction: float
    video_fraction: float
    n_frames: int
    size: tuple[int, int]
    generator_version: int
    n_samples: int
    sha256: str

    @classmethod
    def load(cls, path: str | os.PathLike[str] = HELDOUT_SPEC) -> HeldoutSpec:
        d: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        d["size"] = tuple(d["size"])
        return cls(**d)

    def generate(self, progress: bool = False) -> list[Sample]:
        return generate_split(
            self.split,
            self.n_per_cell,
            seed=self.seed,
            negative_fraction=self.negative_fraction,
            video_fraction=self.video_fraction,
            n_frames=self.n_frames,
            size=self.size,
            progress=progress,
        )


def jsonl_text(samples: list[Sample]) -> str:
    """The exact text ``write_jsonl`` writes for ``samples`` (what the sha256 covers)."""
    return "".join(json.dumps(s.to_dict(), separators=(",", ":")) + "\n" for s in samples)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def heldout_text(path: str | os.PathLike[str] = HELDOUT_FILE) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return fh.read()


def load_heldout() -> list[Sample]:
    """The committed held-out samples, after checking their hash against the spec."""
    spec = HeldoutSpec.load()
    text = heldout_text()
    digest = sha256_text(text)
    if digest != spec.sha256:
        raise ValueError(
            f"{HELDOUT_FILE} has sha256 {digest}, {HELDOUT_SPEC} freezes {spec.sha256}: "
            "the held-out set was modified"
        )
    return parse_lines(io.StringIO(text), str(HELDOUT_FILE))


def load_reworded(heldout: list[Sample] | None = None) -> list[Sample]:
    """The reworded samples: a held-out sample each, with the query replaced by hand-written
    wording (id ``<source>-rw<k>``; ``extra`` names the source and its template query)."""
    by_id = {s.id: s for s in (heldout if heldout is not None else load_heldout())}
    entries = json.loads(REWORDED_FILE.read_text(encoding="utf-8"))["queries"]
    out, seen = [], set()
    for k, e in enumerate(entries):
        src = by_id.get(e["source"])
        if src is None:
            raise ValueError(f"{REWORDED_FILE}: entry {k} names unknown sample {e['source']!r}")
        sid = f"{src.id}-rw{k}"
        if e["query"] in seen or e["query"] == src.query:
            raise ValueError(f"{REWORDED_FILE}: entry {k} repeats a query: {e['query']!r}")
        seen.add(e["query"])
        out.append(
            replace(
                src,
                id=sid,
                query=e["query"],
                # the oracle chain's reasoning quotes the template's wording; its plan and
                # answer still hold, so the oracle replays it unchanged
                split="reworded",
                extra={"source": src.id, "template_query": src.query},
            )
        )
    return out


def load_named(name: str) -> list[Sample]:
    if name == "heldout":
        return load_heldout()
    if name == "reworded":
        return load_reworded()
    raise ValueError(f"unknown sample set {name!r}; named sets: {', '.join(NAMED_SETS)}")


def write_heldout(out_dir: str | os.PathLike[str], progress: bool = True) -> Path:
    """Regenerate the held-out set from its spec into ``<out_dir>/heldout.jsonl``; a
    ValueError when the generator no longer reproduces the frozen file."""
    spec = HeldoutSpec.load()
    samples = spec.generate(progress=progress)
    digest = sha256_text(jsonl_text(samples))
    path = write_jsonl(Path(out_dir) / "heldout.jsonl", samples)
    if digest != spec.sha256:
        raise ValueError(
            f"wrote {path}, but the generator (version {GENERATOR_VERSION}) no longer "
            f"reproduces the frozen held-out set (version {spec.generator_version}): sha256 "
            f"{digest} != {spec.sha256}; evaluate the committed set with `frs eval heldout`"
        )
    return path


def freeze(spec: HeldoutSpec, path: str | os.PathLike[str] = HELDOUT_FILE) -> HeldoutSpec:
    """Generate ``spec``'s samples, write them gzipped (reproducible bytes: no name or time
    in the header) and return the spec with their count and hash (maintainers only)."""
    samples = spec.generate(progress=True)
    text = jsonl_text(samples)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return replace(spec, n_samples=len(samples), sha256=sha256_text(text))
