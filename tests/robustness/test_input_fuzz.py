"""Property-based fuzzing of the input side: malformed mappings to ``build`` and malformed FHIR
JSON to ``validate``, through ``cli.main`` in-process.

Whatever is generated, the command must return one of its documented exit codes, print no
traceback, and finish within a time and memory bound (a watchdog alarm and an address-space
limit around each example; these guard against hangs and blow-ups, they do not measure speed).
Runs are deterministic (``derandomize=True``, no example database). The number of examples per
test is ``EXAMPLES`` below; docs/validation.md reports the totals.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence_publisher import limits
from evidence_publisher.cli import main
from evidence_publisher.jsonio import dumps

from .input_helpers import FHIR_CACHE, copy_corpus

EXAMPLES = {"mapping_text": 100, "mapping_structure": 80, "json_text": 80, "json_structure": 80}
BUILD_CODES = {0, 10, 11, 14}
VALIDATE_CODES = {0, 12, 14}
WATCHDOG_SECONDS = 60
EXTRA_MEMORY = 1536 * 1024 * 1024

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    # capsys and the package-cache env are per test, not per example: that is intended here
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings" / "lupus-msc"
CORPUS_FILES = sorted(p.name for p in MAPPINGS.glob("*.yaml"))

# fragments that mean something to YAML, to Python's YAML 1.1 resolver or to the loader's checks
YAML_BITS = [
    ":", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "*zz", "!!binary ", "!x ", "!!python/object ",
    "'", '"', "\t", "\n", "\n  ", "\n    - ", "#", "%YAML 1.1\n", "@", "`", "|\n", ">-\n", "? ", "---\n",
    "...\n", "\\", '"\\0"', '"\\x1b"', '"\\ud800"', "\x00", "\x07", "\x85", "\u2028", "\ufeff", "é", "😀",
    "yes", "no", "on", "~", "null", "0x1F", "012", "1:30", ".inf", ".nan", "1e400", "-0", "1_000", "3.20",
    "2026-13-45", "2026-02-30", "<<: *a\n", "kind: corpus\n", "id: liang-2010\n", "[" * 300, "&b [*a, *a]",
]  # fmt: skip
STRANGE_VALUES = [
    True, False, None, 0, -1, 10**30, 1.5, float("inf"), "", " ", "yes", "3.20", "2026-13-45",
    "\x00", "é" * 3, [], {}, [[[[]]]], {"a": {"b": {"c": None}}}, "x" * 2000,
]  # fmt: skip


def _vm_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024


@contextmanager
def bounded() -> Iterator[None]:
    """Fail the example (MemoryError / TimeoutError) if it takes too much memory or time."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + EXTRA_MEMORY
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"an example ran longer than {WATCHDOG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.alarm(WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        limits.reset()


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    with bounded():
        code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ep-fuzz-"))
    copy_corpus(root / "m")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _build_with(work: Path, name: str, data: bytes, capsys: pytest.CaptureFixture) -> None:
    target = work / "m" / name
    original = target.read_bytes()
    out = work / "out"
    try:
        target.write_bytes(data)
        code, _out, err = run_cli(["build", str(work / "m"), "--out", str(out), "--no-validate"], capsys)
    finally:
        target.write_bytes(original)
        shutil.rmtree(out, ignore_errors=True)
    assert code in BUILD_CODES, err
    if code:
        assert err.startswith("error: "), err
        assert " problem" in err.splitlines()[0] or code == 14


# --------------------------------------------------------------------------------------------
# mappings: text mutations
# --------------------------------------------------------------------------------------------
position = st.integers(min_value=0, max_value=1 << 20)
text_mutation = st.one_of(
    st.tuples(st.just("insert"), position, st.sampled_from(YAML_BITS) | st.text(max_size=6)),
    st.tuples(st.just("delete"), position, st.integers(min_value=1, max_value=60)),
    st.tuples(st.just("bytes"), position, st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("dupline"), position, st.just(0)),
    st.tuples(st.just("swaplines"), position, position),
    st.tuples(st.just("indent"), position, st.integers(min_value=-4, max_value=4)),
)


def mutate_text(data: bytes, mutations: list[tuple]) -> bytes:
    for op, a, b in mutations:
        lines = data.split(b"\n")
        at = a % (len(data) + 1)
        if op == "insert":
            data = data[:at] + b.encode("utf-8", "surrogatepass") + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + b :]
        elif op == "bytes":
            data = data[:at] + b + data[at:]
        elif op == "dupline":
            i = a % len(lines)
            data = b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        elif op == "swaplines":
            i, j = a % len(lines), b % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif op == "indent":
            i = a % len(lines)
            lines[i] = b" " * max(b, 0) + lines[i][max(-b, 0) :]
            data = b"\n".join(lines)
    return data


