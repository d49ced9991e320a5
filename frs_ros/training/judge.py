"""LLM-as-judge for the reasoning reward (FastReasonSeg §3, docs/DESIGN.md §5).

A separate LLM (any :class:`~frs_ros.reasoning.runtime.LLMRuntime`: a local HF model or an
OpenAI-compatible endpoint, built with ``load_runtime``) scores a student chain against
the teacher chain in [0, 1]: temperature 0.3, at most 512 new tokens. The score is parsed
robustly ("Score: 0.8", "8/10", "80%", ``{"score": 0.8}``), clamped to [0, 1], and is 0
when nothing parses or every attempt failed. Transport errors are retried with back-off.
Scores are cached on disk, keyed by a hash of both chains and the judge id, so re-running
a stage never pays for the same judgement twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frs_ros.reasoning.runtime.base import LLMRuntime

log = logging.getLogger(__name__)

SYSTEM = (
    "You grade reasoning chains. Compare the STUDENT chain with the TEACHER chain for the "
    "same query and scene: logical consistency, completeness and accuracy of the steps and "
    "of the final answer. Reply with one line: Score: X, where X is between 0 and 1."
)

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    urllib.error.URLError,
)


@dataclass
class JudgeConfig:
    runtime: dict[str, Any] = field(default_factory=dict)  # a load_runtime() mapping
    judge_id: str = ""  # cache key part; "" = derived from the runtime mapping
    temperature: float = 0.3
    max_new_tokens: int = 512
    retries: int = 3
    backoff_s: float = 1.0
    cache_dir: str = "runs/judge_cache"


_NUM = r"([-+]?\d+(?:\.\d+)?)"
_PATTERNS = (
    re.compile(r"\"?score\"?\s*[:=]\s*" + _NUM + r"\s*(?:/\s*" + _NUM + r"|(%))?", re.I),
    re.compile(_NUM + r"\s*/\s*" + _NUM),
    re.compile(_NUM + r"\s*(%)"),
    re.compile(r"(?<![\w.])" + _NUM + r"(?![\w.])"),
)


def parse_score(text: str) -> float:
    """The first score found in ``text`` as a float in [0, 1]; 0.0 when none is found.

    Tries, in order: ``score: X`` (optionally ``X/N`` or ``X%``), ``X/N``, ``X%``, and a
    bare number. An integer above 1 without a denominator is read as out of 10 (up to 10)
    or out of 100 (up to 100), as judges often answer "8"; anything else is clamped to [0, 1].
    """
    if not isinstance(text, str):
        return 0.0
    for pattern in _PATTERNS:
        m = pattern.search(text)
        if m is None:
            continue
        groups = [g for g in m.groups()]
        value = float(groups[0])
        rest = groups[1:]
        if rest and rest[0] not in (None, "%"):
            denom = float(rest[0])
            value = value / denom if denom > 0 else 0.0
        elif "%" in rest:
            value /= 100.0
        elif value > 1 and value == int(value) and value <= 100:
            value /= 10.0 if value <= 10 else 100.0  # "8" -> out of 10, "85" -> out of 100
        return _clamp(value)
    return 0.0


def _clamp(v: float) -> float:
    if math.isnan(v):
        return 0.0
    return min(1.0, max(0.0, v))


class Judge:
    """Scores student chains against teacher chains with a judge LLM (cached on disk)."""

    def __init__(self, runtime: LLMRuntime, config: JudgeConfig | None = None) -> None:
        self.runtime = runtime
        self.config = config or JudgeConfig()
        self.judge_id = self.config.judge_id or json.dumps(self.config.runtime, sort_keys=True)
        self.cache_dir = Path(self.config.cache_dir)
        self.calls = 0  # judge LLM calls made (cache hits do not count)

    @classmethod
    def from_config(cls, config: JudgeConfig | dict[str, Any]) -> Judge:
        from frs_ros.reasoning.runtime import Sampling, load_runtime

        cfg = config if isinstance(config, JudgeConfig) else JudgeConfig(**config)
        spec = dict(cfg.runtime)
        if not spec:
            raise ValueError(
                "judge.runtime is empty: give a load_runtime mapping (kind: hf|openai)"
            )
        spec["sampling"] = {**dict(spec.get("sampling") or {}), "temperature": cfg.temperature}
        runtime = load_runtime(spec)
        if getattr(runtime, "sampling", None) is None:
            # attr-defined: LLMRuntime does not declare sampling; a runtime without its own
            # sampling settings is given the judge's
            runtime.sampling = Sampling(temperature=cfg.temperature)  # type: ignore[attr-defined]
        return cls(runtime, cfg)

    def key(self, student: str, teacher: str) -> str:
        h = hashlib.sha256()
        for part in (self.judge_id, student, teacher):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    def prompt(self, student: str, teacher: str) -> str:
        user = f"TEACHER chain:\n{teacher}\n\nSTUDENT chain:\n{student}\n\nScore:"
        return self.runtime.format_prompt(SYSTEM, user)

    def score(self, student: str, teacher: str) -> float:
        key = self.key(student, teacher)
        path = self.cache_dir / key[:2] / f"{key}.json"
        if path.is_file():
            try:
                return float(json.loads(path.read_text())["score"])
            except (ValueError, KeyError, TypeError):
                log.warning("judge cache entry %s is corrupted; judging again", path)
        text = self._ask(student, teacher)
        value = 0.0 if text is None else parse_score(text)
        if text is not None:  # failures are not cached: a later run may reach the judge
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"score": value, "reply": text}))
            tmp.replace(path)
        return value

    def _ask(self, student: str, teacher: str) -> str | None:
        prompt = self.prompt(student, teacher)
        for attempt in range(self.config.retries + 1):
            try:
                self.calls += 1
                return self.runtime.complete(
                    prompt, stop=["\n\n"], max_new_tokens=self.config.max_new_tokens
                ).text
            except TRANSPORT_ERRORS + _endpoint_errors() as err:
                if attempt == self.config.retries:
                    log.warning("judge failed after %d attempts: %s", attempt + 1, err)
                    return None
                time.sleep(self.config.backoff_s * 2**attempt)
        return None


def _endpoint_errors() -> tuple[type[BaseException], ...]:
    from frs_ros.reasoning.runtime.openai import EndpointError

    return (EndpointError,)
