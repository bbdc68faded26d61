"""libyaml (PyYAML's CParser) and PyYAML's pure-Python parser give the same documents, marks and
issues: the limits (alias expansion, depth, string length) and every check of our own are enforced
on the parser's events, so they cannot depend on which parser made them. Only the wording of a
YAML syntax error is the parser's own; its kind and position agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evidence_publisher.sources import yamlload
from evidence_publisher.sources.yamlload import parse_located

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")

_BOMB_LEVELS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n" for prev, name in zip("abcde", "bcdef", strict=True)
)
SAME = {
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "alias to nothing": "a: *nowhere\n",
    "alias inside its anchor": "a: &x [1, *x]\n",
    "merge key": "<<: {a: 1}\n",
    "unsupported tag": "a: !!binary aGk=\n",
    "key that is a list": "? [a, b]\n: 1\n",
    "escaped control character": 'a: "x\\u0007y"\n',
    "second document": "a: 1\n---\nb: 2\n",
    "unclosed quote": 'a: "abc\nb: 1\n',
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + _BOMB_LEVELS,
    "deep block nesting": "".join("  " * i + f"k{i}:\n" for i in range(120)) + "  " * 120 + "x: 1\n",
    "deep flow nesting": "a: " + "[" * 150 + "]" * 150 + "\n",
    "long string": "a: " + "x" * (1024 * 1024 + 5) + "\n",
    "scalars YAML would guess at": "a: 012\nb: 0x1A\nc: 1:30\nd: 858.0\ne: .inf\nf: yes\ng: ~\n",
}
SYNTAX = {
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "colon in a plain value": "a: b: c\n",
    "unclosed flow sequence": "a: [1, 2\nb: 3\n",
    "tab indentation": "a:\n\tb: 1\n",
}


def _parse(text: str, loader: type, monkeypatch: pytest.MonkeyPatch) -> tuple[object, list[tuple]]:
    monkeypatch.setattr(yamlload, "_Loader", loader)
    doc, issues = parse_located(text, "f.yaml")
    found = None if doc is None else (doc.data, doc.locations, doc.raw)
    return found, [(i.code, i.location, i.field, i.problem) for i in issues]


@pytest.mark.parametrize("text", SAME.values(), ids=SAME.keys())
def test_same_document_marks_and_issues(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _parse(text, yaml.CSafeLoader, monkeypatch)
    slow = _parse(text, yaml.SafeLoader, monkeypatch)
    assert fast == slow


@pytest.mark.parametrize("text", SYNTAX.values(), ids=SYNTAX.keys())
def test_syntax_errors_agree_in_kind_and_position(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (fast_doc, fast), (slow_doc, slow) = (
        _parse(text, c, monkeypatch) for c in (yaml.CSafeLoader, yaml.SafeLoader)
    )
    assert fast_doc is None and slow_doc is None
    assert [i[:3] for i in fast] == [i[:3] for i in slow] != []
    assert all(i[3].startswith("YAML syntax error: ") for i in fast + slow)


def test_every_seed_mapping_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    for path in sorted((Path(__file__).resolve().parents[2] / "mappings" / "lupus-msc").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert _parse(text, yaml.CSafeLoader, monkeypatch) == _parse(text, yaml.SafeLoader, monkeypatch), path


def test_libyaml_is_used_when_present() -> None:
    assert yamlload._Loader is yaml.CSafeLoader
