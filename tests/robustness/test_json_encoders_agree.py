"""``jsonio.dumps`` writes with orjson (fast) and hands to simplejson what orjson would write
differently or not at all: the text is simplejson's canonical text either way, and what
simplejson refuses is still refused."""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_publisher import jsonio
from evidence_publisher.jsonio import dumps

_KEYS = st.text(max_size=8)  # any code point, the sort order of non-ASCII keys included
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # beyond 64 bits: simplejson's
    | st.decimals(allow_nan=False, allow_infinity=False, places=None)
    | st.text()  # control characters, U+2028, lone surrogates (orjson refuses them)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


def _simplejson(obj: Any, indent: int | None) -> str:
    return jsonio._simplejson_dumps(obj, indent)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_orjson_and_simplejson_write_the_same_text(value: Any) -> None:
    for indent in (None, 2):
        try:
            expected = _simplejson(value, indent)
        except (ValueError, TypeError) as refused:
            with pytest.raises(type(refused)):
                dumps(value, indent=indent)
            continue
        assert dumps(value, indent=indent) == expected


class _Colour(enum.StrEnum):
    RED = "red"


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, Decimal("0.050"), Decimal("-0"), Decimal("1E+3")], "b": {"é": "\u2028\x7f", "A": None}},
        {"colour": _Colour.RED},  # a str subclass: simplejson writes its value
        {"t": (1, 2)},  # a tuple: a list
        {2: "x", "1": "y"},  # a non-string key: simplejson's text for it
        {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    ],
)
def test_what_orjson_would_write_otherwise_is_written_by_simplejson(value: Any) -> None:
    for indent in (None, 2):
        assert dumps(value, indent=indent) == _simplejson(value, indent)


@pytest.mark.parametrize(
    "value",
    [
        {"x": float("nan")},  # orjson alone would write null
        {"x": [1.0, float("inf")]},
        {"x": Decimal("NaN")},
        {"x": _Point(1)},  # orjson alone would write an object
    ],
)
def test_what_simplejson_refuses_is_refused(value: Any) -> None:
    for indent in (None, 2):
        with pytest.raises((ValueError, TypeError)):
            dumps(value, indent=indent)
