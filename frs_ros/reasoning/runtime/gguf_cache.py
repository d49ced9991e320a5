"""GGUF weights -> the int4 ort-genai runtime, converted once and cached.

onnxruntime-genai's model builder reads only float16/float32 GGUF files, and the files
``frs models get`` assembles are q4_k_m; so a GGUF is dequantised once to a float32
Hugging Face checkpoint and converted by :func:`~frs_ros.reasoning.runtime.export_cpu.convert`
(the ``frs export-cpu`` route), and the result is kept under
``$FRS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/frs_ros``, else ``~/.cache/frs_ros``) in
``ort-genai/<sha256[:16]>-<size>-<precision>`` (``-all`` when the graph keeps every
position's logits, for prompt-lookup drafts). Later runs load it directly: no
dequantisation per run.

The key is the file's content (sha256 and size), not its path: a renamed or copied file
hits the same entry, a changed file misses. A LoRA adapter (``adapter:``, e.g. the shipped
student) is merged into the weights before the conversion, and its files' content is part
of the key: a retrained adapter gets its own entry. The sha256 is remembered per (path, size,
mtime) in ``sha256.json`` so a warm start does not rehash ~0.5 GB. An entry is complete only
when its manifest (written last) names the same sha256, size, precision and logits and the files
the runtime loads are there; anything else (an interrupted conversion, a deleted file)
is removed and rebuilt. Conversions build in a temporary sibling directory and are
renamed into place, under a file lock, so two processes never see half an entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "FRS_CACHE_DIR"
CACHE_MANIFEST = "frs_gguf_cache.json"
_SHA_INDEX = "sha256.json"

#: ``convert(source, out, precision, adapter, all_logits)``: writes an ort-genai model
#: directory at ``out``, with the LoRA adapter directory ``adapter`` (or None) merged in
Converter = Callable[[Path, Path, str, "Path | None", bool], object]


def cache_root() -> Path:
    """Where converted models are kept (``$FRS_CACHE_DIR``, else the user's cache dir)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "frs_ros"


@dataclass(frozen=True)
class FileKey:
    """A file's identity by content (and that of the adapter merged into it, if any)."""

    sha256: str
    size: int
    adapter_sha256: str | None = None

    def entry_name(self, precision: str, all_logits: bool = False) -> str:
        lora = f"-lora{self.adapter_sha256[:16]}" if self.adapter_sha256 else ""
        every = "-all" if all_logits else ""
        return f"{self.sha256[:16]}-{self.size}-{precision}{every}{lora}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def file_key(path: str | os.PathLike[str], *, root: Path | None = None) -> FileKey:
    """sha256 and size of ``path``; the sha256 is reused while path, size and mtime match."""
    file = Path(path).resolve()
    st = file.stat()
    root = cache_root() if root is None else root
    index_path = root / _SHA_INDEX
    stamp = f"{st.st_size}:{st.st_mtime_ns}"
    try:
        index = json.loads(index_path.read_text())
        if not isinstance(index, dict):
            index = {}
    except (OSError, ValueError):
        index = {}
    known = index.get(str(file))
    if isinstance(known, dict) and known.get("stamp") == stamp and known.get("sha256"):
        return FileKey(str(known["sha256"]), st.st_size)
    key = FileKey(_sha256(file), st.st_size)
    index[str(file)] = {"stamp": stamp, "sha256": key.sha256}
    with contextlib.suppress(OSError):  # a read-only cache still converts, it just rehashes
        root.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, indent=1) + "\n")
        tmp.replace(index_path)
    return key


def adapter_digest(adapter: str | os.PathLike[str]) -> str:
    """One sha256 over an adapter directory's files (names and contents)."""
    root = Path(adapter)
    files = sorted(p for p in root.iterdir() if p.is_file())
    if not files:
        raise FileNotFoundError(f"adapter {root} holds no files")
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}\0{_sha256(f)}\n".encode())
    return h.hexdigest()