@settings(FUZZ, max_examples=EXAMPLES["mapping_text"])
@given(name=st.sampled_from(CORPUS_FILES), mutations=st.lists(text_mutation, min_size=1, max_size=5))
def test_build_survives_mutated_mapping_text(work: Path, capsys, name: str, mutations: list[tuple]) -> None:
    original = (work / "m" / name).read_bytes()
    _build_with(work, name, mutate_text(original, mutations), capsys)


# --------------------------------------------------------------------------------------------
# mappings: structure mutations
# --------------------------------------------------------------------------------------------
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(STRANGE_VALUES),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
structure_op = st.tuples(
    st.sampled_from(["replace", "delete", "rename", "wrap", "unknown"]), position, json_like
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def mutate_structure(data: Any, ops: list[tuple]) -> Any:
    for op, where, value in ops:
        paths = [p for p in _paths(data) if p]
        if not paths:
            return value
        path = paths[where % len(paths)]
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        if op == "replace":
            parent[key] = value
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[f"{key}x"] = parent.pop(key)
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "unknown" and isinstance(parent, dict):
            parent["zz-unknown"] = value
    return data


@settings(FUZZ, max_examples=EXAMPLES["mapping_structure"])
@given(name=st.sampled_from(CORPUS_FILES), ops=st.lists(structure_op, min_size=1, max_size=4))
def test_build_survives_mutated_mapping_structure(work: Path, capsys, name: str, ops: list[tuple]) -> None:
    data = yaml.safe_load((work / "m" / name).read_text())
    text = yaml.safe_dump(mutate_structure(data, ops), allow_unicode=True, sort_keys=False)
    _build_with(work, name, text.encode("utf-8", "surrogatepass"), capsys)


# --------------------------------------------------------------------------------------------
# validate: malformed FHIR JSON
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resources(built_corpus: Path) -> list[dict]:
    wanted = ("Evidence", "Citation", "PlanDefinition", "Group", "EvidenceVariable", "ArtifactAssessment")
    files = sorted((built_corpus / "resources").glob("*.json"))
    picked = [next(f for f in files if f.name.startswith(f"{t}-")) for t in wanted]
    return [json.loads(f.read_text()) for f in picked]


@pytest.fixture(autouse=True)
def _package_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(FHIR_CACHE))


def _validate(work: Path, data: bytes, suffix: str, capsys) -> None:
    f = work / f"input{suffix}"
    f.write_bytes(data)
    code, out, err = run_cli(["validate", str(f), "--format", "json"], capsys)
    assert code in VALIDATE_CODES, err
    if code in (0, 12):
        doc = json.loads(out)
        diagnostics = [i["diagnostics"] for o in doc["outcomes"] for i in o["outcome"]["issue"]]
        assert not [d for d in diagnostics if "internal validator error" in d], diagnostics
    else:
        assert "limit" in err


@settings(FUZZ, max_examples=EXAMPLES["json_text"])
@given(
    index=st.integers(min_value=0, max_value=5),
    mutations=st.lists(text_mutation, min_size=1, max_size=4),
    ndjson=st.booleans(),
)
def test_validate_survives_mutated_json_text(
    work: Path, resources: list[dict], capsys, index: int, mutations: list[tuple], ndjson: bool
) -> None:
    res = resources[index]
    text = dumps(res, indent=None) + "\n" + dumps(res, indent=None) if ndjson else dumps(res)
    _validate(work, mutate_text(text.encode(), mutations), ".ndjson" if ndjson else ".json", capsys)


@settings(FUZZ, max_examples=EXAMPLES["json_structure"])
@given(
    index=st.integers(min_value=0, max_value=5),
    ops=st.lists(structure_op, min_size=1, max_size=4),
    duplicate=st.booleans(),
)
def test_validate_survives_mutated_json_structure(
    work: Path, resources: list[dict], capsys, index: int, ops: list[tuple], duplicate: bool
) -> None:
    res = mutate_structure(json.loads(json.dumps(resources[index], default=str)), ops)
    text = json.dumps(res, ensure_ascii=False, allow_nan=True)
    if duplicate and text.startswith("{"):
        text = '{"id": "dup", ' + text[1:]  # a second "id" (or the first) in the same object
    _validate(work, text.encode("utf-8", "surrogatepass"), ".json", capsys)
