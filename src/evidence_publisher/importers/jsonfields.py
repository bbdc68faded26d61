"""Helpers shared by the two JSON formats (CSL-JSON and Crossref), whose items look much alike."""

from __future__ import annotations

import re

from evidence_publisher.importers.record import MONTHS, Person, Record, clean

ISSN = re.compile(r"^\d{4}-\d{3}[\dXx]$")


def text(value: object) -> str | None:
    """A string, or a number written as one (CSL allows ``"volume": 69``); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return clean(value) if isinstance(value, str) else None


def first(value: object) -> str | None:
    """Crossref writes titles as lists: the first one."""
    if isinstance(value, list):
        return next((t for t in (text(v) for v in value) if t), None)
    return text(value)


def person(item: object) -> Person | None:
    if not isinstance(item, dict):
        return None
    family = text(item.get("family"))
    particle = text(item.get("non-dropping-particle"))
    given = " ".join(x for x in (text(item.get("given")), text(item.get("dropping-particle"))) if x)
    if family:
        full_family = f"{particle} {family}" if particle else family
        name = " ".join(x for x in (given, full_family, text(item.get("suffix"))) if x)
        return Person(name, full_family)
    literal = text(item.get("literal")) or text(item.get("name"))
    return Person(literal, literal) if literal else None


def authors(rec: Record, items: object, fld: str) -> None:
    if not isinstance(items, list):
        return
    for n, item in enumerate(items, start=1):
        found = person(item)
        if found is None:
            rec.problem(f"{fld}[{n - 1}]", "the author has no family name, literal or name", "correct it")
            continue
        if isinstance(item, dict) and isinstance(item.get("affiliation"), list):
            found.affiliations = [
                a
                for a in (
                    text(x.get("name")) if isinstance(x, dict) else text(x) for x in item["affiliation"]
                )
                if a
            ]
        rec.authors.append(found)
    rec.origins["authors"] = fld


def date_parts(rec: Record, value: object, fld: str) -> tuple[int, int | None, int | None] | None:
    """``{"date-parts": [[2010, 8, 1]]}`` -> (2010, 8, 1); problems are recorded on ``rec``."""
    if not isinstance(value, dict):
        return None
    parts = value.get("date-parts")
    if not (isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]):
        if value.get("raw") or value.get("literal"):
            rec.skipped(f"{fld} (written as text, not as date-parts)")
        return None
    nums: list[int] = []
    for part in parts[0][:3]:
        if isinstance(part, str) and part.strip().isdigit():
            part = int(part)
        if not isinstance(part, int) or isinstance(part, bool):
            rec.problem(
                f"{fld}.date-parts", f"{parts[0]!r} is not a list of numbers", "write [year, month, day]"
            )
            return None
        nums.append(part)
    year = nums[0]  # parts[0] is not empty and each part is a number here
    month = nums[1] if len(nums) > 1 else None
    day = nums[2] if len(nums) > 2 else None
    if not 1000 <= year <= 9999:
        rec.problem(f"{fld}.date-parts", f"year {year} is not a four-digit year", "correct the date")
        return None
    if month is not None and not 1 <= month <= 12:
        rec.problem(f"{fld}.date-parts", f"month {month} does not exist", "correct the date")
        return None
    return year, month, day


def set_issue_date(rec: Record, parts: tuple[int, int | None, int | None], fld: str) -> None:
    rec.year, month, rec.day = parts
    rec.month = MONTHS[month - 1] if month else None
    if month is None:
        rec.day = None
    rec.origins["year"] = rec.origins["month"] = rec.origins["day"] = fld


def iso(parts: tuple[int, int | None, int | None]) -> str:
    year, month, day = parts
    out = f"{year:04d}"
    if month:
        out += f"-{month:02d}"
        if day:
            out += f"-{day:02d}"
    return out


def issns(rec: Record, values: list[tuple[str, str | None]], fld: str) -> None:
    for value, kind in values:
        if ISSN.match(value):
            if (value.upper(), kind) not in rec.issn:
                rec.issn.append((value.upper(), kind))
            rec.origins["issn"] = fld
        else:
            rec.skipped(f"{fld} {value!r} (not an ISSN)")
