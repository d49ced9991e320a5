"""Training queries reworded by a language model, checked so that their answer still holds.

The generator's templates and their hand-written alternatives (:mod:`.paraphrase`) are a
few hundred phrases; a student trained on them loses a quarter of its J on queries worded
by someone else (docs/training.md, "The reworded set"). ``frs bench reword`` asks a local
LLM (the teacher, Qwen2.5-Coder-1.5B from ``frs models get``) for other wordings of each
training query and keeps one that passes :func:`check_rewording`:

- it names every object kind the template names, and no other kind (a kind it adds would
  change what ``find`` should look for);
- it keeps each relation the template states (left/right, above/below, near/far,
  large/small, appeared/disappeared) and never states the opposite one;
- it is one short phrase and not the template itself.

What the check cannot see is a changed *property* ("something to drink from" for "what
could burn my hand"); the prompt asks for the same meaning, and the kept wordings are
written out (``rewordings.jsonl``) so they can be read. The sample's scene, answer and
chain are unchanged; the template's wording stays in ``extra["template_query"]``.

Resumable: each sample's outcome is appended to ``rewordings.jsonl`` as it is decided; a
rerun into the same folder skips the samples already there (sampling continues from a
fresh seed, so a resumed run is not bit-identical to an uninterrupted one).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from frs_ros.benchmark.vocabulary import KINDS
from frs_ros.reasoning.runtime.base import LLMRuntime
from frs_ros.samples import Sample, read_appended, write_jsonl

REWORDINGS = "rewordings.jsonl"  # the per-sample log (and the resume point)
REPORT = "reword_report.md"

SYSTEM_PROMPT = (
    "You reword requests that a person says to a household robot about the objects it sees. "
    "Say the same request in other everyday words, the way a different person would say it: "
    "a question, a command or a short phrase, no longer than the request. Keep the meaning "
    "exactly: the same object names, the same purpose, the same relation (left, right, "
    "above, below, inside, nearest, farthest, largest, smallest) and the same change over "
    "time (moved, appeared, disappeared). Reply with the reworded request only, on one line.\n"
    "Examples (written for this prompt, not taken from any test set):\n"
    "Request: something I could pour water into -> is there anything I can fill with water\n"
    "Request: the cup right of the plate -> which cup sits to the right of the plate\n"
    "Request: the largest thing I could eat -> the biggest piece of food\n"
    "Request: the objects that moved -> show me what has been shifted"
)
#: What the user turn says before the template query.
REQUEST = "Request: {query} ->"


@dataclass(frozen=True)
class RewordConfig:
    """``fraction``: share of the samples whose query is sent to the model (drawn with
    ``seed``); ``candidates``: wordings drawn per query, the first that passes is kept;
    ``max_new_tokens``: bound on one wording's length; ``categories``: only samples of
    these categories are sent (empty: all); ``add``: a kept wording is added as a copy
    (id ``<id>-llm``) beside the original sample instead of replacing its query."""

    fraction: float = 0.5
    candidates: int = 3
    max_new_tokens: int = 40
    seed: int = 0
    categories: tuple[str, ...] = ()
    add: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        if self.candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {self.candidates}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


# ----------------------------------------------------------------------------- the check

_KIND_NAMES = tuple(k.name for k in KINDS)
# "box" matches "box"/"boxes", "knife" matches "knives"; never "boxing" or "cupboard"
_PLURAL_FORMS = {"knife": ("knife", "knives"), "scissors": ("scissors", "scissor")}

#: Relations whose opposite would flip the answer: (name, its words, the opposite's words).
#: The template's relation must be said (any of its words) and the opposite must not.
_OPPOSITES: tuple[tuple[str, str, str], ...] = (
    ("left", r"left(?:most)?", r"right(?:most)?"),
    ("above", r"above|over|on top|higher|upper", r"below|under(?:neath)?|beneath|lower"),
    (
        "near",
        r"near(?:est|er|by)?|clos(?:e|est|er)",
        r"far(?:thest|ther)?|furthest|distant|away from (?:me|the camera)",
    ),
    # superlatives and comparatives only: "small items" and "a small child" are no ranking
    ("large", r"larg(?:est|er)\b|bigg(?:est|er)|huge", r"small(?:est|er)|tin(?:iest|ier)|littlest"),
    (
        "appeared",
        r"appear(?:ed|s)?|show(?:ed|s)? up|arriv|came in|entered|new",
        r"disappear|vanish|gone|no longer|missing|left the|out of (?:view|sight)",
    ),
)
#: Temporal events with no opposite here: still, the template's event must be said.
_EVENTS: tuple[tuple[str, str], ...] = (
    ("moved", r"mov|shift|displac|relocat|chang\w* (?:place|position)"),
    ("taken", r"tak|took|remov|lift|pull"),
)


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{pattern})", re.IGNORECASE)


def _kind_pattern(name: str) -> re.Pattern[str]:
    forms = _PLURAL_FORMS.get(name, (name, name + "s", name + "es"))
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, forms))})\b", re.IGNORECASE)


_KINDS = {name: _kind_pattern(name) for name in _KIND_NAMES}
_RELATIONS = [(name, _words(yes), _words(no)) for name, yes, no in _OPPOSITES]
# both directions: "below" must be kept too, and must not turn into "above"
_RELATIONS += [(f"not {name}", no, yes) for name, yes, no in _RELATIONS]
_EVENT_WORDS = [(name, _words(pattern)) for name, pattern in _EVENTS]


def normalize(text: str) -> str:
    """One line, lower case, without surrounding quotes or a closing full stop or question
    mark: the form the templates are written in."""
    text = " ".join(text.replace("\u2019", "'").split()).strip().strip("\"'`").strip()
    text = re.sub(r"^(?:request|reworded)\s*:\s*", "", text, flags=re.IGNORECASE)  # echoed
    return text.rstrip(".?!").strip().lower()


def kinds_named(text: str) -> set[str]:
    """The vocabulary's object kinds that ``text`` names (singular or plural)."""
    return {name for name, pattern in _KINDS.items() if pattern.search(text)}


