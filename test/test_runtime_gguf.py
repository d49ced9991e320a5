"""Real pretrained weights (GGUF) through the transformers runtime.

The end-to-end test needs a model file assembled beforehand with
``frs models get smollm2-135m-instruct-gguf --dir models`` (the folder can be moved with
``FRS_MODELS_DIR``) and the ``gguf`` package; it is skipped otherwise and never downloads.
"""

import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path

import pytest

from frs_ros.reasoning import Reasoner, ReasonerConfig
from frs_ros.reasoning.grammar import ProtocolGrammar
from frs_ros.reasoning.model_sources import find_source
from frs_ros.reasoning.protocol import check_format
from frs_ros.reasoning.runtime import load_runtime
from frs_ros.reasoning.runtime.hf import HFRuntime, ModelNotAvailableError
from frs_ros.twin import Twin

ROOT = Path(__file__).resolve().parents[1]
SMOL = find_source("smollm2-135m-instruct-gguf")
MODEL = Path(os.environ.get("FRS_MODELS_DIR", ROOT / "models")) / SMOL.filename


def test_missing_gguf_file_says_how_to_get_it(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="frs models get"):
        HFRuntime.from_pretrained(tmp_path / "absent.gguf")


def test_missing_gguf_package_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf raises ImportError
    with pytest.raises(ImportError, match=r"frs_ros\[gguf\]"):
        HFRuntime.from_pretrained(tmp_path / "m.gguf")


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gguf") is None, reason="the gguf package is not installed"
)
@pytest.mark.skipif(
    not MODEL.is_file(),
    reason=f"{MODEL} is absent: run `frs models get {SMOL.name} --dir models` once",
)
def test_real_gguf_model_answers_a_query_on_the_example_twin():
    twin = Twin.from_dict(json.loads((ROOT / "examples/kitchen_image/twin.json").read_text()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runtime = load_runtime({"kind": "hf", "model": str(MODEL), "constrained": True})
    assert runtime.format_prompt("S", "U").endswith("<|im_start|>assistant\n")  # its template
    runtime.grammar = ProtocolGrammar(max_reason_chars=60)  # a short reason keeps this quick
    reasoner = Reasoner(runtime, ReasonerConfig(max_new_tokens=96, timeout_s=900))
    result = reasoner.answer(twin, "the thing I could read")
    assert result.n_tokens > 0 and result.outcome != "unparseable", result.transcript.rollout
    if result.outcome in ("answered", "empty"):
        assert check_format(result.transcript.rollout)
