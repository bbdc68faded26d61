"""A build over a previous build updates it in place: only changed files are written, through a
journal that a reader refuses and the next build finishes (``output_inplace.py``, ``update_journal.py``)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from evidence_publisher import output_inplace
from evidence_publisher.errors import InterruptedUpdateError, WriteError
from evidence_publisher.jsonio import dumps
from evidence_publisher.output import build_marker, write_build
from evidence_publisher.output_inplace import UpdateCounts, _write_if_changed
from evidence_publisher.packages.writer import read_build
from evidence_publisher.publish.loading import load_dist
from evidence_publisher.update_journal import JOURNAL, Journal, apply_journal
from evidence_publisher.validate.inputs import plan_inputs


def resource(rid: str, title: str) -> str:
    return dumps({"resourceType": "Citation", "id": rid, "title": title})


def outputs(titles: dict[str, str]) -> dict[str, str | list[str]]:
    """A build's files: the report, a Bundle in pieces (as the build streams it), the resources."""
    files: dict[str, str | list[str]] = {
        "build-report.json": dumps({**build_marker(), "corpus": "c", "version": "1", "resources": []}),
        "bundle-collection.json": [
            "{\n",
            *(f'"{rid}": "{t}",\n' for rid, t in sorted(titles.items())),
            "}\n",
        ],
    }
    for rid, title in titles.items():
        files[f"resources/Citation-{rid}.json"] = resource(rid, title)
    return files


def pairs(files: dict[str, str | list[str]]) -> Iterable[tuple[str, str | Iterable[str]]]:
    return ((rel, text if isinstance(text, str) else iter(text)) for rel, text in files.items())


