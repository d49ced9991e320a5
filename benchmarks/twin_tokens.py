"""Compact vs verbose prompt form of a twin: characters and tokens.

Two tokenizers count tokens: the tiny profile's BPE (trained mostly on compact twins and
protocol text, so it favours the compact form) and a *neutral* byte-level BPE trained here
on equal amounts of both forms from other seeds. Target: compact ≤ 1/4 of verbose at
20 objects × 8 frames.

    python benchmarks/twin_tokens.py
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from frs_ros.reasoning.runtime.tiny_tokenizer import load_tiny_tokenizer
from frs_ros.twin import to_compact, to_verbose
from frs_ros.twin.synthetic import random_twin

SCENES = [(n, t) for n in (5, 20, 50) for t in (1, 8)]


def neutral_bpe(vocab_size: int = 8000) -> Tokenizer:
    corpus = []
    for seed in range(100, 112):
        twin = random_twin(12, 4, seed=seed)
        corpus += [to_compact(twin), to_verbose(twin)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False))
    return tok


def main() -> None:
    tiny = load_tiny_tokenizer()
    neutral = neutral_bpe()
    print(
        "| objects | frames | compact chars | verbose chars | ratio | compact tok (tiny) "
        "| verbose tok (tiny) | ratio | compact tok (neutral) | verbose tok (neutral) | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, t in SCENES:
        twin = random_twin(n, t, seed=0)
        c, v = to_compact(twin), to_verbose(twin)
        ct, vt = len(tiny(c)["input_ids"]), len(tiny(v)["input_ids"])
        cn, vn = len(neutral.encode(c).ids), len(neutral.encode(v).ids)
        print(
            f"| {n} | {t} | {len(c)} | {len(v)} | {len(c) / len(v):.3f} | {ct} | {vt} "
            f"| {ct / vt:.3f} | {cn} | {vn} | {cn / vn:.3f} |"
        )


if __name__ == "__main__":
    main()
