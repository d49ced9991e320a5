"""Export a trained student in the forms ``HFRuntime`` loads: the adapter directory
(``runtime: {model: BASE, adapter: DIR}``) and, optionally, a merged model directory
(``runtime: {model: DIR}``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from frs_ros.training.config import ExportConfig
from frs_ros.training.model import load_base


def run_export(cfg: ExportConfig) -> dict[str, str]:
    src = Path(cfg.adapter)
    out = Path(cfg.output_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"nothing to export: {src} does not exist (train first)")
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    if not (src / "adapter_config.json").is_file():  # full-weight training: already merged
        shutil.copytree(src, out / "merged", dirs_exist_ok=True)
        return {"merged": str(out / "merged")}
    shutil.copytree(src, out / "adapter", dirs_exist_ok=True)
    paths["adapter"] = str(out / "adapter")
    if cfg.merged:
        from peft import PeftModel

        base, tokenizer = load_base(cfg.model)
        merged = PeftModel.from_pretrained(base, str(src)).merge_and_unload()
        merged.save_pretrained(out / "merged")
        tokenizer.save_pretrained(out / "merged")
        paths["merged"] = str(out / "merged")
    return paths