def on_disk(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def expected(files: dict[str, str | list[str]]) -> dict[str, str]:
    return {rel: text if isinstance(text, str) else "".join(text) for rel, text in sorted(files.items())}


def beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def stats(out: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file()
    }


FIRST = {"a": "Alpha", "b": "Beta", "c": "Gamma"}
SECOND = {"a": "Alpha", "b": "Beta, revised", "d": "Delta"}  # b changed, c gone, d new


def test_only_the_files_that_change_are_written(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    assert write_build(out, pairs(outputs(FIRST))) is None  # a new directory is written whole
    before = stats(out)
    counts = write_build(out, pairs(outputs(SECOND)))
    # written: the Bundle (its pieces changed), b and d; the report's text is the same
    assert counts == UpdateCounts(written=3, unchanged=2, deleted=1)
    assert on_disk(out) == expected(outputs(SECOND))
    after = stats(out)
    for same in ("resources/Citation-a.json", "build-report.json"):
        assert after[same] == before[same]  # not touched
    assert after["resources/Citation-b.json"] != before["resources/Citation-b.json"]
    assert beside(out) == [] and not (out / JOURNAL).exists()


def test_a_rebuild_that_changes_nothing_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    write_build(out, pairs(outputs(FIRST)))
    before = stats(out)
    assert write_build(out, pairs(outputs(FIRST))) == UpdateCounts(written=0, unchanged=5, deleted=0)
    assert stats(out) == before
    assert beside(out) == []


@pytest.mark.parametrize(
    ("old", "pieces", "written"),
    [
        ("abcdef", ["ab", "cd", "ef"], False),
        ("abcdef", ["ab", "cX", "ef"], True),  # differs in the middle: the prefix is copied
        ("abcdef", ["ab", "cd"], True),  # the old file is longer
        ("abcd", ["ab", "cd", "ef"], True),  # the new one is longer
        ("", ["x"], True),
    ],
)
def test_streamed_files_are_compared_as_they_are_made(
    tmp_path: Path, old: str, pieces: list[str], written: bool
) -> None:
    old_path, new_path = tmp_path / "old", tmp_path / "new"
    old_path.write_text(old)
    assert _write_if_changed(old_path, new_path, iter(pieces)) is written
    assert new_path.exists() is written
    if written:
        assert new_path.read_text() == "".join(pieces)


def test_a_streamed_file_with_no_previous_version_is_written(tmp_path: Path) -> None:
    assert _write_if_changed(tmp_path / "absent", tmp_path / "new", iter(["é", "x"])) is True
    assert (tmp_path / "new").read_text() == "éx"


def interrupt_after_first_move(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the process died while applying the journal: the deletions and one move are done."""

    def partial(target: Path, journal: Journal) -> None:
        for rel in journal.delete:
            os.unlink(target / rel)
        first = journal.move[0]
        os.replace(target.parent / journal.staged / first, target / first)
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(output_inplace, "apply_journal", partial)


def test_an_interrupted_update_is_refused_by_readers_and_finished_by_the_next_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "dist"
    write_build(out, pairs(outputs(FIRST)))
    with monkeypatch.context() as patch:
        interrupt_after_first_move(patch)
        with pytest.raises(WriteError) as caught:
            write_build(out, pairs(outputs(SECOND)))
    assert "finishes it" in " ".join(caught.value.details)
    assert (out / JOURNAL).is_file() and len(beside(out)) == 1  # the staged files are kept
    for read in (load_dist, read_build, lambda path: plan_inputs([path])):
        with pytest.raises(InterruptedUpdateError, match="interrupted"):
            read(out)
    # the next build (here of a third version) finishes the journal, then updates from there
    third = {"a": "Alpha 3", "d": "Delta"}
    write_build(out, pairs(outputs(third)))
    assert on_disk(out) == expected(outputs(third))
    assert beside(out) == []


def test_a_journal_is_finished_again_after_it_was_partly_applied(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    write_build(out, pairs(outputs(FIRST)))
    staged = tmp_path / ".dist.tmp-abc"
    (staged / "resources").mkdir(parents=True)
    (staged / "resources" / "Citation-a.json").write_text(resource("a", "new"))
    journal = Journal(staged.name, ["resources/Citation-a.json"], ["resources/Citation-c.json"])
    (out / JOURNAL).write_text(journal.as_json())
    apply_journal(out, journal)
    (out / JOURNAL).write_text(journal.as_json())  # as if the process died before removing it
    # finishing it again finds nothing staged and c deleted already; the build then writes c back
    assert write_build(out, pairs(outputs(FIRST | {"a": "new"}))) == UpdateCounts(2, 3, 0)
    assert on_disk(out) == expected(outputs(FIRST | {"a": "new"}))
    assert beside(out) == []


@pytest.mark.parametrize(
    "journal",
    [
        {"kind": "evidence-publisher-update", "staged": ".dist.tmp-x", "move": [], "delete": ["../keep"]},
        {"kind": "evidence-publisher-update", "staged": "../elsewhere", "move": [], "delete": []},
        {
            "kind": "evidence-publisher-update",
            "staged": ".dist.tmp-x",
            "move": ["mappings/a.yaml"],
            "delete": [],
        },
        {"kind": "something-else"},
    ],
)
def test_a_journal_that_names_anything_but_build_files_is_refused(tmp_path: Path, journal: dict) -> None:
    out = tmp_path / "dist"
    write_build(out, pairs(outputs(FIRST)))
    (tmp_path / "keep").write_text("the user's")
    (out / JOURNAL).write_text(json.dumps(journal))
    before = on_disk(out)
    with pytest.raises(WriteError, match="cannot finish"):
        write_build(out, pairs(outputs(SECOND)))
    assert on_disk(out) == before
    assert (tmp_path / "keep").read_text() == "the user's"


def test_two_builds_never_update_one_output_at_once(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    write_build(out, pairs(outputs(FIRST)))
    before = on_disk(out)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as another build holds it
        with pytest.raises(WriteError, match="another build is writing"):
            write_build(out, pairs(outputs(SECOND)))
    finally:
        os.close(fd)
    assert on_disk(out) == before
    assert beside(out) == []
