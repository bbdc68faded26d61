"""CLI-wide output (issue 9, point 7): help shows defaults, tables fit a terminal and are plain lines
in a pipe, progress on long work, stdin as ``-``, and the same positional source for every command."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from evidence_publisher import cli, cli_render, pipeline
from evidence_publisher.cli import main
from evidence_publisher.cli_render import Column, print_table
from evidence_publisher.errors import ExitCode
from evidence_publisher.jsonio import dumps, loads

from .cli_helpers import MAPPINGS, ROOT, run_cli
from .net_fixtures import _fresh_limits, fhir_server, serve_fhir, small_dist

__all__ = ["_fresh_limits", "fhir_server", "serve_fhir", "small_dist"]

BOX_DRAWING = {chr(c) for c in range(0x2500, 0x2580)}
LONG = "a message that is much longer than eighty characters, " * 4


def no_box_drawing(text: str) -> bool:
    return not BOX_DRAWING & set(text)


# --------------------------------------------------------------------------------------------
# --help
# --------------------------------------------------------------------------------------------
def all_parsers() -> list[argparse.ArgumentParser]:
    root = cli.make_parser()
    return [root, *cli._subcommands(root)]


NOT_DOCUMENTED = (argparse._SubParsersAction, argparse._HelpAction, argparse._VersionAction)


def documented_actions():
    for parser in all_parsers():
        for action in parser._actions:
            if not isinstance(action, NOT_DOCUMENTED):
                yield parser, action


def test_every_option_and_positional_has_help() -> None:
    missing = [f"{p.prog} {a.option_strings or a.dest}" for p, a in documented_actions() if not a.help]
    assert missing == []


def test_every_default_is_shown_in_help() -> None:
    """Done once, by the formatter every parser gets; not by editing each help string."""
    hidden = []
    for parser, action in documented_actions():
        if action.default in (None, False, argparse.SUPPRESS):
            continue
        text = parser._get_formatter()._format_action(action)
        if "default" not in text:
            hidden.append(f"{parser.prog} {action.option_strings or action.dest}")
    assert hidden == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("publish", ["--format", "(default: text)", "(default: 5.0)", "(default: 120.0)", "(default: 5)"]),
        ("verify", ["build directory or mapping files/directory", "(default: dist)"]),
        ("schema", ["(default: any)", "--log-level", "(default: warning"]),
        ("validate", ["--max-depth", "(default: 100 levels; or $EP_MAX_DEPTH)"]),
    ],
)
def test_help_text_in_a_real_process(command: str, expected: list[str]) -> None:
    result = run_cli(command, "--help", cwd=ROOT, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    for phrase in expected:
        assert phrase in result.stdout, result.stdout


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def render(terminal: bool, rows: list[list], width: int = 60) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=width, color_system=None)
    print_table(console, [Column("file"), Column("severity"), Column("message")], rows, title="t [x]")
    return buffer.getvalue()


def test_in_a_pipe_a_table_is_one_tab_separated_line_per_row() -> None:
    rows: list[list[Any]] = [
        ["a.json", ("warning", "yellow"), LONG],
        ["b.json", "error", "two\nlines\tand tab"],
    ]
    text = render(False, rows)
    assert no_box_drawing(text)
    assert text.splitlines() == [
        "# t [x]",
        "file\tseverity\tmessage",
        f"a.json\twarning\t{LONG}",
        "b.json\terror\ttwo lines and tab",
    ]


def test_on_a_terminal_a_table_fits_the_width() -> None:
    text = render(True, [["a.json", "warning", LONG], ["[bold]b[/]", "error", "x"]], width=60)
    assert all(cell_len(line) <= 60 for line in text.splitlines())
    assert "[bold]b[/]" in text  # cells are text, never rich markup
    assert "".join(text.split()).count("characters,") == 4  # folded, not cut


def test_validate_in_a_pipe_prints_plain_lines(built_corpus: Path) -> None:
    """The issue saw ~4,400 lines of box drawing wrapped at 80 columns from ``validate dist/``."""
    evidence = sorted((built_corpus / "resources").glob("Evidence-*.json"))
    result = run_cli("validate", *map(str, evidence), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert no_box_drawing(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0] == "file\tresource\tseverity\trule\tFHIRPath\tmessage"
    rows = [line.split("\t") for line in lines[1:-1]]
    assert rows and all(len(row) == 6 for row in rows)
    assert max(map(len, lines)) > 80  # a long row stays one line
    assert lines[-1].startswith(f"{len(evidence)} resources: 0 errors")


def test_publish_table_in_a_pipe(serve_fhir, small_dist: Path, capsys: pytest.CaptureFixture) -> None:
    _server, url = serve_fhir()
    code = main(["publish", str(small_dist), "--server", url, "--no-validate", "--dry-run"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert no_box_drawing(out)
    lines = out.splitlines()
    assert lines[0] == f"# dry-run -> {url}"
    assert lines[1] == "resource\taction\tserver id\tversion\tdetail"
    assert all(len(line.split("\t")) == 5 for line in lines[2:-1])


def test_packages_list_in_a_pipe(capsys: pytest.CaptureFixture) -> None:
    assert main(["packages", "list", "--format", "json"]) == 0
    installed = loads(capsys.readouterr().out)
    if not installed:
        pytest.skip("no FHIR packages installed")
    assert main(["packages", "list"]) == 0
    out = capsys.readouterr().out
    assert no_box_drawing(out)
    assert out.splitlines()[1] == "name\tversion\tfhirVersion\tresources\tsource\tnote"
    assert len(out.splitlines()) == 2 + len(installed)


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------
def slow_stage(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Reading the mapping files takes ``seconds`` (each file is slowed down in the loader's callback)."""
    real = pipeline.load_corpus

    def slow(paths, progress=None, store=None):
        def on_file(at):
            time.sleep(seconds / 11)
            progress(at)

        return real(paths, progress=on_file, store=store)

    monkeypatch.setattr(pipeline, "load_corpus", slow)


