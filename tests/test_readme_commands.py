"""The README's commands: CI runs the test command; the main one runs from a clean clone; the trial
section (build, validate, apply, publish to the HAPI stand-in, serve with the example key) runs as
written."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", text, re.S)
    assert match, marker
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = readme_command("test-command")
    ci_lines = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci_lines[-1] == command


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_main_command_works_in_a_clean_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    command = readme_command("main-command")
    result = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (clone / "dist" / "bundle-transaction.json").is_file()
    assert len(list((clone / "dist" / "resources").glob("*.json"))) > 50


def test_site_command_makes_the_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's one command for the site, run as written (in a scratch directory)."""
    import shlex

    from evidence_publisher.cli import main

    command = readme_command("site-command")
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/evidence-publisher"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mappings").symlink_to(ROOT / "mappings")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    assert main([*argv[1:], "--no-validate"]) == 0
    assert (tmp_path / "site" / "index.html").is_file()
    assert len(list((tmp_path / "site" / "studies").glob("*.html"))) >= 3


# --------------------------------------------------------------------------------------------
# "Try every command on this machine": every command of that section, as written, on free ports
# --------------------------------------------------------------------------------------------
def trial_block(name: str) -> list[str]:
    return readme_command(f"trial: {name}").splitlines()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Trial:
    """A scratch copy of the repository layout where the README's commands run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()

    def command(self, line: str) -> str:
        return line.replace("8080", str(self.port))

    def run(self, line: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", self.command(line)], cwd=self.folder, capture_output=True, text=True, timeout=600
        )

    @contextmanager
    def server(self, line: str) -> Iterator[subprocess.Popen]:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {self.command(line)}"],
            cwd=self.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, proc.communicate()
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", self.port)) == 0:
                        break
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            yield proc
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=60)
            assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Trial:
    if not (ROOT / ".venv" / "bin" / "evidence-publisher").exists():
        pytest.skip("the README's commands call .venv/bin/ of the repository")
    folder = tmp_path_factory.mktemp("trial")
    for name in (".venv", "mappings", "tests"):
        (folder / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "examples", folder / "examples")
    trial = Trial(folder)
    config = folder / "examples" / "cds.yaml"
    config.write_text(trial.command(config.read_text()))
    results = [trial.run(line) for line in trial_block("offline")]
    for line, result in zip(trial_block("offline"), results, strict=True):
        assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"
    trial.offline = results
    return trial


def test_readme_trial_offline(trial: Trial) -> None:
    _build, validate, eligible, ineligible = trial.offline
    assert (trial.folder / "dist" / "build-report.json").is_file()
    assert " 0 errors" in validate.stdout
    assert "recommendation applies" in eligible.stderr
    assert "recommendation does not apply" in ineligible.stderr
    assert json.loads(eligible.stdout)["resourceType"] == "Bundle"


def test_readme_trial_publish_to_the_standin(trial: Trial) -> None:
    (server,) = trial_block("standin-server")
    with trial.server(f"{server} --port {trial.port}"):
        dry_run, publish, verify = (trial.run(line) for line in trial_block("standin-client"))
    assert dry_run.returncode == 0 and "would-create" in dry_run.stdout, dry_run.stderr
    assert publish.returncode == 0 and "created" in publish.stdout, publish.stderr
    assert verify.returncode == 0 and "same" in verify.stdout, verify.stderr


def test_readme_trial_serve_with_authentication(trial: Trial) -> None:
    (server,) = trial_block("serve-server")
    with trial.server(server):
        eligible, ineligible = (trial.run(line) for line in trial_block("serve-client"))
    assert eligible.returncode == 0 and ": 1 card(s)" in eligible.stdout, eligible.stderr
    assert ineligible.returncode == 0 and ": 0 card(s)" in ineligible.stdout, ineligible.stderr