def entry_complete(entry: Path, key: FileKey, precision: str, all_logits: bool = False) -> bool:
    """Whether ``entry`` holds a finished conversion of ``key`` at ``precision``."""
    try:
        manifest = json.loads((entry / CACHE_MANIFEST).read_text())
        genai = json.loads((entry / "genai_config.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("sha256") != key.sha256:
        return False
    if manifest.get("size") != key.size or manifest.get("precision") != precision:
        return False
    if manifest.get("adapter_sha256") != key.adapter_sha256:
        return False
    if manifest.get("all_logits", False) != all_logits:
        return False
    try:
        onnx = genai["model"]["decoder"]["filename"]
    except (KeyError, TypeError):
        return False
    needed = [onnx, "tokenizer_config.json", *manifest.get("files", [])]
    return all((entry / name).is_file() for name in needed)


@contextlib.contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _default_converter(
    source: Path, out: Path, precision: str, adapter: Path | None, all_logits: bool
) -> object:
    from frs_ros.reasoning.runtime.export_cpu import convert

    return convert(
        str(source),
        out,
        adapter=adapter,
        precision=precision,
        all_logits=all_logits,
        work_dir=out.parent,
    )


def converted_model(
    gguf: str | os.PathLike[str],
    *,
    precision: str = "int4",
    adapter: str | os.PathLike[str] | None = None,
    all_logits: bool = False,
    root: Path | None = None,
    converter: Converter | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The ort-genai model directory of ``gguf`` (with the LoRA ``adapter`` merged in:
    a directory or ``asset:NAME``, checked against its ``sha256.json``), converting it on
    the first call. ``all_logits``: a graph that returns every position's logits
    (``draft_tokens`` needs it; its own entry).

    ``log`` receives one line before a conversion (it takes minutes) and one after it with
    its duration; a cache hit logs nothing.
    """
    from frs_ros.reasoning.runtime.hf import ModelNotAvailableError

    source = Path(gguf)
    if not source.is_file():
        raise ModelNotAvailableError(
            f"GGUF file {source} does not exist; `frs models list` shows the sources and "
            f"`frs models get NAME --dir {source.parent}` assembles one"
        )
    from frs_ros.reasoning.shipped import resolve_adapter

    lora = resolve_adapter(adapter)
    if lora is not None and not Path(lora).is_dir():
        raise ModelNotAvailableError(f"LoRA adapter directory {lora} does not exist")
    root = cache_root() if root is None else Path(root)
    key = file_key(source, root=root)
    if lora is not None:
        key = FileKey(key.sha256, key.size, adapter_digest(lora))
    name = key.entry_name(precision, all_logits)
    entry = root / "ort-genai" / name
    if entry_complete(entry, key, precision, all_logits):
        return entry
    with _locked(root / "ort-genai", name):
        if entry_complete(entry, key, precision, all_logits):  # finished meanwhile elsewhere
            return entry
        if log is not None:
            merged = f" with the adapter {lora} merged" if lora else ""
            log(
                f"converting {source.name}{merged} to {precision} ONNX for the CPU runtime, "
                f"once (a few minutes; later runs load {entry})"
            )
        start = time.monotonic()
        build = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=entry.parent))
        try:
            out = build / "model"
            (converter or _default_converter)(
                source.resolve(), out, precision, None if lora is None else Path(lora), all_logits
            )
            files = sorted(p.name for p in out.iterdir() if p.is_file())
            manifest = {
                "source": str(source.resolve()),
                "sha256": key.sha256,
                "size": key.size,
                "precision": precision,
                "adapter": lora,
                "adapter_sha256": key.adapter_sha256,
                "all_logits": all_logits,
                "files": files,
            }
            (out / CACHE_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            if entry.exists():  # an incomplete entry: rebuilt, never trusted
                shutil.rmtree(entry)
            out.replace(entry)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        if not entry_complete(entry, key, precision, all_logits):
            raise RuntimeError(f"converting {source} left an incomplete model in {entry}")
        if log is not None:
            log(f"converted {source.name} in {time.monotonic() - start:.0f} s -> {entry}")
    return entry
