"""Build the tiny profile's tokenizer (``frs_ros/assets/tiny_llm/``).

No tokenizer can be downloaded here (docs/DESIGN.md §7), so the tiny profile ships a small
byte-level BPE trained on text generated below: compact and verbose twin JSON, protocol
blocks with tool calls, and English queries. It has Qwen's special tokens and a Qwen3-like
chat template, and the protocol tags are whole tokens so stopping and loss masks are clean.

Rebuild (deterministic: same corpus, same files):
    python -m frs_ros.reasoning.runtime.tiny_tokenizer [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # transformers is imported lazily at run time
    from transformers import PreTrainedTokenizerFast

TINY_TOKENIZER_DIR = Path(__file__).resolve().parents[2] / "assets" / "tiny_llm"
VOCAB_SIZE = 3000

# Qwen's special tokens: <|endoftext|> pads, <|im_end|> ends an assistant turn.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Ordinary added tokens (kept when decoding with skip_special_tokens), as in Qwen3.
THINK_TOKENS = ("<think>", "</think>")
PROTOCOL_TAGS = tuple(
    f"<{close}{tag}>" for tag in ("reason", "plan", "results", "answer") for close in ("", "/")
)

# Qwen3's template reduced to system/user/assistant turns (no tool schema): with
# enable_thinking=False the assistant turn opens with an empty think block, like Qwen3.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

_TOOLS = ("filter", "relation", "nearest", "farthest", "sort", "describe", "track", "count")
_ADJ = ("left", "right", "closest", "largest", "smallest", "red", "moving", "empty", "tall")
_QUERIES = (
    "Which object could I pour hot tea into?",
    "Segment the {lb} to the {adj} of the {lb2}.",
    "Find the {adj} {lb} on the table.",
    "the thing I would use to cut the {lb}",
    "Is there a {lb} closer to the camera than the {lb2}?",
    "Show me every {lb} that moved during the clip.",
    "the one to its {adj}",
    "Pick the {lb} nearest to me, not the {lb2}.",
)


def _sentences(rng: np.random.Generator, n: int) -> Iterator[str]:
    from frs_ros.twin.synthetic import LABELS

    for _ in range(n):
        template = _QUERIES[int(rng.integers(len(_QUERIES)))]
        yield template.format(
            lb=LABELS[int(rng.integers(len(LABELS)))],
            lb2=LABELS[int(rng.integers(len(LABELS)))],
            adj=_ADJ[int(rng.integers(len(_ADJ)))],
        )


def _rollout(rng: np.random.Generator, query: str, ids: list[int]) -> str:
    from frs_ros.twin.synthetic import LABELS

    calls = [
        {
            "tool": _TOOLS[int(rng.integers(len(_TOOLS)))],
            "args": {"label": LABELS[int(rng.integers(len(LABELS)))], "ids": ids[:2]},
        }
        for _ in range(int(rng.integers(1, 3)))
    ]
    results = {"ok": True, "ids": ids, "d": [round(float(rng.uniform(0.5, 4)), 2) for _ in ids]}
    answer = ids[: int(rng.integers(0, 3))]
    return (
        f"<reason>The query asks: {query} I check the objects and their depth.</reason>"
        f"<plan>{json.dumps(calls)}</plan><results>{json.dumps(results)}</results>"
        f"<answer>{json.dumps({'ids': answer})}</answer>"
    )


def corpus(n_twins: int = 60, seed: int = 0) -> Iterator[str]:
    """The training text: a fixed function of ``seed``."""
    from frs_ros.twin import to_compact, to_verbose
    from frs_ros.twin.synthetic import random_twin

    rng = np.random.default_rng(seed)
    for i in range(n_twins):
        twin = random_twin(
            int(rng.integers(2, 12)), int(rng.integers(1, 4)), size=(120, 160), seed=seed + i
        )
        yield to_compact(twin)
        if i % 4 == 0:
            yield to_verbose(twin)
        ids = [o.id for o in twin.frames[-1].objects]
        for query in _sentences(rng, 4):
            yield query
            yield _rollout(rng, query, ids)


def build(out_dir: Path = TINY_TOKENIZER_DIR, vocab_size: int = VOCAB_SIZE) -> Path:
    """Train the BPE and save it as a ``PreTrainedTokenizerFast`` in ``out_dir``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS + PROTOCOL_TAGS]
    )
    # transformers leaves the tokenizer constructor unannotated (*args, **kwargs)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=CHAT_TEMPLATE,
        model_max_length=32768,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return out_dir


def load_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """The committed tiny tokenizer."""
    from transformers import PreTrainedTokenizerFast

    if not (TINY_TOKENIZER_DIR / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"tiny tokenizer missing in {TINY_TOKENIZER_DIR}; rebuild it with "
            "`python -m frs_ros.reasoning.runtime.tiny_tokenizer`"
        )
    # from_pretrained is typed Any in transformers; the class loads itself
    tokenizer: PreTrainedTokenizerFast = PreTrainedTokenizerFast.from_pretrained(
        str(TINY_TOKENIZER_DIR)
    )
    return tokenizer


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else TINY_TOKENIZER_DIR))
