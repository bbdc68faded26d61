"""Every long step of a build shows progress: periodic lines when stderr is a pipe."""

from __future__ import annotations

import re
import time
from pathlib import Path

from evidence_publisher import cli_render, output, pipeline
from evidence_publisher.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_compiling_and_writing_report_progress_in_a_pipe(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli_render, "PIPE_PROGRESS_SECONDS", 0.05)
    real_compile, real_write = pipeline.compile_corpus, output.write_file

    def slow_compile(corpus, base_url=None, progress=None, *, spill=False, store=None):
        def on_file(done: int, total: int) -> None:
            time.sleep(0.3)
            progress(done, total)

        return real_compile(corpus, base_url, on_file, spill=spill)  # compiled, whatever the cache holds

    def slow_write(path: Path, text: object) -> None:
        time.sleep(0.002)
        real_write(path, text)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "compile_corpus", slow_compile)
    monkeypatch.setattr(output, "write_file", slow_write)
    assert (
        main(["build", str(ROOT / "mappings" / "lupus-msc"), "--out", str(tmp_path / "d"), "--no-validate"])
        == 0
    )
    err = capsys.readouterr().err
    assert re.search(r"^compiling 10 mapping files into FHIR resources\.\.\. \(\d+%, \d+ s\)$", err, re.M), (
        err
    )
    assert re.search(r"^writing 163 files\.\.\. \(\d+%, \d+ s\)$", err, re.M), err
