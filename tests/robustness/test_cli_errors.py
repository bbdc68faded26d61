"""No traceback reaches a user, and every outcome is a documented exit code (issue 9, point 3)."""

from __future__ import annotations

import argparse
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence_publisher import cli, limits
from evidence_publisher.cli import main
from evidence_publisher.errors import ExitCode
from evidence_publisher.interrupts import Terminated
from evidence_publisher.jsonio import loads

from .cli_helpers import MAPPINGS, ROOT, scratch

__all__ = ["scratch"]

# the shortest argv that parses, for every command
COMMAND_ARGV = {
    "build": ["build"],
    "schema": ["schema"],
    "import": ["import", "x.xml", "--corpus", "m"],
    "new": ["new", "study", "s", "--from", "c"],
    "validate": ["validate", "x.json"],
    "packages": ["packages", "list"],
    "package": ["package", "dist", "--out", "x.tgz"],
    "publish": ["publish", "--server", "http://127.0.0.1:9/fhir"],
    "verify": ["verify", "--server", "http://127.0.0.1:9/fhir"],
    "serve": ["serve"],
    "apply": ["apply", "--plan", "p", "--patient", "p.json"],
    "site": ["site"],
    "convert": ["convert", "r4", "dist", "--out", "o"],
}


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Crash logs go to a temporary XDG_STATE_HOME, never the developer's home."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    yield state
    limits.reset()


def inject(monkeypatch: pytest.MonkeyPatch, command: str, exc: BaseException) -> None:
    def broken(_args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setitem(cli._COMMANDS, command, broken)


def test_every_command_is_covered() -> None:
    assert set(COMMAND_ARGV) == set(cli._COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMAND_ARGV))
def test_a_bug_in_any_command_is_one_line_naming_a_log_file(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, private_state: Path
) -> None:
    inject(monkeypatch, command, ZeroDivisionError("division by zero"))
    code = main(COMMAND_ARGV[command])
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL_ERROR
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "internal error (ZeroDivisionError: division by zero)" in lines[0]
    assert "please report" in lines[0]
    logs = sorted((private_state / "evidence-publisher").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    text = logs[0].read_text()
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text
    assert f"command: evidence-publisher {command}" in text
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600


def test_debug_log_level_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    inject(monkeypatch, "schema", ZeroDivisionError("division by zero"))
    assert main(["--log-level", "debug", "schema"]) == ExitCode.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "please report" in err
    assert main(["schema", "--log-level", "debug"]) == ExitCode.INTERNAL_ERROR  # after the command too
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_no_writable_log_place_still_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker / "state"))
    monkeypatch.setattr(cli.sys, "argv", ["evidence-publisher"])
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    inject(monkeypatch, "schema", ZeroDivisionError("division by zero"))
    assert main(["schema"]) == ExitCode.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no log file could be written" in err and "--log-level debug" in err


def test_crash_log_masks_credentials_in_urls(monkeypatch: pytest.MonkeyPatch, private_state: Path) -> None:
    inject(monkeypatch, "publish", ZeroDivisionError("x"))
    main(["publish", "--server", "https://user:pw-secret@fhir.example.org/fhir?access_token=tok-secret"])
    text = next((private_state / "evidence-publisher").glob("crash-*.log")).read_text()
    assert "pw-secret" not in text and "tok-secret" not in text
    assert "https://***@fhir.example.org/fhir?***" in text


