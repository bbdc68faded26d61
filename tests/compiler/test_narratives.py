"""Narratives read like a careful human wrote them.

``tests/golden/narratives.txt`` holds every narrative of the seed corpus as plain text, so a
reviewer reads the wording change of a diff directly (refresh with UPDATE_GOLDEN=1); and every
human-readable text of the corpus is checked against the glitch patterns a clinician tripped over.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from evidence_publisher.jsonio import load_file

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "narratives.txt"

GLITCHES: dict[str, re.Pattern[str]] = {
    "a preposition after 'at'": re.compile(r"\bat (during|by|after|before|within|not)\b"),
    # "Mortality, not reported" (a title that reads as "no mortality")
    "'not reported' read as a finding": re.compile(r"\w, not reported(\n|$)|\bat not reported\b"),
    "a UCUM code where words belong": re.compile(
        r"(?<![\d/])\d+(\.\d+)? (a|mo|wk|d)\b(?![-'])|\{score\}|\{cells\}|10\*6|mg/\(24\.h\)"
    ),
    # "proportion 60.5 %" with neither "n of N" nor a sample size next to it
    "a proportion without its denominator": re.compile(r"\bproportion \d+(\.\d+)? %"),
    "a code where words belong": re.compile(r"\b(very-low|no-concern|serious-concern|not-supported)\b"),
    "a doubled label": re.compile(r"(\b[A-Z][\w ()-]{3,40}: )\1"),
    "a doubled 'Dose' sentence": re.compile(r"(Dose: not reported in the corpus\.).*\1"),
    "a doubled rating": re.compile(r"(?i)\b(very low|low|moderate|high): \1 certainty"),
    "a sentence used as a label": re.compile(r"\.: "),
}


def narrative_text(div: str) -> str:
    div = re.sub(r"</(tr|h3|p)>", "\n", div)
    div = re.sub(r"</t[hd]><t[hd]>", ": ", div)
    return html.unescape(re.sub(r"<[^>]+>", "", div)).strip()


def glitches(text: str) -> list[str]:
    found = [name for name, pattern in GLITCHES.items() if pattern.search(text)]
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", text) if len(s.strip()) > 25]
    if len(sentences) != len(set(sentences)):
        found.append("a doubled sentence")
    return found


def readable_texts(res: dict) -> list[tuple[str, str]]:
    """Every text a person reads: narrative, titles, descriptions, notes, summaries."""
    out = [("text", narrative_text(res["text"]["div"]))]

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("title", "description", "summary", "display", "usage", "name") and isinstance(
                    value, str
                ):
                    out.append((f"{path}.{key}", value))
                elif key == "note" and isinstance(value, list):
                    out.extend((f"{path}.note", n.get("text", "")) for n in value if isinstance(n, dict))
                elif key not in ("text", "abstract"):
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(res, res["resourceType"])
    return out


@pytest.mark.parametrize(
    "bad",
    [
        "HSCT figures: Mortality, not reported",
        "Numbers: proportion 60.5 %",
        "Dose: 3.0 10*6/kg",
        "average age: 28.3 a",
        "average disease duration: 91.1 mo",
        "mean 3.2 {score}",
        "Certainty: very-low: Very low certainty: one small study",
        "Anti-dsDNA antibody level at during follow-up",
        "Mortality at not reported",
        "Hypothesis (not a finding): Hypothesis (not a finding): SLE is a mesenchymal disease.",
        "Given from donors. Dose: not reported in the corpus. Dose: not reported in the corpus.",
        "Attribution claim (not-supported): the guidelines recommend it.",
        "Active lupus recorded as severe.: read as an active SLE Condition",
    ],
)
def test_the_glitch_detector_catches_the_reported_glitches(bad: str) -> None:
    assert glitches(bad), bad


def test_no_narrative_or_label_has_a_glitch(built_corpus: Path) -> None:
    problems = []
    for path in sorted((built_corpus / "resources").glob("*.json")):
        res = load_file(path)
        for where, text in readable_texts(res):
            for glitch in glitches(text):
                problems.append(f"{path.name} {where}: {glitch}: {text[:120]!r}")
    assert problems == []


def test_narratives_golden(built_corpus: Path) -> None:
    """Every narrative as plain text; refresh with UPDATE_GOLDEN=1 and read the diff."""
    parts = []
    for path in sorted((built_corpus / "resources").glob("*.json")):
        parts.append(f"== {path.stem}\n{narrative_text(load_file(path)['text']['div'])}\n")
    text = "\n".join(parts)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_citation_narratives_name_authors_year_funding_and_erratum(built_corpus: Path) -> None:
    text = narrative_text(load_file(built_corpus / "resources" / "Citation-liang-2010.json")["text"]["div"])
    assert "Authors: Liang J, Zhang H," in text
    assert "Published: 2010 Aug" in text
    assert "Funding: National Natural Science Foundation of China (30972736, 30772014)" in text
    assert "Funding: Jiangsu Province 'Six Summit Talent' Foundation (no grant number printed)" in text
    assert "Erratum: Ann Rheum Dis. 2011 Jan;70(1):237" in text
