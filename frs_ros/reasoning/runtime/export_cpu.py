"""``frs export-cpu``: a trained student -> the ort-genai CPU runtime's model directory.

Kept apart from :mod:`~frs_ros.reasoning.runtime.ort_genai` so building the ``frs``
parser does not import torch or onnxruntime-genai.
"""

from __future__ import annotations

import argparse
from typing import Any

PRECISIONS = ("int4", "int8", "fp32")


def add_export_cpu_parser(sub: Any) -> None:
    """``frs export-cpu MODEL [--adapter DIR] [--precision int4] --out DIR``."""
    p = sub.add_parser(
        "export-cpu",
        help="convert a trained student to int4/int8 ONNX for the ort-genai CPU runtime",
    )
    p.add_argument("model", help="hub id, merged checkpoint directory, or tiny (random test model)")
    p.add_argument("--adapter", default=None, help="LoRA adapter directory, merged first")
    p.add_argument("--precision", choices=PRECISIONS, default="int4")
    p.add_argument("--out", required=True, help="output directory (runtime.model of ort-genai)")
    p.add_argument("--work-dir", default=None, help="where the temporary float32 copy goes")
    p.set_defaults(func=cmd_export_cpu)


def cmd_export_cpu(args: argparse.Namespace) -> int:
    from frs_ros.reasoning.runtime.ort_genai import convert

    out = convert(
        args.model, args.out, adapter=args.adapter, precision=args.precision, work_dir=args.work_dir
    )
    print(f"export-cpu: {args.precision} -> {out}")
    print(f"use it with `runtime: {{kind: ort-genai, model: {out}}}` (config/reasoner_cpu.yaml)")
    return 0
