"""The build cache (src/evidence_publisher/build_cache.py): a rebuild reuses what did not change,
writes the same bytes as a clean build, and notices every change that matters."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from evidence_publisher import build_cache, pipeline
from evidence_publisher.build_cache import BuildCache
from evidence_publisher.fhir import compile as compile_module
from evidence_publisher.sources import loader
from evidence_publisher.sources.errors import MappingError
from evidence_publisher.sources.parsecache import decode, encode
from evidence_publisher.sources.yamlload import parse_located

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A copy of the seed corpus with its source documents beside it."""
    dest = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings" / "lupus-msc", dest)
    shutil.copytree(ROOT / "examples" / "lupus-msc" / "sources", tmp_path / "sources")
    corpus_file = dest / "corpus.yaml"
    corpus_file.write_text(
        corpus_file.read_text().replace("../../examples/lupus-msc/sources", "../sources"), encoding="utf-8"
    )
    return dest


class Counting:
    """Counts YAML parses, compiled publications and validated resources by wrapping the real
    functions."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parsed: list[str] = []
        self.checked: list[str] = []
        self.thawed: list[str] = []
        self.compiled: list[str] = []
        self.validated: list[str] = []
        real_load, real_validation = loader.load_located, pipeline._official_validation
        real_load_bytes, real_compile = loader.load_located_bytes, compile_module._compile_publication

        def load_located(path: Path, display: str, *rest: object) -> object:
            self.parsed.append(display)
            return real_load(path, display, *rest)  # type: ignore[arg-type]

        def load_located_bytes(data: bytes, display: str, *rest: object) -> object:
            self.parsed.append(display)
            return real_load_bytes(data, display, *rest)  # type: ignore[arg-type]

        real_check, real_thaw = loader._check_publication, loader._thaw

        def check_publication(corpus: object, item: loader.Loaded, *rest: object) -> object:
            self.checked.append(item.model.id)
            return real_check(corpus, item, *rest)  # type: ignore[arg-type]

        def thaw(display: str, parsed: bytes) -> loader.Loaded:
            self.thawed.append(Path(display).stem)
            return real_thaw(display, parsed)

        def compile_publication(ctx: object, corpus: object, item: loader.Loaded, *rest: object) -> object:
            self.compiled.append(item.model.id)
            return real_compile(ctx, corpus, item, *rest)  # type: ignore[arg-type]

        def official(resources: list[dict], order: list[dict], *rest: object) -> list[str]:
            self.validated.extend(f"{r['resourceType']}/{r['id']}" for r in resources)
            return real_validation(resources, order, *rest)  # type: ignore[arg-type]

        monkeypatch.setattr(loader, "load_located", load_located)
        monkeypatch.setattr(loader, "load_located_bytes", load_located_bytes)
        monkeypatch.setattr(compile_module, "_compile_publication", compile_publication)
        monkeypatch.setattr(loader, "_check_publication", check_publication)
        monkeypatch.setattr(loader, "_thaw", thaw)
        monkeypatch.setattr(pipeline, "_official_validation", official)

    def reset(self) -> None:
        self.parsed.clear()
        self.checked.clear()
        self.thawed.clear()
        self.compiled.clear()
        self.validated.clear()


def _build(corpus: Path, out: Path, cache: BuildCache | None) -> pipeline.BuildResult:
    return pipeline.build([corpus], out_dir=out, cache=cache)


def _built_once(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Counting, BuildCache]:
    """A cache filled by one build of ``corpus`` (into ``first``), and the counts reset."""
    count = Counting(monkeypatch)
    cache = BuildCache(tmp_path / "build-cache.sqlite")
    _build(corpus, tmp_path / "first", cache)
    count.reset()
    return count, cache


def _append_comment(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")


def _as_a_clean_build(corpus: Path, out: Path) -> bool:
    """Whether ``out`` holds what a build of ``corpus`` without the cache writes."""
    _build(corpus, out.with_name("clean"), None)
    return _same_tree(out, out.with_name("clean"))


def _report(out: Path) -> dict:
    return json.loads((out / "build-report.json").read_text(encoding="utf-8"))


def _same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def test_cached_builds_write_the_bytes_of_a_clean_build(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    count = Counting(monkeypatch)
    cache = BuildCache(tmp_path / "cache" / "build-cache.sqlite")
    _build(corpus, tmp_path / "clean", None)
    _build(corpus, tmp_path / "cold", cache)
    count.reset()
    result = _build(corpus, tmp_path / "warm", cache)
    # nothing parsed, checked, compiled or validated again
    assert count.parsed == [] and count.checked == [] and count.compiled == [] and count.validated == []
    assert _same_tree(tmp_path / "clean", tmp_path / "cold")
    assert _same_tree(tmp_path / "clean", tmp_path / "warm")
    assert len(result.resources) == 151


def test_a_changed_mapping_redoes_only_what_depends_on_it(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    phase1 = corpus / "phase1-bm-msc-ln.yaml"
    phase1.write_text(phase1.read_text().replace("during dose escalation.", "during the dose escalation."))
    _build(corpus, tmp_path / "second", cache)
    assert [Path(p).name for p in count.parsed] == ["phase1-bm-msc-ln.yaml"]
    assert count.checked == count.compiled == ["phase1-bm-msc-ln"]  # no other publication reads it
    # the changed EvidenceVariable, and the resources that reference it (validated with their targets)
    validated = set(count.validated)
    assert "EvidenceVariable/phase1-bm-msc-ln-dose-limiting-toxicity-during-the-trial-measure" in validated
    assert {ref for ref in validated if "phase1" not in ref} <= {"Citation/summary-stem-cell-lupus"}, (
        validated
    )
    # and the output is that of a clean build of the changed corpus
    assert _as_a_clean_build(corpus, tmp_path / "second")


def test_a_publication_is_compiled_again_when_one_it_reads_changed(
    corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    # two publications are reported in the summary: compiling them reads its file
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    _append_comment(corpus / "summary-stem-cell-lupus.yaml")
    _build(corpus, tmp_path / "second", cache)
    assert sorted(count.compiled) == ["hsct-severe-lupus", "phase1-bm-msc-ln", "summary-stem-cell-lupus"]
    assert _as_a_clean_build(corpus, tmp_path / "second")


def test_a_large_corpus_files_unchanged_publications_unread(
    corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    # a corpus kept on disk (as one of more than 200 files is) files an unchanged publication as
    # its stored parse, and builds its model only if something reads it
    monkeypatch.setattr(loader, "OFF_HEAP_FILES", 0)
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    _append_comment(corpus / "liang-2010.yaml")
    _build(corpus, tmp_path / "second", cache)
    assert [Path(p).name for p in count.parsed] == ["liang-2010.yaml"]
    # two reports name the article in a citation relation: their checks read it
    assert count.checked == ["blog-medpage-severe-lupus", "liang-2010", "news-stem-cells-beneficial"]
    assert count.compiled == ["liang-2010"]
    # models built: those checked again, and what the recommendation (checked and compiled each
    # time) reads; not the other two publications
    assert set(count.thawed) == {
        "blog-medpage-severe-lupus", "news-stem-cells-beneficial",
        "gu-2014", "phase1-bm-msc-ln", "hsct-severe-lupus", "summary-stem-cell-lupus",
    }  # fmt: skip
    monkeypatch.setattr(loader, "OFF_HEAP_FILES", 200)
    assert _as_a_clean_build(corpus, tmp_path / "second")


def test_a_reference_checked_before_is_checked_again_when_its_target_goes(
    corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    summary = corpus / "summary-stem-cell-lupus.yaml"
    text = summary.read_text(encoding="utf-8")
    summary.write_text("kind: [", encoding="utf-8")  # broken: references into it are not reported
    with pytest.raises(MappingError):
        _build(corpus, tmp_path / "second", cache)
    cache.commit()  # as a large corpus's batches are written while it loads
    summary.unlink()  # gone: now they are, although the files that make them did not change
    count.reset()
    with pytest.raises(MappingError) as caught:
        _build(corpus, tmp_path / "third", cache)
    problems = [str(issue) for issue in caught.value.issues]
    for name in ("hsct-severe-lupus.yaml", "phase1-bm-msc-ln.yaml"):
        assert any(name in p and "reported_in" in p for p in problems), problems
    summary.write_text(text, encoding="utf-8")
    count.reset()
    _build(corpus, tmp_path / "fourth", cache)
    assert count.checked == []  # back as in the first build: its entries hold again
    assert _as_a_clean_build(corpus, tmp_path / "fourth")


def test_a_moved_quote_is_reported_where_it_now_stands(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    # the quotes still match, one line lower: the report's offsets into the document must follow
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    document = tmp_path / "sources" / "004_c594548d5a0f7352.txt"
    document.write_text("\n" + document.read_text(encoding="utf-8"), encoding="utf-8")
    second = _build(corpus, tmp_path / "second", cache)
    assert "liang-2010" in count.compiled and "gu-2014" not in count.compiled
    assert _report(tmp_path / "first")["quotes"] != second.report["quotes"]
    assert _as_a_clean_build(corpus, tmp_path / "second")


def test_a_damaged_compiled_entry_is_compiled_again(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    for damaged in (
        b"\x00\xff",
        zlib.compress(b"not json"),
        zlib.compress(b'{"reads": 1}'),
        zlib.compress(b'{"reads": []}'),
    ):
        monkeypatch.setattr(cache, "get_compiled", lambda _key, damaged=damaged: damaged)
        count.reset()
        _build(corpus, tmp_path / "second", cache)
        assert len(count.compiled) == 9  # every publication
        assert _same_tree(tmp_path / "first", tmp_path / "second")


def test_a_changed_source_document_is_noticed(corpus: Path, tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "build-cache.sqlite")
    _build(corpus, tmp_path / "first", cache)
    record = tmp_path / "sources" / "004_c594548d5a0f7352.txt"
    record.write_text(record.read_text().replace("15 patients", "fifteen patients"), encoding="utf-8")
    with pytest.raises(MappingError, match="problem"):
        _build(corpus, tmp_path / "second", cache)


def test_another_tool_version_reuses_nothing(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    count = Counting(monkeypatch)
    _build(corpus, tmp_path / "first", BuildCache(tmp_path / "build-cache.sqlite"))
    monkeypatch.setattr(build_cache, "tool_identity", lambda: "another version")
    count.reset()
    _build(corpus, tmp_path / "second", BuildCache(tmp_path / "build-cache.sqlite"))
    assert len(count.parsed) == 11 and len(count.validated) == 151


def test_other_fhir_packages_revalidate(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    count = Counting(monkeypatch)
    cache = BuildCache(tmp_path / "build-cache.sqlite")
    _build(corpus, tmp_path / "first", cache)
    monkeypatch.setattr(pipeline, "packages_identity", lambda: "other packages")
    count.reset()
    _build(corpus, tmp_path / "second", cache)
    assert count.parsed == [] and len(count.validated) == 151


def test_a_parse_comes_back_exactly() -> None:
    text = "b: 858.0\na: [1, yes, ~, 012]\nc: {z: 0.050, y: text}\n"
    doc, issues = parse_located(text, "f.yaml")
    assert doc is not None and issues == []
    again = decode("f.yaml", encode(doc))
    assert again.data == doc.data and again.locations == doc.locations and again.raw == doc.raw
    assert list(again.data) == ["b", "a", "c"] and list(again.data["c"]) == ["z", "y"]
    assert str(again.data["b"]) == "858.0" and str(again.data["c"]["z"]) == "0.050"
    assert isinstance(again.data["c"]["z"], Decimal) and again.data["a"][1] is True


def test_the_cache_lives_where_documented(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(build_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build_cache.cache_dir() == tmp_path / "xdg" / "evidence-publisher"
    monkeypatch.setenv(build_cache.CACHE_ENV, str(tmp_path / "mine"))
    assert build_cache.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv(build_cache.CACHE_ENV, "off")
    assert build_cache.cache_dir() is None and BuildCache.default() is None


def test_a_file_that_is_not_a_cache_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "build-cache.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(build_cache.BuildCacheError, match="cannot be used"):
        BuildCache(bad)


def test_the_packages_identity_is_the_same_in_every_process(tmp_path: Path) -> None:
    # string hashes differ between processes (PYTHONHASHSEED): an identity that followed the
    # iteration order of a set of packages changed from one build to the next half of the time,
    # and the next build validated every resource again
    code = "from evidence_publisher.build_cache import packages_identity; print(packages_identity())"
    identities = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed), "FHIR_PACKAGE_CACHE": str(tmp_path)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(8)
    }
    assert len(identities) == 1, identities


def test_valid_entries_are_found_however_many_are_asked(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "build-cache.sqlite")
    marked = [f"valid-{n}" for n in range(1200)]  # more than one query's worth
    cache.mark_valid(marked)
    cache.commit()
    asked = [f"other-{n}" for n in range(700)] + marked[::-1]
    assert cache.validated(asked) == set(marked)
    assert cache.validated([]) == set()


def test_the_build_says_what_the_cache_saved(corpus: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from evidence_publisher.cli import main

    monkeypatch.setenv(build_cache.CACHE_ENV, str(tmp_path / "cache"))
    out = str(tmp_path / "dist")
    assert main(["build", str(corpus), "--out", out]) == 0
    first = capsys.readouterr().out
    assert "Build cache: 0 of 9 publications compiled before, 0 of 151 resources validated before" in first
    assert "Updated the previous build" not in first  # a new --out is written whole
    phase1 = corpus / "phase1-bm-msc-ln.yaml"
    phase1.write_text(phase1.read_text().replace("during dose escalation.", "during the dose escalation."))
    assert main(["build", str(corpus), "--out", out]) == 0
    # one publication compiled again; its changed variable and what references it validated again
    second = capsys.readouterr().out
    assert re.search(
        r"Build cache: 8 of 9 publications compiled before, 14[0-9] of 151 resources validated before", second
    )
    # its EvidenceVariable file, and the Bundles, NDJSON and report that hold it
    assert re.search(r"Updated the previous build: \d+ files written, 1[45]\d unchanged, 0 deleted", second)
    assert main(["build", str(corpus), "--out", out, "--no-cache"]) == 0
    third = capsys.readouterr().out
    assert "Build cache" not in third
    assert "Updated the previous build: 0 files written, 163 unchanged, 0 deleted" in third


def test_entries_are_written_before_they_hold_much_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(build_cache, "_BATCH_BYTES", 1000)
    cache = BuildCache(tmp_path / "build-cache.sqlite")
    for n in range(3):
        cache.put_compiled(f"k{n}", b"x" * 400)
    assert len(cache.pending) == 0  # the third put went over 1,000 bytes: all three written
    cache.put_compiled("k3", b"x" * 400)
    assert len(cache.pending) == 1
    other = BuildCache(tmp_path / "build-cache.sqlite")  # what another build sees
    assert [other.get_compiled(f"k{n}") is not None for n in range(4)] == [True, True, True, False]


def test_a_publication_is_compiled_again_when_the_record_of_its_document_changes(
    corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    # gu-2014's values come from the blog's document, whose record is the blog's publication: its
    # Evidence links to the blog's Citation. Once the blog's publication no longer claims the
    # document, they must not, although gu-2014's file did not change
    count, cache = _built_once(corpus, tmp_path, monkeypatch)
    blog = corpus / "blog-gu-2014.yaml"
    not_the_record = "kind: publication\nin_corpus: false\n"
    blog.write_text(blog.read_text().replace("kind: publication\n", not_the_record), encoding="utf-8")
    _build(corpus, tmp_path / "second", cache)
    assert "gu-2014" in count.compiled
    assert _as_a_clean_build(corpus, tmp_path / "second")
    assert not _same_tree(tmp_path / "first", tmp_path / "second")


def test_entries_no_build_used_for_a_month_are_pruned(tmp_path: Path) -> None:
    path = tmp_path / "build-cache.sqlite"
    first = BuildCache(path, day=100)
    for name in ("kept", "dropped", "fresh-today"):
        first.put_compiled(name, name.encode())
    first.mark_valid(["valid-kept", "valid-dropped"])
    first.commit()
    first.close()
    later = BuildCache(path, day=120)  # a build 20 days on finds two of them: they are used again
    assert later.get_compiled("kept") == b"kept"
    assert later.validated(["valid-kept"]) == {"valid-kept"}
    later.commit()
    later.close()
    month = BuildCache(path, day=100 + build_cache.KEEP_DAYS)  # nothing is older than 30 days yet
    assert month.prune() == 0
    month.close()
    pruning = BuildCache(path, day=100 + build_cache.KEEP_DAYS + 1)
    assert pruning.prune() == 3  # dropped, fresh-today and valid-dropped, last used on day 100
    with pruning.db:  # an entry as old as those, found only now: left for tomorrow's build
        pruning.db.execute("INSERT INTO entry VALUES ('late', x'00', 1)")
    assert pruning.prune() == 0  # once a day
    assert pruning.get_compiled("kept") == b"kept"
    assert pruning.validated(["valid-kept", "valid-dropped"]) == {"valid-kept"}
    assert pruning.get_compiled("dropped") is None


def test_a_cache_written_before_entries_recorded_their_use_is_kept_and_dated(tmp_path: Path) -> None:
    path = tmp_path / "build-cache.sqlite"
    cache = BuildCache(path, day=50)
    cache.put_parsed("old", b"parse")
    cache.commit()
    cache.close()
    db = sqlite3.connect(path)  # as the cache looked before: no column for the day of last use
    with db:
        db.execute("CREATE TABLE old_entry (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        db.execute("INSERT INTO old_entry SELECT key, value FROM entry")
        db.execute("DROP TABLE entry")
        db.execute("ALTER TABLE old_entry RENAME TO entry")
    db.close()
    upgraded = BuildCache(path, day=200)
    assert upgraded.get_parsed("old") == b"parse"
    assert upgraded.prune() == 0  # dated the day it was upgraded, so it is not dropped at once
    upgraded.close()
    assert BuildCache(path, day=200 + build_cache.KEEP_DAYS + 1).prune() == 1
