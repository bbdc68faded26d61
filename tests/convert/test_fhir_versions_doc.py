"""docs/fhir-versions.md: its example runs as written and its report excerpt is real."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from tests.convert.conftest import CACHE, REPO

from evidence_publisher.cli import main

DOC = REPO / "docs" / "fhir-versions.md"


def test_the_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- fhir-versions-example -->\s*```sh\n(.+?)\n```", text, re.S)
    assert block
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(CACHE))
    (tmp_path / "mappings").symlink_to(REPO / "mappings")
    for line in block.group(1).splitlines():
        argv = shlex.split(line)
        assert argv[0] == ".venv/bin/evidence-publisher"
        assert main(argv[1:]) == 0, line
    excerpt = json.loads(re.search(r"```json\n(.+?)\n```", text, re.S).group(1))
    report = json.loads((tmp_path / "dist-r4b" / "build-report.json").read_text(encoding="utf-8"))
    assert excerpt in report["conversions"]
