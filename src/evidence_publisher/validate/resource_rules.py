"""Rules of single resource types that no invariant states (the HL7 validator checks them too).

* ``conceptmap-code``: in a ConceptMap group, ``element.code`` is a code of the group's source
  code system and ``element.target.code`` one of its target code system, where that system is
  installed with ``content: complete``.
"""

from __future__ import annotations

from typing import Any

from evidence_publisher.validate.codings import CodingChecks
from evidence_publisher.validate.outcome import Issue


def check(res: dict, rtype: str, fp: str, codings: CodingChecks) -> list[Issue]:
    if rtype == "ConceptMap":
        return _concept_map(res, fp, codings)
    return []


def _items(value: Any) -> list[tuple[int, dict]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _concept_map(res: dict, fp: str, codings: CodingChecks) -> list[Issue]:
    issues = []
    for g, group in _items(res.get("group")):
        source, target = group.get("source"), group.get("target")
        for e, element in _items(group.get("element")):
            where = f"{fp}.group[{g}].element[{e}]"
            issues += _code_in(codings, source, element.get("code"), f"{where}.code", "source")
            for t, tgt in _items(element.get("target")):
                issues += _code_in(codings, target, tgt.get("code"), f"{where}.target[{t}].code", "target")
    return issues


def _code_in(codings: CodingChecks, system: Any, code: Any, fp: str, side: str) -> list[Issue]:
    if not isinstance(system, str) or not isinstance(code, str):
        return []
    url = system.split("|", 1)[0]
    known, concepts = codings.concepts(url)
    if not known or concepts is None or code in concepts:
        return []
    msg = f"code {code!r} is not defined by the group's {side} code system {url} (content complete)"
    return [Issue("error", "code-invalid", fp, msg, "conceptmap-code")]
