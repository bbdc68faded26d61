"""Quote provenance for the build report: where every quote and every reported number stands in
its source document, and which resource it supports.

The loader has already checked that each quote occurs in its source and each number in its quote;
this module only records *where*, so that a reader (the static site, a reviewer) can go from a
value to the sentence it came from and back. Offsets are Python string indexes (Unicode code
points) into the document text as the build read it, which the report also carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from evidence_publisher.fhir.artifact_assessment import certainty_id
from evidence_publisher.fhir.citation import citation_id
from evidence_publisher.fhir.composition import composition_id
from evidence_publisher.fhir.evidence import evidence_id
from evidence_publisher.fhir.plan_definition import plan_definition_id
from evidence_publisher.fhir.research_study import has_research_study, research_study_id
from evidence_publisher.sources.loader import Loaded, LoadedCorpus
from evidence_publisher.sources.model import Publication, Recommendation, Result
from evidence_publisher.sources.quotes import locate, number_spans
from evidence_publisher.spilled_rows import SpilledRows

# (field name, the value as published: a number, or text located case-insensitively)
Value = tuple[str, "Decimal | int | str | None"]
GivenValue = tuple[str, "Decimal | int | str"]  # a Value the mapping gives
Where = Callable[..., str]


@dataclass
class _Collector:
    corpus: LoadedCorpus
    where: Where
    out: list[dict]

    def add(
        self,
        item: Loaded,
        path: tuple,
        resource: str,
        role: str,
        quotes: str | list[str] | None,
        source_id: str,
        values: Iterable[Value] = (),
    ) -> None:
        if quotes is None:
            return
        text = self.corpus.source_texts.get(source_id)
        if text is None:
            return
        document = self.corpus.source(source_id).file
        given: list[GivenValue] = [(name, v) for name, v in values if v is not None]
        items = [quotes] if isinstance(quotes, str) else list(quotes)
        for i, quote in enumerate(items):
            span = locate(quote, text)
            if span is None:  # the loader reports it; nothing to point at
                continue
            qpath = (*path, "quote") if isinstance(quotes, str) else (*path, "quote", i)
            self.out.append(
                {
                    "document": document,
                    "start": span[0],
                    "end": span[1],
                    "quote": quote,
                    "where": self.where(item, *qpath),
                    "resource": resource,
                    "role": role,
                    "values": _value_spans(given, text, span),
                }
            )


def _value_spans(values: list[GivenValue], text: str, span: tuple[int, int]) -> list[dict]:
    found = []
    for name, value in values:
        if isinstance(value, str):
            at = locate(value, text, ignore_case=True, start=span[0], end=span[1])
            spans = [at] if at is not None else []
        else:
            spans = number_spans(value, text, *span)
        if spans:
            found.append({"field": name, "text": str(value), "spans": [list(s) for s in spans]})
    return found


def documents(corpus: LoadedCorpus, document_citation: Callable[[str], str | None]) -> list[dict]:
    """The source register with each document's full text (what the quote offsets index)."""
    out = []
    for src in corpus.corpus.sources:
        if src.id not in corpus.source_texts:
            continue
        cit = document_citation(src.id)
        out.append(
            {
                "id": src.id,
                "file": src.file,
                "kind": src.kind,
                "primary": src.primary,
                "title": src.title,
                "description": src.description,
                "citation": f"Citation/{cit}" if cit else None,
                "text": corpus.source_texts[src.id],
            }
        )
    return out


