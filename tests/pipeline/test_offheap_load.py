"""A large corpus keeps its checked mapping files on disk (sources/offheap.py), with the same
output and the same errors as a corpus held in memory."""

from __future__ import annotations

import gc
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from evidence_publisher.pipeline import compile_mappings
from evidence_publisher.sources import loader
from evidence_publisher.sources.errors import MappingError
from evidence_publisher.sources.loader import Loaded, load_corpus
from evidence_publisher.sources.model import Publication
from evidence_publisher.sources.offheap import LoadedStore

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "broken"
STUDIES = 30


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_corpus", ROOT / "bench" / "generate_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("offheap") / "corpus"
    _generator().generate(STUDIES, dest)
    return dest


def _errors(paths: list[Path]) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_corpus(paths)
    return [str(i) for i in caught.value.issues]


def test_the_store_reads_back_what_was_stored() -> None:
    first = Loaded(load_corpus([ROOT / "mappings" / "lupus-msc"]).corpus_doc, None)  # type: ignore[arg-type]
    store = LoadedStore(cached=1, summarise=lambda item: item.doc.file)
    store["b"] = first
    store["a"] = first
    assert list(store) == ["b", "a"] and len(store) == 2 and "a" in store and "c" not in store
    assert store.summary("a") == first.doc.file  # kept in memory from when it was stored
    back = store["b"]
    assert back is not first and back.doc.locations == first.doc.locations
    assert store["b"] is back  # cached
    store["a"]  # pushes "b" out of a cache of one
    assert store["b"] is not back and store["b"].doc.data == first.doc.data
    del store["a"]
    assert list(store) == ["b"]


def test_a_large_corpus_compiles_to_the_same_report_and_resources(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = compile_mappings([generated])
    assert isinstance(load_corpus([generated]).publications, dict)
    monkeypatch.setattr(loader, "OFF_HEAP_FILES", 0)
    assert isinstance(load_corpus([generated]).publications, LoadedStore)
    stored = compile_mappings([generated])
    assert stored.report == held.report
    assert stored.compiled.resources == held.compiled.resources
    assert (stored.compiled.conflicts, stored.compiled.derived) == (
        held.compiled.conflicts,
        held.compiled.derived,
    )
    assert stored.compiled.quotes == held.compiled.quotes and stored.file_count == held.file_count


def test_a_large_corpus_does_not_hold_every_publication(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def live_publications() -> int:
        gc.collect()
        return sum(isinstance(o, Publication) for o in gc.get_objects())

    before = live_publications()
    held = load_corpus([generated])
    assert live_publications() - before >= STUDIES
    del held
    monkeypatch.setattr(loader, "OFF_HEAP_FILES", 0)
    monkeypatch.setattr("evidence_publisher.sources.offheap._CACHED", 4)
    stored = load_corpus([generated])
    assert len(stored.publications) >= STUDIES
    # the read-back cache, and the last publications whose results the checks looked up
    assert live_publications() - before <= 4 + loader._RESULT_INDEXES < STUDIES


@pytest.mark.parametrize("case", sorted((BROKEN / "cases").glob("*.yaml")), ids=lambda p: p.stem)
def test_a_broken_file_gives_the_same_errors_on_the_large_corpus_path(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    paths = [Path("tests/broken/corpus.yaml"), case.relative_to(ROOT)]
    held = _errors(paths)
    monkeypatch.setattr(loader, "OFF_HEAP_FILES", 0)
    assert _errors(paths) == held


def test_cross_file_errors_are_the_same_on_the_large_corpus_path(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "m"
    shutil.copytree(generated, corpus)
    liang = (corpus / "liang-2010.yaml").read_text()
    (corpus / "zz-duplicate.yaml").write_text(liang)  # the same id twice
    # another publication claiming to be the record of liang-2010's document (noted, not read)
    (corpus / "zz-twin.yaml").write_text(liang.replace("id: liang-2010\n", "id: zz-twin\n", 1))
    (corpus / "gu-2014.yaml").write_text("id: gu-2014\nkind: [\n")  # broken: references into it
    rec = next(corpus.glob("rec-*.yaml"))
    rec.write_text(rec.read_text().replace("liang-2010/", "nowhere-2010/", 1))  # dangling
    monkeypatch.chdir(tmp_path)
    held = _errors([Path("m")])
    assert any("already used by" in e for e in held) and any("nowhere-2010" in e for e in held)
    assert any("'zz-twin' and 'liang-2010' both claim to be the record" in e for e in held)
    monkeypatch.setattr(loader, "OFF_HEAP_FILES", 0)
    assert _errors([Path("m")]) == held
