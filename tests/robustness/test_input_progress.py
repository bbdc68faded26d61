"""The mapping loader reports progress: per file, inside large files, and once at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence_publisher.sources import MappingError, load_corpus
from evidence_publisher.sources.loader import LoadProgress

from .input_helpers import copy_corpus


def test_progress_per_file_and_at_the_end(tmp_path: Path) -> None:
    corpus = copy_corpus(tmp_path / "m")
    seen: list[LoadProgress] = []
    load_corpus([corpus], progress=seen.append)
    files = sorted(corpus.glob("*.yaml"))
    total = sum(f.stat().st_size for f in files)
    assert [p.files_done for p in seen] == list(range(len(files) + 1))
    assert {Path(p.file).name for p in seen[:-1]} == {f.name for f in files}
    assert all(p.files_total == len(files) and p.bytes_total == total for p in seen)
    assert seen[0].bytes_done == 0 and seen[-1].bytes_done == total
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)


def test_progress_inside_a_large_file(tmp_path: Path) -> None:
    corpus = copy_corpus(tmp_path / "m")
    big = corpus / "zz-notes.yaml"
    big.write_text("kind: publication\nnotes:\n" + "".join(f"  - {i}\n" for i in range(60_000)))
    seen: list[LoadProgress] = []
    with pytest.raises(MappingError):  # not a valid publication; only the progress matters here
        load_corpus([corpus], progress=seen.append)
    inside = [p for p in seen if p.file.endswith("zz-notes.yaml")]
    assert len(inside) >= 3  # its start, and at least two reports while parsing it
    start = inside[0].bytes_done
    assert all(start <= p.bytes_done <= start + big.stat().st_size for p in inside)
    assert inside[-1].bytes_done > start
