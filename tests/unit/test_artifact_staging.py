"""Staging an artifact (jobs/artifacts.py): what a handler may pass, the checksum, the size limit, the names."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from platform_jobs.jobs.artifacts import ArtifactTooLarge, InvalidArtifact, check_content_type, check_name, stage


@pytest.mark.parametrize("source", [b"caf\xc3\xa9", "café", io.BytesIO("café".encode())])
def test_bytes_text_and_streams_stage_the_same_bytes(source: object, tmp_path: Path) -> None:
    staged = stage(source, 100, str(tmp_path))  # type: ignore[arg-type]
    assert staged.path.read_bytes() == "café".encode() and staged.size == 5
    assert staged.sha256 == hashlib.sha256("café".encode()).hexdigest()


def test_a_path_is_read_and_a_source_over_the_limit_leaves_nothing_behind(tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"x" * 10)
    work = tmp_path / "work"
    work.mkdir()
    assert stage(source, 10, str(work)).size == 10
    with pytest.raises(ArtifactTooLarge, match="larger than the limit of 9 bytes"):
        stage(source, 9, str(work))
    assert len(list(work.iterdir())) == 1  # only the first, staged whole


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "log.txt.gz", "x" * 201, "sp ace"])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArtifact):
        check_name(name)


def test_names_and_content_types() -> None:
    assert check_name("build-manifest.json") == "build-manifest.json"
    assert check_content_type("text/plain; charset=utf-8")
    with pytest.raises(InvalidArtifact):
        check_content_type("text/html\r\nX-Injected: 1")