def test_long_work_prints_progress_lines_in_a_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(cli_render, "PIPE_PROGRESS_SECONDS", 0.05)
    slow_stage(monkeypatch, 0.5)
    assert main(["build", str(ROOT / MAPPINGS), "--out", str(tmp_path / "d"), "--no-validate"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^reading 11 mapping files\.\.\. \(\d+%, \d+ s\)$", err, re.M), err
    assert no_box_drawing(err)


def test_quick_work_prints_no_progress_in_a_pipe(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["build", str(ROOT / MAPPINGS), "--out", str(tmp_path / "d"), "--no-validate"]) == 0
    assert "..." not in capsys.readouterr().err


def test_progress_bar_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    slow_stage(monkeypatch, 0.5)
    assert main(["build", str(ROOT / MAPPINGS), "--out", str(tmp_path / "d"), "--no-validate"]) == 0
    assert "reading 11 mapping files" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# apply: the build directory as a positional, --dist deprecated, the patient from stdin
# --------------------------------------------------------------------------------------------
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("apply") / "dist"
    pipeline.build([ROOT / MAPPINGS], out_dir=out, validate=False)
    return out


def plan_url(dist: Path) -> str:
    plan = next((dist / "resources").glob("PlanDefinition-*.json"))
    return loads(plan.read_text())["url"]


def test_apply_takes_the_build_directory_as_its_first_argument(
    dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    patient = tmp_path / "patient.json"
    patient.write_text(dumps(PATIENT))
    argv = ["apply", str(dist), "--plan", plan_url(dist), "--patient", str(patient)]
    assert main([*argv, "--allow-experimental"]) == 0
    captured = capsys.readouterr()
    assert loads(captured.out)["resourceType"] == "Bundle"
    assert "deprecated" not in captured.err


def test_apply_dist_option_still_works_and_warns(
    dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    patient = tmp_path / "patient.json"
    patient.write_text(dumps(PATIENT))
    argv = ["apply", "--dist", str(dist), "--plan", plan_url(dist), "--patient", str(patient)]
    assert main([*argv, "--allow-experimental"]) == 0
    assert "--dist is deprecated" in capsys.readouterr().err
    code = main(["apply", str(tmp_path), "--dist", str(dist), "--plan", "x", "--patient", str(patient)])
    assert code == ExitCode.USAGE
    assert "two build directories given" in capsys.readouterr().err


def test_apply_reads_the_patient_from_stdin(
    dist: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(dumps(PATIENT).encode())))
    assert main(["apply", str(dist), "--plan", plan_url(dist), "--patient", "-", "--allow-experimental"]) == 0
    bundle = loads(capsys.readouterr().out)
    assert any(e["resource"].get("id") == "p1" or "Patient/p1" in dumps(e) for e in bundle["entry"])


def test_validate_reads_standard_input_in_a_real_pipe() -> None:
    patient = (ROOT / "examples" / "patients" / "eligible.json").read_text()
    result = subprocess.run(
        [sys.executable, "-c", "from evidence_publisher.cli import main_cli; main_cli()", "validate", "-"],
        input=patient,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith("0 errors, 0 warnings")
