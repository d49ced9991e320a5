"""LoRA adapters shipped inside the package (``frs_ros/assets/adapters/NAME``), named in a
reasoner config as ``adapter: asset:NAME``.

Every shipped adapter directory holds ``sha256.json`` (file name -> sha256 of its bytes).
The files are checked against it before peft reads them: a damaged or swapped adapter is
refused with a message naming the file, never served. A local adapter directory that has a
``sha256.json`` is checked the same way.

Ship a trained adapter: ``python -m frs_ros.reasoning.shipped runs/student_cpu/student/final
student_smollm2`` (copies the adapter's config and weights, writes ``sha256.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

ASSET_PREFIX = "asset:"
ADAPTERS_DIR = Path(__file__).resolve().parents[1] / "assets" / "adapters"
CHECKSUMS = "sha256.json"
# what a peft LoRA adapter needs at load time (the base model brings the tokenizer)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class AdapterChecksumError(ValueError):
    """An adapter file does not match the sha256 recorded next to it."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_adapters() -> list[str]:
    """Names usable as ``asset:NAME``."""
    if not ADAPTERS_DIR.is_dir():
        return []
    return sorted(p.name for p in ADAPTERS_DIR.iterdir() if (p / CHECKSUMS).is_file())


def verify_adapter(directory: str | os.PathLike[str]) -> None:
    """Check every file listed in ``directory/sha256.json``; raise
    :class:`AdapterChecksumError` on a missing file or a mismatch."""
    d = Path(directory)
    try:
        expected = json.loads((d / CHECKSUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AdapterChecksumError(f"adapter {d}: unreadable {CHECKSUMS}: {err}") from None
    if not isinstance(expected, dict) or not expected:
        raise AdapterChecksumError(f"adapter {d}: {CHECKSUMS} lists no files")
    for name, digest in sorted(expected.items()):
        f = d / name
        if not f.is_file():
            raise AdapterChecksumError(f"adapter {d}: {name} is missing")
        got = _sha256(f)
        if got != digest:
            raise AdapterChecksumError(
                f"adapter {d}: sha256 of {name} is {got}, expected {digest}; refusing to load it"
            )


def resolve_adapter(spec: str | os.PathLike[str] | None) -> str | None:
    """The adapter directory to load for ``spec`` (``asset:NAME`` or a path / hub id),
    verified against its ``sha256.json`` when it has one (shipped adapters always do)."""
    if spec is None or str(spec) == "":
        return None
    text = str(spec)
    if text.startswith(ASSET_PREFIX):
        name = text[len(ASSET_PREFIX) :]
        path = ADAPTERS_DIR / name
        if "/" in name or not (path / CHECKSUMS).is_file():
            shipped = ", ".join(shipped_adapters()) or "none"
            raise FileNotFoundError(f"no shipped adapter {text!r} (shipped: {shipped})")
        verify_adapter(path)
        return str(path)
    if (Path(text) / CHECKSUMS).is_file():
        verify_adapter(text)
    return text


def ship_adapter(source: str | os.PathLike[str], name: str) -> Path:
    """Copy a trained adapter's load-time files into ``ADAPTERS_DIR/name`` and record their
    sha256; returns the directory."""
    src, dest = Path(source), ADAPTERS_DIR / name
    missing = [f for f in ADAPTER_FILES if not (src / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{src} is not a LoRA adapter directory (no {', '.join(missing)})")
    dest.mkdir(parents=True, exist_ok=True)
    sums = {}
    for f in ADAPTER_FILES:
        shutil.copyfile(src / f, dest / f)
        sums[f] = _sha256(dest / f)
    (dest / CHECKSUMS).write_text(json.dumps(sums, indent=2) + "\n", encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="ship a trained LoRA adapter with the package")
    p.add_argument("adapter", help="trained adapter directory (adapter_config.json + weights)")
    p.add_argument("name", help="asset name: served as `adapter: asset:NAME`")
    args = p.parse_args(argv)
    dest = ship_adapter(args.adapter, args.name)
    print(f"shipped {args.adapter} -> {dest} (adapter: {ASSET_PREFIX}{args.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
