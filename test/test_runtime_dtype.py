"""``dtype: auto`` on CPU: the checkpoint's bf16 only where the CPU multiplies bf16 natively."""

import warnings

import pytest
import torch

from frs_ros.reasoning.runtime import hf
from frs_ros.reasoning.runtime.hf import HFRuntime, auto_dtype, cpu_flags, cpu_has_fast_bf16

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx avx2 fma {extra}
bogomips\t: 4800.00
"""
CPU = torch.device("cpu")


def test_cpu_flags_parses_proc_cpuinfo():
    flags = cpu_flags(CPUINFO.format(extra="avx512f avx512_bf16"))
    assert {"avx2", "avx512f", "avx512_bf16"} <= flags and "bogomips" not in flags
    assert cpu_flags("processor\t: 0\n") == frozenset()


@pytest.mark.parametrize(
    ("flags", "fast"),
    [
        ({"avx2", "fma"}, False),
        ({"avx512f", "avx512bw"}, False),
        ({"avx512_bf16"}, True),
        ({"amx_bf16", "amx_tile"}, True),
    ],
)
def test_fast_bf16_needs_avx512_bf16_or_amx(flags, fast):
    assert cpu_has_fast_bf16(flags) is fast


def test_auto_dtype_avoids_emulated_half_precision_on_cpu(monkeypatch):
    monkeypatch.setattr(hf, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert auto_dtype(torch.bfloat16, CPU) == torch.float32
    assert auto_dtype(torch.float16, CPU) == torch.float32
    assert auto_dtype(torch.float32, CPU) == torch.float32
    assert auto_dtype(torch.bfloat16, torch.device("cuda")) == torch.bfloat16  # GPUs keep it
    monkeypatch.setattr(hf, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert auto_dtype(torch.bfloat16, CPU) == torch.bfloat16
    assert auto_dtype(torch.float16, CPU) == torch.float32  # no fp16 fast path is detected


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt = HFRuntime.tiny(dtype="bfloat16")
    path = tmp_path_factory.mktemp("bf16") / "m"
    rt.model.save_pretrained(str(path))
    rt.tokenizer.save_pretrained(str(path))
    return path


@pytest.mark.parametrize(
    ("flags", "requested", "loaded"),
    [
        (frozenset({"avx2"}), "auto", torch.float32),
        (frozenset({"avx2", "avx512_bf16"}), "auto", torch.bfloat16),
        (frozenset({"avx2"}), "bfloat16", torch.bfloat16),  # an explicit dtype is obeyed
    ],
)
def test_from_pretrained_auto_loads_float32_without_native_bf16(
    monkeypatch, bf16_checkpoint, flags, requested, loaded
):
    monkeypatch.setattr(hf, "cpu_flags", lambda: flags)
    rt = HFRuntime.from_pretrained(bf16_checkpoint, dtype=requested)
    assert rt.model.dtype == loaded
    assert rt.complete(rt.format_prompt("S", "U"), stop=[], max_new_tokens=3).n_tokens >= 1