class QuoteProvenance:
    """Collects one entry per quote and resource it supports, file by file (so that a pass that
    reads each mapping file anyway, the compiler's, can feed it), then sorts them.

    Made with the source register's title quotes; ``publication`` and ``recommendation`` add a
    file's quotes; ``entries`` gives them sorted by document and position, those ``keep``
    accepts. ``into`` (optional) receives them: a ``SpilledRows`` keeps them on disk.
    """

    def __init__(
        self,
        corpus: LoadedCorpus,
        where: Where,
        document_citation: Callable[[str], str | None],
        into: list[dict] | None = None,
    ) -> None:
        self._col = _Collector(corpus, where, [] if into is None else into)
        for i, src in enumerate(corpus.corpus.sources):
            cit = document_citation(src.id)
            if cit is not None:
                self._col.add(
                    _corpus_item(corpus), ("sources", i), f"Citation/{cit}", "title",
                    src.title_quote or src.title, src.id,
                )  # fmt: skip

    @property
    def collected(self) -> list[dict]:
        """The entries added so far, in the order added (a ``SpilledRows`` if given as ``into``)."""
        return self._col.out

    def publication(self, item: Loaded) -> None:
        _publication(self._col, item)

    def recommendation(self, item: Loaded) -> None:
        _recommendation(self._col, item)

    def entries(self, keep: Callable[[dict], bool] = lambda _q: True) -> list[dict]:
        out = self._col.out
        if isinstance(out, SpilledRows):
            out.sort_and_keep(_quote_order, keep)
            return out
        return [q for q in sorted(out, key=_quote_order) if keep(q)]


def _quote_order(q: dict) -> tuple:
    return (q["document"], q["start"], q["end"], q["resource"], q["role"])


def _corpus_item(corpus: LoadedCorpus) -> Loaded:
    return Loaded(corpus.corpus_doc, corpus.corpus)


def _publication(col: _Collector, item: Loaded) -> None:
    pub = item.model
    assert isinstance(pub, Publication)
    cit_ref = f"Citation/{citation_id(pub)}" if pub.citation is not None else None
    if pub.citation is not None and cit_ref is not None:
        cit = pub.citation
        src = cit.source or pub.source
        col.add(item, ("citation",), cit_ref, "citation", cit.quote, src, _citation_values(pub))
        if cit.abstract is not None:
            _abstract(col, item, cit_ref, cit.abstract, src)
    study_ref = cit_ref
    if pub.study is not None:
        study = pub.study
        study_ref = (
            f"ResearchStudy/{research_study_id(pub)}"
            if has_research_study(pub)
            else f"Group/{study.population.id}"
        )
        col.add(item, ("study",), study_ref, "study", study.quote, study.source or pub.source)
        if study.enrolment is not None:
            en = study.enrolment
            col.add(item, ("study", "enrolment"), study_ref, "enrolment", en.quote, en.source or pub.source)
        pop = study.population
        col.add(
            item, ("study", "population"), f"Group/{pop.id}", "population", pop.quote,
            pop.source or pub.source, [("count", pop.count)],
        )  # fmt: skip
        agents = [(("study", "intervention"), study.intervention, "intervention")] + [
            (("study", "co_interventions", i), a, "co-intervention")
            for i, a in enumerate(study.co_interventions)
        ]
        for path, agent, role in agents:
            col.add(
                item, path, f"EvidenceVariable/{agent.id}", role, agent.quote, agent.source or pub.source,
                [("dose", agent.dose), ("starts", agent.starts.value if agent.starts else None)],
            )  # fmt: skip
        if study.follow_up is not None:
            fu = study.follow_up
            col.add(
                item, ("study", "follow_up"), study_ref, "follow-up", fu.quote, fu.source or pub.source,
                [
                    ("mean", fu.mean),
                    ("dispersion", fu.dispersion.value if fu.dispersion else None),
                    ("followed beyond: count", fu.beyond.count if fu.beyond else None),
                    ("followed beyond: time", fu.beyond.value if fu.beyond else None),
                ],
            )  # fmt: skip
        for i, note in enumerate(study.notes):
            col.add(item, ("study", "notes", i), study_ref, "note", note.quote, note.source or pub.source)
    for i, res in enumerate(pub.results):
        _result(col, item, pub, i, res)
    for i, cert in enumerate(pub.certainty):
        for rid in cert.results:
            rated = next((r for r in pub.results if r.id == rid), None)
            if rated is not None:
                ref = f"ArtifactAssessment/{certainty_id(evidence_id(pub, rated))}"
                col.add(item, ("certainty", i), ref, "certainty", cert.quote, cert.source or pub.source)
    notes_ref = cit_ref or study_ref
    if notes_ref is not None:
        for i, note in enumerate(pub.notes):
            col.add(item, ("notes", i), notes_ref, "note", note.quote, note.source or pub.source)


