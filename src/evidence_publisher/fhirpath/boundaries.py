"""``lowBoundary()``, ``highBoundary()`` and ``comparable()`` (FHIR's additions, used by per-1 and
rng-2), shared by both engines.

Decimals widen by half a unit of their last digit, partial dates and times to their first or
last instant, Quantities keep their unit; the precision argument is accepted and ignored.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from evidence_publisher.fhirpath.adapter import FP_DateTime, FP_Quantity, unwrap


def _decimal_boundary(value: Decimal | int, high: bool) -> Decimal:
    d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    exp = d.as_tuple().exponent
    half = Decimal(5).scaleb(int(exp) - 1) if isinstance(exp, int) else Decimal(0)
    return d + half if high else d - half


_DT = re.compile(
    r"(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<t>\d{2}:\d{2}(:\d{2}(\.\d+)?)?)(?P<z>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _date_boundary(text: str, high: bool) -> FP_DateTime | None:
    m = _DT.fullmatch(text)
    if not m:
        return None
    y = int(m["y"])
    month = m["m"] or ("12" if high else "01")
    if m["d"]:
        day = m["d"]
    elif high:
        mi = int(month)
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        day = f"{(29 if leap else 28) if mi == 2 else _MONTH_DAYS[mi - 1]:02d}"
    else:
        day = "01"
    t = m["t"]
    if t is None:
        # a date stays a date (FHIRPath: @2014.lowBoundary() = @2014-01-01)
        return FP_DateTime(f"{y:04d}-{month}-{day}")
    if len(t) == 5:
        t += ":59.999" if high else ":00.000"
    elif "." not in t:
        t += ".999" if high else ".000"
    return FP_DateTime(f"{y:04d}-{month}-{day}T{t}{m['z'] or ''}")


class BoundaryQuantity(FP_Quantity):
    """A Quantity boundary that supports ``<=`` (fhirpathpy's FP_Quantity has no compare)."""

    def __init__(self, value: Decimal, unit: str) -> None:  # FP_Quantity's is unannotated
        FP_Quantity.__init__(self, value, unit)

    def compare(self, other: object) -> int:  # type: ignore[override]
        if not isinstance(other, FP_Quantity) or other.unit != self.unit:
            return 0  # incomparable: rng-2 guards this case with comparable()
        return (self.value > other.value) - (self.value < other.value)


def boundary(inputs: list, high: bool) -> list:
    if len(inputs) != 1:
        return []
    v = inputs[0]
    if isinstance(v, bool):
        return []
    if isinstance(v, int | Decimal):
        return [_decimal_boundary(v, high)]
    if isinstance(v, FP_DateTime):
        v = str(v)
    if isinstance(v, str):
        r = _date_boundary(v, high)
        return [r] if r is not None else []
    if isinstance(v, dict) and "value" in v:
        unit = v.get("code") or v.get("unit") or "1"
        return [BoundaryQuantity(_decimal_boundary(v["value"], high), f"'{unit}'")]
    return []


def comparable(inputs: list, other: Any) -> list:
    if len(inputs) != 1:
        return []
    a = inputs[0]
    b = unwrap(other[0] if isinstance(other, list) and other else other)
    if isinstance(a, FP_Quantity) and isinstance(b, FP_Quantity):
        if a.unit == b.unit:
            return [True]
        try:
            return [FP_Quantity.conv_unit_to(a.unit, a.value, b.unit) is not None]
        except Exception:  # fhirpathpy's unit conversion raises on units it does not know
            return [False]
    return [type(a) is type(b)]
