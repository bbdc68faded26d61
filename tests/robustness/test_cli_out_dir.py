"""``build --out`` never deletes anything the build did not create (issue 9, point 1).

Each reported data-loss case is reproduced in a throwaway copy of the repository layout: the
build must refuse (exit 13, naming the path and what is there) and leave every file as it was.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from evidence_publisher import output
from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.jsonio import dumps, load_file

from .cli_helpers import MAPPINGS, SOURCES, scratch, snapshot

__all__ = ["scratch"]  # the fixture, imported for pytest


def build(*argv: str) -> int:
    return main(["build", str(MAPPINGS), "--no-validate", *argv])


def refused(capsys: pytest.CaptureFixture, code: int, *phrases: str) -> str:
    err = capsys.readouterr().err
    assert code == ExitCode.WRITE_FAILED, err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, err
    return err


@pytest.mark.parametrize(
    ("out", "phrase"),
    [
        (".", "is the current directory"),
        ("..", "contains the current directory"),
        (str(MAPPINGS), "is a mapping directory"),
        (str(MAPPINGS / "dist"), "is inside a mapping directory"),
        ("mappings", "contains a mapping directory"),
        (str(SOURCES), "does not hold only a previous build"),
        ("examples", "it contains lupus-msc/"),
        ("README.md", "is a file"),
    ],
)
def test_reported_data_loss_cases_are_refused(
    scratch: Path, capsys: pytest.CaptureFixture, out: str, phrase: str
) -> None:
    before = snapshot(scratch.parent)
    err = refused(capsys, build("--out", out), f"--out {out!r}", phrase)
    assert snapshot(scratch.parent) == before, err


def test_the_directory_of_mapping_files_named_one_by_one_is_protected(
    scratch: Path, capsys: pytest.CaptureFixture
) -> None:
    files = sorted(str(p) for p in MAPPINGS.glob("*.yaml"))
    before = snapshot(scratch)
    code = main(["build", *files, "--out", str(MAPPINGS), "--no-validate"])
    refused(capsys, code, "is the directory of a mapping file")
    assert snapshot(scratch) == before
    code = main(["build", *files, "--out", str(MAPPINGS / "dist"), "--no-validate"])
    assert code == ExitCode.OK, capsys.readouterr().err  # beside the files is allowed


def test_empty_out_is_a_usage_error(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    """``--out ""`` used to mean the current directory, and wiped it."""
    before = snapshot(scratch)
    assert build("--out", "") == ExitCode.USAGE
    assert "an empty path is not allowed" in capsys.readouterr().err
    assert snapshot(scratch) == before


def test_out_inside_the_sources_directory_is_refused(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    """The corpus file names the sources directory; known only once it is read, checked before writing."""
    out = SOURCES / "dist"
    refused(capsys, build("--out", str(out)), "is inside the source documents directory")
    assert not out.exists()


def test_home_directory_is_refused_even_when_empty(
    scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    refused(capsys, build("--out", str(home)), "is your home directory")
    assert home.is_dir()


def test_symlinks_are_resolved_before_comparing(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    before = snapshot(scratch)
    Path("to-mappings").symlink_to(MAPPINGS.resolve())
    refused(capsys, build("--out", "to-mappings"), "is a mapping directory")
    Path("dangling").symlink_to(scratch / "nowhere")
    refused(capsys, build("--out", "dangling"), "which does not exist")
    assert snapshot(scratch) == before
    assert not (scratch / "nowhere").exists()


def test_a_previous_build_is_replaced_through_a_symlink(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    assert build("--out", "real-dist") == ExitCode.OK
    Path("dist").symlink_to(scratch / "real-dist")
    (scratch / "real-dist" / "resources" / "Evidence-stale.json").write_text("{}")
    assert build("--out", "dist") == ExitCode.OK, capsys.readouterr().err
    assert Path("dist").is_symlink()
    assert not (scratch / "real-dist" / "resources" / "Evidence-stale.json").exists()


def test_previous_build_is_replaced_and_marked(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    assert build("--out", "dist") == ExitCode.OK
    report = load_file(Path("dist") / "build-report.json")
    assert report["kind"] == "evidence-publisher-build" and report["format_version"] == 1
    (Path("dist") / "resources" / "Evidence-stale.json").write_text("{}")  # a build's own kind of file
    assert build("--out", "dist") == ExitCode.OK, capsys.readouterr().err
    assert not (Path("dist") / "resources" / "Evidence-stale.json").exists()
    assert not list(scratch.glob(".dist.*"))


def test_an_empty_directory_is_used(scratch: Path) -> None:
    Path("dist").mkdir()
    assert build("--out", "dist") == ExitCode.OK
    assert (Path("dist") / "build-report.json").is_file()


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        ("notes.txt", "notes.txt"),
        ("resources/mine.txt", "resources/mine.txt"),
        (".gitignore", ".gitignore"),
        ("ndjson/sub/x.ndjson", "ndjson/sub/"),
        ("bundle-x.txt", "bundle-x.txt"),
    ],
)
def test_a_user_file_inside_a_previous_build_is_never_deleted(
    scratch: Path, capsys: pytest.CaptureFixture, extra: str, shown: str
) -> None:
    assert build("--out", "dist") == ExitCode.OK
    path = Path("dist") / extra
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("mine")
    before = snapshot(Path("dist"))
    refused(capsys, build("--out", "dist"), "does not hold only a previous build", f"contains {shown}")
    assert snapshot(Path("dist")) == before


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda p: p.symlink_to("../build-report.json"), "resources/Evidence-link.json (a symbolic link)"),
        (lambda p: p.mkdir(), "resources/Evidence-link.json/"),
    ],
    ids=["symbolic link", "directory"],
)
def test_what_only_looks_like_a_resource_file_is_never_deleted(
    scratch: Path, capsys: pytest.CaptureFixture, make: Callable[[Path], None], shown: str
) -> None:
    assert build("--out", "dist") == ExitCode.OK
    make(Path("dist") / "resources" / "Evidence-link.json")
    (Path("dist") / "resources" / ".json").write_text("mine")  # no name before the suffix
    before = snapshot(Path("dist"))
    refused(
        capsys,
        build("--out", "dist"),
        "does not hold only a previous build",
        f"contains resources/.json, {shown}",
    )
    assert snapshot(Path("dist")) == before


@pytest.mark.parametrize("parsed_up_to", [None, 0], ids=["parsed whole", "read by its lines"])
def test_a_build_without_the_marker_is_left_for_the_user_to_delete(
    scratch: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, parsed_up_to: int | None
) -> None:
    """A build from before the marker existed cannot be told from look-alike files: refuse, say how.

    A report larger than ``_REPORT_PARSE_BYTES`` (a build of thousands of studies) is recognised
    by its top-level lines instead of a parse; ``0`` makes every report such a report."""
    if parsed_up_to is not None:
        monkeypatch.setattr(output, "_REPORT_PARSE_BYTES", parsed_up_to)
    assert build("--out", "dist") == ExitCode.OK
    assert build("--out", "dist") == ExitCode.OK  # a marked previous build is replaced
    report = Path("dist") / "build-report.json"
    doc = load_file(report)
    del doc["kind"]
    report.write_text(dumps(doc))
    refused(capsys, build("--out", "dist"), 'no "kind": "evidence-publisher-build" marker', "rm -r dist")
    report.write_text(dumps({**doc, "kind": "evidence-publisher-build", "format_version": 99}))
    refused(capsys, build("--out", "dist"), "format_version 99")
    report.write_text("not json")
    refused(capsys, build("--out", "dist"), "cannot be read as JSON")
    report.unlink()
    refused(capsys, build("--out", "dist"), "has no build-report.json")


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_output_directory_honours_the_umask(scratch: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        assert build("--out", "dist") == ExitCode.OK
    finally:
        os.umask(previous)
    assert stat.S_IMODE(Path("dist").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((Path("dist") / "resources").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((Path("dist") / "build-report.json").stat().st_mode) == 0o666 & ~mask


def test_unwritable_parent_is_a_write_error_not_a_traceback(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """mkdtemp's PermissionError (a read-only parent; simulated, since tests may run as root)."""

    def denied(**_kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(scratch / "ro"))

    monkeypatch.setattr(output.tempfile, "mkdtemp", denied)
    err = refused(capsys, build("--out", "ro/dist"), "could not write the build", "Permission denied")
    assert "internal error" not in err


def test_a_failed_write_removes_its_temporary_directory_and_keeps_the_previous_build(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert build("--out", "dist") == ExitCode.OK
    # a previous build is updated in place, file by file: its every resource must be rewritten
    for file in Path("dist/resources").iterdir():
        file.write_text(file.read_text() + " ")
    before = snapshot(Path("dist"))
    written: list[Path] = []
    real_write = output.write_file

    def disk_full(path: Path, text: str) -> None:
        if len(written) == 20:
            raise OSError(28, "No space left on device")
        written.append(path)
        real_write(path, text)

    monkeypatch.setattr(output, "write_file", disk_full)
    refused(capsys, build("--out", "dist"), "No space left on device")
    assert snapshot(Path("dist")) == before
    assert not list(scratch.glob(".dist.*"))
    assert written and all(not p.exists() for p in written)
