"""Reworded training queries (frs_ros.benchmark.paraphrase, ``frs bench generate --paraphrase``)."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

from frs_ros.benchmark import generate_split
from frs_ros.benchmark.paraphrase import ALTERNATIVES, reword
from frs_ros.cli import main


def test_every_template_phrase_is_replaced_and_the_longest_match_wins():
    rng = np.random.default_rng(0)
    assert reword("the mug left of the plate", rng) == "the mug to the left of the plate"
    # "the object nearest to the camera" is one phrase, not "nearest to the camera" inside it
    assert (
        reword("the object nearest to the camera", rng)
        in ALTERNATIVES["the object nearest to the camera"]
    )
    composed = reword("the largest thing I could eat", rng)
    assert composed.split()[1] == "biggest" and "thing I could eat" not in composed
    assert reword("the red mug", rng) == "the red mug"  # no template phrase: unchanged


def test_reworded_samples_keep_scene_answer_and_chain():
    plain = generate_split("train", 2, seed=3, progress=False)
    reworded = generate_split("train", 2, seed=3, paraphrase=1.0, progress=False)
    changed = 0
    for a, b in zip(plain, reworded, strict=True):
        assert (a.id, a.gt_ids, a.chain, a.twin.to_dict()) == (
            b.id,
            b.gt_ids,
            b.chain,
            b.twin.to_dict(),
        )
        if b.query != a.query:
            changed += 1
            assert b.extra == {"template_query": a.query}
        else:
            assert b.extra == {}
    assert changed >= len(plain) * 3 // 4  # almost every template has a phrase to reword
    assert (
        generate_split("train", 2, seed=3, paraphrase=0.0, progress=False)[0].query
        == plain[0].query
    )


def test_the_reworded_evaluation_set_keeps_words_training_never_saw():
    """A reworded evaluation query may share words with an alternative only where the
    templates already use those words; otherwise training on the alternatives would
    teach the evaluation set's wording."""
    data = json.loads(
        resources.files("frs_ros.benchmark").joinpath("data/reworded.json").read_text()
    )
    template_words = " ".join(ALTERNATIVES)
    for entry in data["queries"]:
        for alternatives in ALTERNATIVES.values():
            for alt in alternatives:
                if re.search(rf"\b{re.escape(alt)}\b", entry["query"]):
                    assert re.search(rf"\b{re.escape(alt)}\b", template_words), (alt, entry)


def test_the_paraphrase_share_is_checked(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "generate", "--out", "unused", "--paraphrase", "1.5"])
    assert exit_info.value.code == 2
    assert "--paraphrase" in capsys.readouterr().err
