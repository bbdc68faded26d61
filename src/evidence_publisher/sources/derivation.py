"""Counts recovered from reported percentages (e.g. 60.5 % of 81 patients is 49 patients).

A percentage printed with d decimals and a known denominator n pins the count only when exactly
one whole number k in 0..n gives 100*k/n that rounds to the printed value. Both common rounding
rules (half up, half to even) are tried, so a count is never recovered by choosing the rule.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal


def counts_matching_percentage(percent: Decimal | int, denominator: int) -> list[int]:
    """Every whole number of ``denominator`` whose percentage rounds to ``percent`` as written."""
    stated = Decimal(percent)
    exponent = stated.as_tuple().exponent
    quantum = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    matches = []
    for k in range(denominator + 1):
        exact = Decimal(100 * k) / Decimal(denominator)
        if any(exact.quantize(quantum, rounding=r) == stated for r in (ROUND_HALF_UP, ROUND_HALF_EVEN)):
            matches.append(k)
    return matches


def percentage_text(affected: int, denominator: int, places: int = 2) -> str:
    """``49/81 = 60.49 %`` style text for notes (exact fraction, shown to ``places`` decimals)."""
    exact = Decimal(100 * affected) / Decimal(denominator)
    return f"{affected}/{denominator} = {exact.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)}%"