def _abstract(col: _Collector, item: Loaded, ref: str, abstract: str, source_id: str) -> None:
    text = col.corpus.source_texts.get(source_id)
    span = locate(abstract, text) if text is not None else None
    if text is None or span is None:
        return
    col.out.append(
        {
            "document": col.corpus.source(source_id).file,
            "start": span[0],
            "end": span[1],
            "quote": abstract,
            "where": col.where(item, "citation", "abstract"),
            "resource": ref,
            "role": "abstract",
            "values": [],
        }
    )


def _citation_values(pub: Publication) -> list[Value]:
    cit = pub.citation
    assert cit is not None
    values: list[Value] = [
        ("title", cit.title),
        ("journal", cit.journal.title if cit.journal else None),
        ("publisher", cit.publisher),
        ("website", cit.website),
        ("year", cit.year),
        ("month", cit.month),
        ("volume", cit.volume),
        ("issue", cit.issue),
        ("pages", cit.pages),
        ("author statement", cit.author_statement),
    ]
    values += [(ident.type, ident.value) for ident in cit.identifiers]
    values += [("author", a.name) for a in cit.authors]
    for fund in cit.funding:
        values.append(("funder", fund.funder))
        values += [("grant number", g) for g in fund.grants]
    values += [("erratum", e.citation) for e in cit.errata]
    return values


def _result(col: _Collector, item: Loaded, pub: Publication, i: int, res: Result) -> None:
    ref = f"Evidence/{evidence_id(pub, res)}"
    src = res.source or pub.source
    values: list[Value] = []
    if res.derived is None:
        values.append(("value", res.value))
    values.append(("participants", res.participants))
    if not res.timepoint.baseline:
        values.append(("timepoint", res.timepoint.value))
    if res.dispersion is not None:
        d = res.dispersion
        values += [("dispersion", d.value), ("dispersion low", d.low), ("dispersion high", d.high)]
    if res.p_value is not None:
        values.append(("p-value", res.p_value.value))
    if res.counts is not None:
        if res.counts.derived != "from-percentage":
            values.append(("affected", res.counts.affected))
        values.append(("denominator", res.counts.denominator))
    col.add(item, ("results", i), ref, "result", res.quote, src, values)
    for j, conflict in enumerate(res.conflicts):
        value = None if isinstance(conflict.value, str) else conflict.value
        col.add(
            item, ("results", i, "conflicts", j), ref, "conflict", conflict.quote, conflict.source,
            [("conflicting value", value)],
        )  # fmt: skip
    for j, note in enumerate(res.notes):
        col.add(item, ("results", i, "notes", j), ref, "note", note.quote, note.source or src)


def _recommendation(col: _Collector, item: Loaded) -> None:
    rec = item.model
    assert isinstance(rec, Recommendation)
    comp = f"Composition/{composition_id(rec)}"
    plan = f"PlanDefinition/{plan_definition_id(rec)}"
    col.add(item, (), comp, "statement", rec.quote, rec.source)
    for name in ("strength", "direction"):
        rating = getattr(rec, name)
        if rating is not None:
            col.add(
                item, (name,), comp, name, rating.quote, rating.source or rec.source, [(name, rating.value)]
            )
    pop = rec.population
    psrc = pop.source or rec.source
    col.add(item, ("population",), f"Group/{pop.id}", "population", pop.quote, psrc)
    for i, crit in enumerate(pop.criteria):
        col.add(
            item, ("population", "criteria", i), plan, f"criterion {crit.id}", crit.quote, crit.source or psrc
        )
    act = rec.action
    col.add(item, ("action",), f"ActivityDefinition/{act.id}", "action", act.quote, act.source or rec.source)
    for i, cons in enumerate(rec.considerations):
        col.add(item, ("considerations", i), comp, "consideration", cons.quote, cons.source or rec.source)
    for i, claim in enumerate(rec.claims):
        col.add(item, ("claims", i), comp, "attribution claim", claim.quote, claim.source or rec.source)