@pytest.mark.parametrize(
    ("exc", "code", "word"),
    [
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
        (Terminated(), ExitCode.TERMINATED, "terminated"),
        (BrokenPipeError(32, "Broken pipe"), ExitCode.BROKEN_PIPE, ""),
    ],
)
def test_signals_and_a_closed_pipe_have_their_own_codes(
    exc: BaseException, code: int, word: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    inject(monkeypatch, "schema", exc)
    assert main(["schema"]) == code
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err and "internal error" not in err


def test_closed_stdout_pipe_in_a_real_process() -> None:
    """``evidence-publisher ... | head``: the reader goes away; exit 141 quietly, no BrokenPipe noise."""
    child = textwrap.dedent(
        """
        import sys
        from evidence_publisher import cli
        def chatty(_args):
            out = cli._stdout()
            for i in range(200_000):
                out.print(f"line {i}", markup=False)
            return 0
        cli._COMMANDS["schema"] = chatty
        sys.exit(cli.main(["schema"]))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout and proc.stderr
    assert proc.stdout.readline() == "line 0\n"
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == ExitCode.BROKEN_PIPE, err
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["publish", "--server", "http://h/fhir", "--read-timeout", "0"], "--read-timeout"),
        (["publish", "--server", "http://h/fhir", "--read-timeout", "nan"], "--read-timeout"),
        (["verify", "--server", "http://h/fhir", "--connect-timeout", "inf"], "--connect-timeout"),
        (["publish", "--server", "http://h/fhir", "--connect-timeout", "-1"], "--connect-timeout"),
        (["publish", "--server", "http://h/fhir", "--retries", "-3"], "--retries"),
        (["publish", "--server", "http://h/fhir", "--retries", "many"], "--retries"),
        (["publish", "--server", "http://h/fhir", "--chunk-size", "0"], "--chunk-size"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["serve", "--max-body-bytes", "-5"], "--max-body-bytes"),
        (["--max-depth", "0", "schema"], "--max-depth"),
        (["validate", "x.json", "--max-input-bytes", "-1"], "--max-input-bytes"),
        (["build", "--out", ""], "--out"),
        (["validate", ""], "paths"),
        (["apply", "--plan", "p", "--patient", ""], "--patient"),
    ],
)
def test_bad_values_are_usage_errors(argv: list[str], option: str, capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "Traceback" not in err


def test_unknown_plan_for_apply_is_a_usage_error(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """It used to exit 1, the code for a bug."""
    patient = tmp_path / "patient.json"
    patient.write_text('{"resourceType": "Patient", "id": "p"}')
    dist = tmp_path / "dist"
    assert main(["build", str(ROOT / MAPPINGS), "--out", str(dist), "--no-validate"]) == 0
    code = main(["apply", str(dist), "--plan", "no-such-plan", "--patient", str(patient)])
    assert code == ExitCode.USAGE
    assert "no recommendation PlanDefinition 'no-such-plan'" in capsys.readouterr().err


def test_build_json_failure_is_a_json_document(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["build", str(MAPPINGS), "--out", ".", "--format", "json", "--no-validate"])
    captured = capsys.readouterr()
    doc = loads(captured.out)
    assert code == 13 and doc["ok"] is False and doc["exit_code"] == 13
    assert doc["error"] == "UnsafeOutputError" and "is the current directory" in doc["message"]
    assert "is the current directory" in captured.err


def test_build_json_failure_lists_mapping_issues(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    liang = MAPPINGS / "liang-2010.yaml"
    liang.write_text(liang.read_text().replace("label: Liang 2010", "label: Liang 2010\nbogus: 1", 1))
    code = main(["build", str(MAPPINGS), "--out", "dist", "--format", "json", "--no-validate"])
    doc = loads(capsys.readouterr().out)
    assert code == 10 and doc["exit_code"] == 10
    assert any(i["file"].endswith("liang-2010.yaml") and i["line"] > 0 for i in doc["issues"])


def test_global_options_work_before_and_after_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []

    def record(_args: argparse.Namespace) -> int:
        seen.append((limits.current(limits.NESTING_DEPTH), limits.current(limits.JSON_FILE_BYTES)))
        return 0

    monkeypatch.setitem(cli._COMMANDS, "schema", record)
    assert main(["--max-depth", "7", "schema", "--max-input-bytes", "1000"]) == 0
    assert main(["schema"]) == 0  # each run starts from the defaults again
    assert seen == [(7, 1000), (limits.NESTING_DEPTH.default, limits.JSON_FILE_BYTES.default)]


def readme_exit_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_readme_documents_every_exit_code() -> None:
    documented = readme_exit_codes()
    assert sorted(documented) == sorted(int(c) for c in ExitCode)
    assert "bug" in documented[1] and "Ctrl-C" in documented[130] and "SIGTERM" in documented[143]


def test_main_never_lets_an_exception_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a failure while parsing (an argument type with a bug) is reported, not raised."""

    def exploding_path(_text: str) -> Path:
        raise RuntimeError("bug in a type function")

    monkeypatch.setattr(cli, "_path", exploding_path)
    assert main(["validate", "x.json"]) == ExitCode.INTERNAL_ERROR


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (None, 0), (13, 13), (3, 1), ("text", 1)])
def test_a_library_calling_sys_exit_cannot_return_an_undocumented_code(
    code: object, expected: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """uvicorn, for one, calls sys.exit(3) when it cannot bind; 3 is not a documented code."""
    inject(monkeypatch, "schema", SystemExit(code))
    assert main(["schema"]) == expected
    err = capsys.readouterr().err
    assert ("please report" in err) == (expected == 1)
    assert "Traceback" not in err
