"""Mapping YAML within limits: alias bombs, huge files, deep nesting, long strings, node counts.

Each limit ends the build with exit 14 and an ``input-limit`` issue at file:line that names the
limit and how to raise it; nothing is written.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from evidence_publisher.sources import load_corpus

from .input_helpers import assert_clean_failure, copy_corpus, run, run_bounded

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi", strict=True)
)


def test_nine_level_alias_bomb_fails_fast_in_bounded_memory(tmp_path: Path) -> None:
    corpus = copy_corpus(tmp_path / "m")
    (corpus / "bomb.yaml").write_text(BOMB)
    started = time.monotonic()
    proc = run_bounded(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], memory_mb=1024)
    assert_clean_failure(proc.returncode, proc.stderr, 14)
    assert "bomb.yaml:" in proc.stderr
    assert "aliases expand to more than 1,000,000 YAML nodes" in proc.stderr
    assert "--max-yaml-nodes N or EP_MAX_YAML_NODES" in proc.stderr
    assert not (tmp_path / "o").exists()
    assert time.monotonic() - started < 120  # the subprocess timeout is the real bound


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    """Aliases are allowed; each counts the nodes it stands for."""
    corpus = copy_corpus(tmp_path / "m")
    liang = corpus / "liang-2010.yaml"
    text = liang.read_text()
    text = text.replace("  - id: sledai-baseline\n", "  - &first\n    id: sledai-baseline\n", 1)
    liang.write_text(text)
    loaded = load_corpus([corpus])
    assert "liang-2010" in loaded.publications


def test_node_limit_counts_plain_nodes_too(tmp_path: Path, monkeypatch, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    (corpus / "many.yaml").write_text("items:\n" + "  - 1\n" * 3000)
    monkeypatch.setenv("EP_MAX_YAML_NODES", "2000")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 14)
    assert "many.yaml:" in err and "more than 2,000 YAML nodes" in err


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    big = corpus / "big.yaml"
    big.write_text("- x\n" * (21 * 1024 * 1024 // 4 + 1))  # 21 MiB of valid YAML
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 14)
    assert "big.yaml: the mapping file is 22,020,100 bytes, over the mapping file size limit of " in err
    assert "20,971,520 bytes" in err and "--max-input-bytes N or EP_MAX_INPUT_BYTES" in err


def test_size_limit_can_be_raised_and_lowered(tmp_path: Path, monkeypatch, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    argv = ["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"]
    code, _out, err = run([*argv, "--max-input-bytes", "500"], capsys)  # each run starts from the defaults
    assert_clean_failure(code, err, 14)
    assert "over the mapping file size limit of 500 bytes" in err
    monkeypatch.setenv("EP_MAX_INPUT_BYTES", "1000000")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert code == 0, err


def test_deep_flow_nesting_is_a_limit_not_a_recursion_error(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    (corpus / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 14)
    assert "deep.yaml:1:" in err and "nesting of more than 100 levels" in err
    assert "--max-depth N or EP_MAX_DEPTH" in err


def test_deep_block_nesting_is_a_limit(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    lines = [" " * i + f"k{i}:" for i in range(150)]
    (corpus / "deep.yaml").write_text("\n".join(lines) + " x\n")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 14)
    assert "deep.yaml:101:" in err


def test_long_string_is_a_limit(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    (corpus / "long.yaml").write_text("kind: publication\nlabel: " + "x" * (1024 * 1024 + 1) + "\n")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 14)
    assert "long.yaml:2:8: a string of 1,048,577 characters, over the string length limit" in err
    assert "--max-string N or EP_MAX_STRING" in err


def test_limit_problems_come_first_with_other_problems(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    (corpus / "deep.yaml").write_text("a: " + "[" * 200 + "]" * 200 + "\n")
    (corpus / "aaa.yaml").write_text("kind: publication\nid: x\n")
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 14)
    details = [line.strip() for line in err.splitlines()[1:]]
    assert "[input-limit]" in details[0]
    assert any("aaa.yaml" in d for d in details[1:])


@pytest.mark.parametrize("megabytes", [5])
def test_a_large_valid_mapping_still_loads(tmp_path: Path, megabytes: int) -> None:
    """A ~5 MB publication (hundreds of results) loads and checks; no time is asserted here
    (bench/bench_mapping_load.py measures it)."""
    corpus = copy_corpus(tmp_path / "m")
    liang = corpus / "liang-2010.yaml"
    head, _, rest = liang.read_text().partition("results:\n")
    results, _, tail = rest.partition("certainty:\n")
    copies = []
    size = len(head) + len(tail)
    i = 0
    while size < megabytes * 1_000_000:
        block = results.replace("  - id: ", f"  - id: c{i}-")
        block = block.replace("{after: ", f"{{after: c{i}-").replace("before: ", f"before: c{i}-")
        copies.append(block)
        size += len(block)
        i += 1
    liang.write_text(head + "results:\n" + results + "".join(copies) + "certainty:\n" + tail)
    assert liang.stat().st_size > megabytes * 1_000_000
    seen = []
    loaded = load_corpus([corpus], progress=seen.append)
    pub = loaded.publications["liang-2010"].model
    assert len(pub.results) == (i + 1) * results.count("  - id: ")
    assert len(seen) > 3


def test_a_repeated_mistake_is_listed_a_hundred_times_then_counted(tmp_path: Path, capsys) -> None:
    corpus = copy_corpus(tmp_path / "m")
    (corpus / "dups.yaml").write_text("kind: publication\n" + "a: 1\n" * 5000)
    code, _out, err = run(["build", str(corpus), "--out", str(tmp_path / "o"), "--no-validate"], capsys)
    assert_clean_failure(code, err, 10)
    lines = [line for line in err.splitlines() if "dups.yaml" in line]
    assert len(lines) <= 102
    # 4,899 duplicate keys beyond the first 100, plus the schema problems of the file
    assert re.search(r"and 4,9\d\d more problems in \S*dups.yaml \(not listed\)", lines[-1])