def check_rewording(template: str, candidate: str, *, extra_words: int = 5) -> str | None:
    """Why ``candidate`` cannot stand for ``template`` (None: it can). Both are compared in
    :func:`normalize`'d form; a wording may be ``extra_words`` longer than the template (a
    long one tends to add meaning)."""
    template, candidate = normalize(template), normalize(candidate)
    n_words = len(candidate.split())
    if not 2 <= n_words <= len(template.split()) + extra_words:
        return "length"
    if candidate == template:
        return "unchanged"
    if not re.fullmatch(r"[a-z0-9 ,'\-]+", candidate):
        return "characters"
    wanted, said = kinds_named(template), kinds_named(candidate)
    if wanted - said:
        return "kind dropped"
    if said - wanted:
        return "kind added"
    for name, yes, no in _RELATIONS:
        if yes.search(template) and not no.search(template):
            if no.search(candidate):
                return f"relation flipped ({name})"
            if not yes.search(candidate):
                return f"relation dropped ({name})"
    for name, pattern in _EVENT_WORDS:
        if pattern.search(template) and not pattern.search(candidate):
            return f"event dropped ({name})"
    return None


# ----------------------------------------------------------------------------- the job


def propose(runtime: LLMRuntime, template: str, config: RewordConfig) -> list[str]:
    """``config.candidates`` wordings of ``template`` drawn from ``runtime`` (which should
    sample: with greedy decoding every draw is the same), normalized."""
    prompt = runtime.format_prompt(SYSTEM_PROMPT, REQUEST.format(query=template))
    out = []
    for _ in range(config.candidates):
        completion = runtime.complete(prompt, stop=["\n"], max_new_tokens=config.max_new_tokens)
        out.append(normalize(completion.text))
    return out


def choose(template: str, candidates: Sequence[str]) -> tuple[str | None, list[str]]:
    """The first candidate that passes :func:`check_rewording`, and the rejection reasons
    of those tried before it (all of them when none passes)."""
    reasons: list[str] = []
    for candidate in candidates:
        reason = check_rewording(template, candidate)
        if reason is None:
            return candidate, reasons
        reasons.append(reason)
    return None, reasons


