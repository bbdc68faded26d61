"""Property: whatever tree ``--out`` points into, a build loses no file it did not write itself.

Hypothesis generates small directory trees (user files, look-alike and genuine previous builds,
symbolic links, a mapping directory, a home directory) and an ``--out`` anywhere in or near them,
then runs the real check-and-write. The oracle is independent of the implementation's rules: a
file may disappear or change only if it lies inside ``--out``, is named like a build output, and
``--out`` held a marked ``build-report.json`` beforehand. Nothing temporary may remain either way.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evidence_publisher.errors import EvidencePublisherError
from evidence_publisher.jsonio import dumps
from evidence_publisher.output import build_marker, protected_dirs, write_atomically

EXAMPLES = 400
NEW_BUILD = {
    "resources/Evidence-a.json": "{}\n",
    "ndjson/Evidence.ndjson": "{}\n",
    "bundle-transaction.json": "{}\n",
    "build-report.json": dumps({**build_marker(), "resources": []}),
}
BUILD_PATTERNS = ("resources/*.json", "ndjson/*.ndjson", "bundle-*.json", "build-report.json")
NAMES = ["resources", "ndjson", "bundle-x.json", "build-report.json", "notes.txt", ".git", "a", "b", "m.yaml"]
REPORTS = [
    dumps(build_marker()),
    dumps({"kind": "evidence-publisher-build", "format_version": 2}),
    dumps({"corpus": "old build, no marker"}),
    "not json",
]

entry = st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),  # path parts under the root
    st.sampled_from(["file", "dir", "report", "link"]),
    st.integers(0, 3),  # which report text / which link target
)


def make_tree(root: Path, entries: list[tuple[list[str], str, int]]) -> None:
    for parts, kind, choice in entries:
        path = root.joinpath(*parts)
        with contextlib.suppress(OSError):  # a generated path may collide with a file: skip it
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                continue
            if kind == "dir":
                path.mkdir()
            elif kind == "file":
                path.write_text(f"user data {'/'.join(parts)}")
            elif kind == "report":
                path.write_text(REPORTS[choice])
            else:
                targets = [root, root / "mappings", root / "a", root / "missing"]
                path.symlink_to(targets[choice])


def snapshot(root: Path) -> dict[Path, bytes]:
    found = {}
    for folder, _dirs, files in os.walk(root):  # does not follow links: each file counted once
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                found[path] = path.read_bytes()
    return found


def had_marker(out: Path) -> bool:
    """The documented contract: a build-report.json whose kind and format_version are the marker's."""
    try:
        doc = json.loads((out / "build-report.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and build_marker().items() <= doc.items()


def build_output(out: Path, path: Path) -> bool:
    try:
        rel = path.relative_to(out).as_posix()
    except ValueError:
        return False
    return any(fnmatch.fnmatch(rel, p) and rel.count("/") == p.count("/") for p in BUILD_PATTERNS)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    previous=st.sampled_from([None, ["dist"], ["a", "dist"], ["a", "b"]]),
    entries=st.lists(entry, max_size=12),
    out_parts=st.one_of(
        st.sampled_from([["dist"], ["a", "dist"], ["a", "b"]]),
        st.lists(st.sampled_from([*NAMES, "dist", "..", "."]), min_size=0, max_size=3),
    ),
    cwd_parts=st.sampled_from([[], ["a"], ["mappings"], ["home"]]),
)
def test_out_never_loses_a_file_the_build_did_not_write(
    previous: list[str] | None,
    entries: list[tuple[list[str], str, int]],
    out_parts: list[str],
    cwd_parts: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve() / "root"
        (root / "mappings").mkdir(parents=True)
        (root / "mappings" / "corpus.yaml").write_text("kind: corpus\n")
        (root / "home").mkdir()
        (root / "home" / ".profile").write_text("precious\n")
        (root / "a").mkdir()
        if previous is not None:  # a genuine previous build, which the entries may then spoil
            for rel, text in {**NEW_BUILD, "resources/Evidence-old.json": "{}"}.items():
                (root.joinpath(*previous) / rel).parent.mkdir(parents=True, exist_ok=True)
                (root.joinpath(*previous) / rel).write_text(text)
        make_tree(root, entries)
        cwd = root.joinpath(*cwd_parts)
        out = root.joinpath(*out_parts)
        before = snapshot(Path(tmp))
        real_out = Path(os.path.realpath(out))
        marked = real_out.is_dir() and had_marker(real_out)
        saved_cwd, saved_home = os.getcwd(), os.environ.get("HOME")
        try:
            os.chdir(cwd)
            os.environ["HOME"] = str(root / "home")
            try:
                write_atomically(out, NEW_BUILD, protected_dirs([root / "mappings"]))
                written = True
            except EvidencePublisherError:
                written = False
        finally:
            os.chdir(saved_cwd)
            if saved_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved_home
        after = snapshot(Path(tmp))
        lost = [p for p, data in before.items() if after.get(p) != data]
        assert all(marked and build_output(real_out, p) for p in lost), (out, lost)
        assert cwd.is_dir() and (root / "mappings" / "corpus.yaml").is_file()
        if real_out.parent.is_dir():
            assert list(real_out.parent.glob(f".{real_out.name}.*")) == []
        event("written" if written else "refused")
        event(f"--out was {'a marked previous build' if marked else 'something else'}")
        if written:
            assert {p.relative_to(real_out).as_posix() for p in real_out.rglob("*") if p.is_file()} == set(
                NEW_BUILD
            )
