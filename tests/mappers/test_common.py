"""fhir/common.py: identity, codes, units and narratives every mapper shares."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evidence_publisher.constants import CORE_SD, EBM_SD, UCUM
from evidence_publisher.fhir.common import (
    Context,
    base,
    certainty_phrase,
    claim_text,
    computable_name,
    concept,
    external_note,
    narrative,
    quantity,
    quote_text,
    resource_id,
    time_phrase,
    unit_words,
    with_unit,
)
from evidence_publisher.sources.model import Claim, External

from .models import BASE_URL, CTX, corpus


def test_resource_ids_join_parts_and_stay_within_the_fhir_id_rules() -> None:
    assert resource_id("liang-2010", "sledai-12m") == "liang-2010-sledai-12m"
    long_id = resource_id("x" * 60, "y" * 20)
    assert len(long_id) <= 64 and long_id.startswith("x")
    assert long_id != resource_id("x" * 60, "y" * 21)  # shortened ids stay distinct


def test_computable_name_is_pascal_case_of_the_id() -> None:
    assert computable_name("trial-2010-study") == "Trial2010Study"


def test_a_canonical_type_gets_url_version_name_status_and_publisher() -> None:
    res = base(
        CTX, "Evidence", "ev-1", title="An Evidence", date="2026-01-02", profiles=["single-study-evidence"]
    )
    assert res["url"] == f"{BASE_URL}/Evidence/ev-1"
    assert (res["version"], res["name"], res["status"], res["publisher"]) == (
        "2.0.0",
        "Ev1",
        "active",
        "unit tests",
    )
    assert res["meta"]["profile"] == [EBM_SD + "single-study-evidence"]
    assert res["identifier"] == [{"system": f"{BASE_URL}/identifier", "value": "Evidence/ev-1"}]


def test_group_and_artifact_assessment_carry_their_identity_in_core_extensions() -> None:
    res = base(CTX, "Group", "g-1", title="A group", date="2026-01-02")
    assert "url" not in res and "status" not in res
    urls = {e["url"]: e for e in res["extension"]}
    assert urls[CORE_SD + "artifact-url"]["valueUri"] == f"{BASE_URL}/Group/g-1"
    assert urls[CORE_SD + "artifact-title"]["valueString"] == "A group"
    assert res["modifierExtension"] == [{"url": CORE_SD + "artifact-status", "valueCode": "active"}]


def test_composition_and_research_study_have_no_publisher() -> None:
    for rtype in ("Composition", "ResearchStudy"):
        assert "publisher" not in base(CTX, rtype, "x", title="X", date="2026-01-02")


@pytest.mark.parametrize(
    ("code", "value", "words"),
    [
        ("mo", Decimal(12), "months"),
        ("mo", Decimal(1), "month"),
        ("{score}", None, "points"),
        ("%", None, "%"),
    ],
)
def test_unit_words(code: str, value: Decimal | None, words: str) -> None:
    assert unit_words(code, value) == words


def test_quantities_are_ucum_and_keep_the_decimal_text() -> None:
    assert quantity(Decimal("858.0"), "mg/(24.h)") == {
        "value": Decimal("858.0"),
        "unit": "mg/24 h",
        "system": UCUM,
        "code": "mg/(24.h)",
    }
    assert with_unit(Decimal("3.20"), "{score}") == "3.20 points"


def test_concept_and_quotes() -> None:
    assert concept("urn:s", "c", "Display", text="T") == {
        "coding": [{"system": "urn:s", "code": "c", "display": "Display"}],
        "text": "T",
    }
    assert quote_text(["a", "b"]) == "“a” … “b”"


def test_narrative_escapes_html() -> None:
    div = narrative("A <title>", [("Row & more", "x < y")])["div"]
    assert "A &lt;title&gt;" in div and "<th>Row &amp; more</th><td>x &lt; y</td>" in div


def test_an_all_digit_id_and_a_name_that_would_start_with_a_digit_get_a_letter() -> None:
    assert resource_id("2010", "12") == "2010-12"
    assert resource_id("2010") == "r-2010"
    assert computable_name("2010-trial") == "R2010Trial"


def test_a_comparator_other_than_equals_is_kept() -> None:
    assert quantity(Decimal("0.05"), None, "<") == {"value": Decimal("0.05"), "comparator": "<"}
    assert quantity(Decimal("0.05"), None, "=") == {"value": Decimal("0.05")}


@pytest.mark.parametrize(
    ("label", "phrase"),
    [
        ("12 months", "at 12 months"),
        ("baseline", "at baseline"),
        ("during follow-up", "during follow-up"),
        ("by the 12-month visit", "by the 12-month visit"),
        ("timepoint not stated", "(timepoint not stated)"),
    ],
)
def test_time_phrases_read_after_an_outcome_name(label: str, phrase: str) -> None:
    assert time_phrase(label) == phrase


def test_the_certainty_label_is_said_once() -> None:
    assert certainty_phrase("very-low", "one small study.") == "Very low certainty: one small study."
    assert certainty_phrase("low", "Low certainty: one small study.") == "Low certainty: one small study."


@pytest.mark.parametrize(("status", "composition"), [("active", "final"), ("draft", "preliminary")])
def test_a_composition_status_is_a_composition_status_code(status: str, composition: str) -> None:
    ctx = Context(base_url=BASE_URL, version="1", publisher="p", status=status)
    assert base(ctx, "Composition", "c", title="C", date="2026-01-02")["status"] == composition
    assert base(ctx, "Evidence", "e", title="E", date="2026-01-02")["status"] == status


def test_artifact_assessment_has_title_and_date_natively() -> None:
    res = base(CTX, "ArtifactAssessment", "aa", title="An assessment", date="2026-01-02")
    assert (res["title"], res["date"]) == ("An assessment", "2026-01-02")
    assert CORE_SD + "artifact-title" not in {e["url"] for e in res["extension"]}


def test_the_context_takes_its_identity_from_the_corpus() -> None:
    ctx = Context.from_corpus(corpus(), base_url="https://other.example.org/fhir/")
    assert ctx == Context("https://other.example.org/fhir", "2.0.0", "unit tests", "active")
    assert ctx.canonical("Citation", "c") == "https://other.example.org/fhir/Citation/c|2.0.0"
    assert Context.from_corpus(corpus()).base_url == BASE_URL


def test_percent_sits_on_the_number_and_other_units_after_a_space() -> None:
    assert with_unit(Decimal("60.5"), "%") == "60.5%"
    assert with_unit(12, "mo") == "12 months"
    assert with_unit(Decimal("3.0"), None) == "3.0"


def test_narrative_row_labels_lose_a_trailing_full_stop() -> None:
    assert "<th>Condition</th>" in narrative("T", [("Condition.", "x")])["div"]


def test_external_notes_and_claims_read_as_sentences() -> None:
    ext = External(
        fields=["volume", "pages"], status="found", url="https://pubmed.example.org/1", note="Same issue."
    )
    assert external_note(ext) == {
        "text": "volume, pages: found outside the corpus at https://pubmed.example.org/1 (status: found)"
        ". Same issue."
    }
    claim = Claim(
        publication="guideline",
        claim="Endorsed by a society.",
        status="not-supported",
        note="Not found.",
        quote="q",
    )
    assert claim_text(claim) == "Attribution claim (not supported): Endorsed by a society. Not found."