@dataclass
class RewordReport:
    """Counts per category: samples sent to the model, wordings kept, rejection reasons."""

    out_dir: Path
    sent: Counter[str]
    kept: Counter[str]
    reasons: Counter[str]
    n_samples: int
    n_new: int

    def markdown(self) -> str:
        rows = [
            "| category | samples sent | reworded | kept share |",
            "|---|---:|---:|---:|",
        ]
        for cat in sorted(self.sent):
            sent, kept = self.sent[cat], self.kept[cat]
            rows.append(f"| {cat} | {sent} | {kept} | {kept / sent:.0%} |")
        total_sent, total_kept = sum(self.sent.values()), sum(self.kept.values())
        share = total_kept / total_sent if total_sent else 0.0
        rows.append(f"| all | {total_sent} | {total_kept} | {share:.0%} |")
        reasons = ", ".join(f"{r} {n}" for r, n in self.reasons.most_common()) or "none"
        return (
            f"{self.n_samples} samples, {total_kept} reworded by the model "
            f"({self.n_new} decided in this run)\n\n" + "\n".join(rows) + "\n\n"
            f"Rejected wordings by reason: {reasons}\n"
        )


def reword_samples(
    samples: Sequence[Sample],
    runtime: LLMRuntime,
    out_dir: str | os.PathLike[str],
    *,
    config: RewordConfig | None = None,
    model_name: str = "",
    progress: bool = True,
) -> RewordReport:
    """Write every sample of ``samples`` to ``out_dir/train.jsonl``, a drawn share of them
    with a model's wording of their template query (see the module docstring), and return
    the counts (also written to ``out_dir/reword_report.md``)."""
    config = config or RewordConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / REWORDINGS
    decided = {rec["id"]: rec for rec in read_appended(log_path)}
    draws = np.random.default_rng(config.seed).random(len(samples))  # fixed per position
    chosen = [
        s
        for s, u in zip(samples, draws, strict=True)
        if u < config.fraction and (not config.categories or s.category in config.categories)
    ]
    todo = [s for s in chosen if s.id not in decided]

    with log_path.open("a", encoding="utf-8") as fh:
        for sample in tqdm(todo, desc="reword", disable=not progress):
            template = _template_query(sample)
            candidates = propose(runtime, template, config)
            kept, reasons = choose(template, candidates)
            record = {
                "id": sample.id,
                "category": sample.category,
                "template": template,
                "kept": kept,
                "candidates": candidates,
                "rejected": reasons,
            }
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # a kill loses at most the sample being reworded
            decided[sample.id] = record

    by_id = {s.id: s for s in chosen}
    report = RewordReport(out, Counter(), Counter(), Counter(), len(samples), len(todo))
    for rec in decided.values():
        if rec["id"] not in by_id:  # a log from another draw or input: not counted
            continue
        report.sent[rec["category"]] += 1
        report.kept[rec["category"]] += rec["kept"] is not None
        report.reasons.update(rec["rejected"] if rec["kept"] is None else [])
    sent = {sid: rec for sid, rec in decided.items() if sid in by_id}
    write_jsonl(out / "train.jsonl", _apply(samples, sent, model_name, config.add))
    (out / REPORT).write_text(report.markdown(), encoding="utf-8")
    return report


def _template_query(sample: Sample) -> str:
    """The generator's own wording (a :mod:`.paraphrase` rewording keeps it in extra)."""
    return str(sample.extra.get("template_query") or sample.query)


def _apply(
    samples: Iterable[Sample], decided: dict[str, dict[str, Any]], model_name: str, add: bool
) -> Iterable[Sample]:
    for sample in samples:
        rec = decided.get(sample.id)
        if add or rec is None or rec["kept"] is None:
            yield sample
        if rec is None or rec["kept"] is None:
            continue
        extra = {
            **sample.extra,
            "template_query": _template_query(sample),
            "reworded_by": model_name or "llm",
        }
        new_id = f"{sample.id}-llm" if add else sample.id
        yield dataclasses.replace(sample, id=new_id, query=rec["kept"], extra=extra)
