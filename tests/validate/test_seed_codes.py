"""Every SNOMED CT / LOINC code the seed corpus emits is checked against the FHIR terminology
packages: the code exists there with the display the corpus gives (mapping comments cite the file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evidence_publisher.cli import main
from evidence_publisher.jsonio import load_file

from .conftest import REPO

CHECKED = ("http://snomed.info/sct", "http://loinc.org")


def _package_displays(package_cache) -> dict[tuple[str, str], set[str]]:
    from evidence_publisher.packages import R5_CORE, R5_EXPANSIONS, TERMINOLOGY_R5

    found: dict[tuple[str, str], set[str]] = {}

    def add(system: str | None, concepts: list[dict]) -> None:
        for c in concepts or []:
            sys_ = c.get("system", system)
            if sys_ in CHECKED and c.get("display"):
                found.setdefault((sys_, c["code"]), set()).add(c["display"])
            add(sys_, c.get("contains", []))

    for pkg in package_cache.ensure([R5_CORE, R5_EXPANSIONS, TERMINOLOGY_R5]):
        for path in Path(pkg.path).glob("ValueSet-*.json"):
            vs = json.loads(path.read_bytes())
            add(None, (vs.get("expansion") or {}).get("contains", []))
            for inc in (vs.get("compose") or {}).get("include", []):
                add(inc.get("system"), [{**c, "system": inc.get("system")} for c in inc.get("concept", [])])
    return found


def _codings(node: object) -> list[dict]:
    out = []
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and isinstance(node.get("code"), str) and "display" in node:
            out.append(node)
        for value in node.values():
            out += _codings(value)
    elif isinstance(node, list):
        for value in node:
            out += _codings(value)
    return out


@pytest.fixture(scope="module")
def seed_codings(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("codes") / "dist"
    assert main(["build", str(REPO / "mappings" / "lupus-msc"), "--out", str(out), "--no-validate"]) == 0
    codings = []
    for path in sorted((out / "resources").glob("*.json")):
        codings += _codings(load_file(path))
    return codings


def test_every_snomed_and_loinc_code_is_in_a_terminology_package(package_cache, seed_codings) -> None:
    known = _package_displays(package_cache)
    checked = [c for c in seed_codings if c["system"] in CHECKED]
    assert len({c["code"] for c in checked}) >= 9
    problems = []
    for c in checked:
        displays = known.get((c["system"], c["code"]))
        if not displays:
            problems.append(f"{c['system']}|{c['code']} is in no package")
        elif not any(c["display"] == d or d.startswith(c["display"] + " (") for d in displays):
            problems.append(
                f"{c['system']}|{c['code']} display {c['display']!r} is not one of {sorted(displays)}"
            )
    assert problems == []


def test_no_code_of_a_system_no_package_here_can_check(seed_codings) -> None:
    """ICD-10-CM, RxNorm and other external systems have no terminology source available to the
    build, so a code of theirs could only come from memory: none may be published."""
    unchecked = {
        (c["system"], c["code"])
        for c in seed_codings
        if c["system"].startswith(("http://hl7.org/fhir/sid/", "http://www.nlm.nih.gov/", "urn:oid:"))
    }
    assert unchecked == set()
