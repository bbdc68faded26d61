"""``jsonio.parse_untrusted`` reads with the standard library's C parser first and simplejson only
for what that refuses: the value, the duplicate keys and every error are the same as simplejson's
alone (the parser the validator's outcomes were written with)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import simplejson

from evidence_publisher import jsonio
from evidence_publisher.errors import InputLimitError
from evidence_publisher.validate import inputs

TEXTS = [
    b'{"a": 0.050, "b": 1e400, "c": -0.0, "d": 12345678901234567890, "e": [1, 2.5E-3], "f": null}',
    b'{"s": "\\ud800 lone", "t": "\\u00e9\xc3\xa9", "u": true, "v": false}',
    b'{"id": "a", "id": "b", "x": {"k": 1, "k": 2}, "l": [{"m": 1, "m": 1}]}',
    b'\xef\xbb\xbf{"bom": 1}',
    b'{"nan": NaN}',
    b'{"inf": -Infinity}',
    b"{bad",
    b'{"a": 1} trailing',
    b'{"latin": "\xe9"}',
    b'{"ctrl": "a\tb"}',
    b'{"big": ' + b"9" * 5000 + b"}",
    b"[" * 50 + b"]" * 50,
    b'"just a string"',
]


def _simplejson_alone(text: bytes) -> tuple[str, object]:
    found: list[str] = []

    def hook(pairs: list) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            found.append(repr(pairs))
        return obj

    try:
        return "value", (simplejson.loads(text, use_decimal=True, object_pairs_hook=hook), len(found))
    except ValueError as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_the_same_value_and_errors_as_simplejson(text: bytes):
    kind, expected = _simplejson_alone(text)
    try:
        parsed = jsonio.parse_untrusted(text, "x.json")
    except ValueError as exc:
        assert (type(exc).__name__, str(exc)) == (kind, expected)
        return
    assert kind == "value"
    value, duplicates = expected  # type: ignore[misc]
    assert repr(parsed.value) == repr(value)  # Decimal('0.050') is not Decimal('0.05') here
    assert len(parsed.duplicate_keys) >= duplicates


def test_non_integers_are_decimals_as_written():
    parsed = jsonio.parse_untrusted(b'{"a": 0.050, "b": [1, 2.0]}', "x.json")
    assert parsed.value == {"a": Decimal("0.050"), "b": [1, Decimal("2.0")]}
    assert str(parsed.value["a"]) == "0.050" and type(parsed.value["b"][0]) is int


def test_duplicate_keys_are_found_at_their_paths():
    parsed = jsonio.parse_untrusted(b'{"id": "a", "id": "b", "x": [{"k": 1, "k": 2}]}', "x.json")
    assert sorted(parsed.duplicate_keys) == ["id", "x[0].k"]


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_the_depth_limit_is_kept_whatever_the_parser(depth: int):
    text = b'{"a": ' * depth + b"1" + b"}" * depth
    if depth > 4:
        with pytest.raises(InputLimitError):
            jsonio.parse_untrusted(text, "x.json", max_depth=4)
    else:
        assert jsonio.parse_untrusted(text, "x.json", max_depth=4).value is not None


def test_a_deep_document_under_many_braces_is_still_measured():
    """More braces than the limit (the cheap count says nothing) but shallow: accepted."""
    text = b"[" + b", ".join([b"{}"] * 200) + b"]"
    assert len(jsonio.parse_untrusted(text, "x.json", max_depth=4).value) == 200
    deep = b"[" * 6 + b", ".join([b"{}"] * 200) + b"]" * 6
    with pytest.raises(InputLimitError):
        jsonio.parse_untrusted(deep, "x.json", max_depth=4)


@pytest.mark.parametrize(("content", "size"), [(b"x" * 10, 10), (b"x" * 14, 10), (b"x" * 30, 10), (b"", 0)])
def test_a_file_is_read_whole_within_the_limit_even_when_it_grew(content: bytes, size: int):
    """The size known beforehand is only where reading starts: a file that grew since is read
    on, and the limit still holds."""
    if len(content) > 20:
        with pytest.raises(InputLimitError):
            inputs._bounded(io.BytesIO(content), "x.json", 20, size)
    else:
        assert inputs._bounded(io.BytesIO(content), "x.json", 20, size) == content
