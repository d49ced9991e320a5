"""Run manifests: the settings that determine a resumable command's output, kept with it.

``frs eval``, every ``frs train`` stage and the twin cache write ``manifest.json`` into
their folder: the settings their output depends on (method, model, adapter and input
file hashes, prompt style, seed, limits) and ``schema`` (``SCHEMA_VERSION``, bumped when
the layout of what they write changes). Two policies use it:

- output folders (``ensure_manifest``): a rerun resumes only when the manifest matches;
  otherwise it is refused with a :class:`ManifestMismatch` naming every differing key. A
  folder that holds output but no manifest is refused too, since what made it is unknown.
- caches (``keyed_folder``): the folder is named after a digest of the settings, so other
  settings get a fresh sub-folder and both stay valid — a cache exists to be reused.

Inputs named by path (data, adapters, local model weights) are recorded by a digest of
their content (``file_digest``), so a file changed in place is noticed. Hashing streams the
file, and the digest is remembered in ``<cache root>/file_digests.json`` per path, size and
modification time (of every file, for a directory), so a rerun does not rehash a gigabyte
of unchanged weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from frs_ros.paths import cache_root

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


class ManifestMismatch(ValueError):
    """A folder was made with other settings than the ones asked for."""


_DIGEST_INDEX = "file_digests.json"
_INDEX_ENTRIES = 4096  # the oldest entries beyond this are forgotten


def file_digest(path: str | os.PathLike[str] | None) -> str:
    """sha256 (16 hex digits) of a file, or of a directory's files (relative names and
    contents); ``""`` for no path, ``"missing"`` when it does not exist. Remembered per
    (path, size, mtime) — see the module docstring."""
    if not path:
        return ""
    p = Path(path)
    if not p.exists():
        return "missing"
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    key = str(p.resolve())
    stamp = _stamp(p, files)
    index_path = cache_root() / _DIGEST_INDEX
    index = _read_index(index_path)
    known = index.get(key)
    if isinstance(known, dict) and known.get("stamp") == stamp and known.get("digest"):
        return str(known["digest"])
    digest = _content_digest(p, files)
    index.pop(key, None)  # re-inserted last: the newest entries are the ones kept
    index[key] = {"stamp": stamp, "digest": digest}
    _write_index(index_path, dict(list(index.items())[-_INDEX_ENTRIES:]))
    return digest


def local_digest(name: str | os.PathLike[str] | None) -> str | None:
    """``file_digest`` of ``name`` when it names a local file or directory; ``None`` for
    anything else (a hub id, a served model's name, ``tiny``)."""
    return file_digest(name) if name and Path(name).exists() else None


def _stamp(p: Path, files: list[Path]) -> str:
    """Size and mtime of every file: when none changed, neither did the content (short of a
    same-size rewrite within the clock's resolution)."""
    entries = []
    for f in files:
        st = f.stat()
        entries.append(f"{f.relative_to(p) if p.is_dir() else ''}\0{st.st_size}\0{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:32]


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _write_index(path: Path, index: dict[str, Any]) -> None:
    # best effort: a read-only or full cache only costs a rehash next time; insertion order
    # (oldest first) is kept, it decides what is forgotten
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(index, indent=0) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _content_digest(p: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def settings_digest(settings: Mapping[str, Any]) -> str:
    """A short, order-independent digest of ``settings`` (for folder names)."""
    text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def slug(text: str) -> str:
    """``text`` as a safe folder-name part (``Qwen/Qwen3-0.6B`` -> ``Qwen__Qwen3-0.6B``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("/", "__")).strip("._") or "x"


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= _flat(value, name + ".")
        else:
            out[name] = value
    return out


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for every (dotted) key whose value differs."""
    a, b = _flat(old), _flat(new)
    missing = object()
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            shown = ["(absent)" if v is missing else json.dumps(v, default=str) for v in (va, vb)]
            out.append(f"{key}: {shown[0]} -> {shown[1]}")
    return out


def _record(settings: Mapping[str, Any]) -> dict[str, Any]:
    # a JSON round trip, so tuples/paths compare equal to what is read back later
    return json.loads(json.dumps({"schema": SCHEMA_VERSION, **settings}, default=str))


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a kill never leaves half a manifest


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise ManifestMismatch(f"{path} is unreadable ({err}); delete the folder") from None
    if not isinstance(data, dict):
        raise ManifestMismatch(f"{path} is not a JSON object; delete the folder")
    return data


def ensure_manifest(folder: str | os.PathLike[str], settings: Mapping[str, Any]) -> Path:
    """Write ``folder/manifest.json`` for a folder without output yet, accept a matching one,
    and refuse (:class:`ManifestMismatch`) output made with other settings or without a
    manifest."""
    folder = Path(folder)
    record = _record(settings)
    old = read_manifest(folder)
    has_output = folder.is_dir() and any(
        not p.name.startswith((MANIFEST, f".{MANIFEST}")) for p in folder.iterdir()
    )
    if old is not None and has_output:
        diff = differences(old, record)
        if diff:
            raise ManifestMismatch(
                f"{folder} was made with other settings ({'; '.join(diff)}); resume it with "
                "the same settings, or choose another output folder"
            )
        return folder
    if old is None and has_output:
        raise ManifestMismatch(
            f"{folder} holds output but no {MANIFEST} (made by an older version?), so its "
            "settings are unknown; choose another output folder or delete it"
        )
    _write(folder / MANIFEST, record)  # a fresh folder, or one with no output yet
    return folder


def keyed_folder(parent: str | os.PathLike[str], settings: Mapping[str, Any]) -> Path:
    """``parent/<digest of settings>``, holding a manifest of them (for caches)."""
    folder = Path(parent) / settings_digest(_record(settings))
    if read_manifest(folder) is None:
        _write(folder / MANIFEST, _record(settings))
    return folder
