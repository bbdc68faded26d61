"""Compile a checked corpus into FHIR R5 resources (plain dicts) plus a provenance report."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from evidence_publisher.fhir.activity_definition import map_activity_definition
from evidence_publisher.fhir.artifact_assessment import (
    certainty_id,
    justification_id,
    map_certainty,
    map_justification,
)
from evidence_publisher.fhir.citation import citation_id, map_citation, publication_citation_id
from evidence_publisher.fhir.common import Context
from evidence_publisher.fhir.compile_memo import CompileMemo, CompileStore
from evidence_publisher.fhir.composition import StudyResults, composition_id, map_recommendation
from evidence_publisher.fhir.evidence import (
    Links,
    derived_percentage,
    evidence_id,
    evidence_title,
    map_evidence,
    statistic_summary,
)
from evidence_publisher.fhir.evidence_variable import (
    map_agent_variable,
    map_outcome_measure,
    map_outcome_variable,
    measure_variable_id,
    outcome_variable_id,
)
from evidence_publisher.fhir.group import map_eligibility_group, map_study_group
from evidence_publisher.fhir.plan_definition import map_plan_definition, plan_definition_id
from evidence_publisher.fhir.provenance import QuoteProvenance, documents
from evidence_publisher.fhir.research_study import (
    has_research_study,
    map_research_study,
    research_study_id,
)
from evidence_publisher.sources.loader import Loaded, LoadedCorpus
from evidence_publisher.sources.model import Agent, Publication, Recommendation, Result, Timepoint
from evidence_publisher.spill import SpilledResources
from evidence_publisher.spilled_rows import SpilledRows

_DAYS = {
    "h": Decimal(1) / 24,
    "d": Decimal(1),
    "wk": Decimal(7),
    "mo": Decimal("30.4375"),
    "a": Decimal("365.25"),
}


@dataclass
class Compiled:
    resources: list[dict] | SpilledResources = field(default_factory=list)
    made: set[str] = field(default_factory=set)  # "Type/id" of every resource (where: see rows)
    conflicts: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    derived: list[dict] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)  # the source register with each text
    quotes: list[dict] = field(default_factory=list)  # where each quote and number stands
    # the build report's row of each resource, made while its dict is in hand (a spilled resource
    # would otherwise be parsed again for it), in the order of ``resources``
    rows: list[dict] = field(default_factory=list)
    publication_count: int = 0
    reused: int = 0  # publications whose output an earlier build's was (``compile_memo.py``)

    def add(self, resource: dict, where: str) -> None:
        self.resources.append(resource)
        self.made.add(f"{resource['resourceType']}/{resource['id']}")
        self.rows.append(
            {
                "type": resource["resourceType"],
                "id": resource["id"],
                "url": resource.get("url"),
                "version": resource.get("version"),
                "title": resource.get("title") or resource.get("name"),
                "source": where,
            }
        )


class _Where:
    """Mapping provenance (``file:line:column``) with the file relative to the corpus directory,
    so the build report does not depend on the directory the build ran from or on how the
    mappings were named on the command line."""

    def __init__(self, corpus: LoadedCorpus) -> None:
        self.base = os.path.dirname(corpus.corpus_doc.file) or "."
        self._relative: dict[str, str] = {}  # a file's path as given -> relative to base

    def __call__(self, item: Loaded, *path: str | int) -> str:
        loc = item.doc.locate(path)
        rel = self._relative.get(loc.file)
        if rel is None:  # asked about 60 times a file: relpath (which reads the cwd) once
            rel = self._relative[loc.file] = os.path.relpath(loc.file, self.base).replace(os.sep, "/")
        return str(replace(loc, file=rel))


_PROGRESS_EVERY = 20  # publications between two progress calls


def document_citation(corpus: LoadedCorpus, source_id: str) -> str | None:
    """The Citation that stands for corpus document ``source_id`` (the publication whose record
    that document is; publications it only names are ``in_corpus: false``)."""
    pub_id = corpus.record_id(source_id)  # the publication is not read (it may be on disk)
    return publication_citation_id(pub_id) if pub_id is not None else None


def cited_publication(corpus: LoadedCorpus, pub: Publication) -> Publication | None:
    """The publication whose citation is ``pub``'s own: itself, or the one named by ``citation_in``."""
    if pub.citation is not None:
        return pub
    holder = corpus.publications.get(pub.citation_in or "")
    if holder is None:
        return None
    assert isinstance(holder.model, Publication)
    return holder.model


def _days(value: Decimal | int, unit: str) -> Decimal:
    return Decimal(value) * _DAYS[unit]


def _co_intervention_applies(agent: Agent, tp: Timepoint) -> bool:
    """A co-intervention may affect every result measured after it started; a timepoint given
    only in words (during follow-up) cannot be ruled out."""
    if tp.baseline:
        return False
    if agent.starts is None or tp.value is None or tp.unit is None:
        return True
    return tp.cumulative or _days(tp.value, tp.unit) >= _days(agent.starts.value, agent.starts.unit)


def _covariate_reason(agent: Agent) -> str:
    dose = f", {agent.dose}" if agent.dose else ""
    return (
        f"{agent.name}{dose}: given to the patients as well, so this result does not show the effect "
        "of the studied intervention alone."
    )


def compile_corpus(
    corpus: LoadedCorpus,
    base_url: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    spill: bool = False,
    store: CompileStore | None = None,
) -> Compiled:
    """Every resource of the corpus; ``progress`` (optional) gets (mapping files done, total).

    With ``spill`` each resource goes to a ``SpilledResources`` (on disk) as soon as it is made
    (the mappers never change a resource after handing it over), instead of a list of dicts.
    With ``spill`` and ``store``, a publication whose inputs are those of an earlier build is not
    compiled again: what it made then is appended (``compile_memo.py``).
    """
    ctx = Context.from_corpus(corpus.corpus, base_url)
    out = Compiled(resources=SpilledResources(), rows=SpilledRows()) if spill else Compiled()
    where = _Where(corpus)
    studies: list[StudyResults] = []
    total = len(corpus.publications) + len(corpus.recommendations)
    # fed file by file here, while each is in hand (a large corpus's are read back from disk)
    quotes = QuoteProvenance(
        corpus,
        where,
        lambda source_id: document_citation(corpus, source_id),
        into=SpilledRows() if spill else None,  # a large report's biggest part
    )
    memo = CompileMemo.make(
        store,
        corpus,
        ctx.base_url,
        out.resources,
        out.rows,
        quotes.collected,
        out.conflicts,
        out.derived,
        out.made,
    )
    try:
        for done, pub_id in enumerate(sorted(corpus.publications)):
            if progress is not None and done % _PROGRESS_EVERY == 0:
                progress(done, total)
            if memo is None:
                study = _compile_publication_quotes(ctx, corpus, pub_id, out, where, quotes)
            else:
                replayed, study = memo.replay(pub_id)
                if not replayed:
                    with memo.recording(pub_id) as result:
                        study = _compile_publication_quotes(ctx, corpus, pub_id, out, where, quotes)
                        result.append(study)
            if study is not None:
                studies.append(study)
    finally:
        if memo is not None:
            memo.close()
    out.publication_count = len(corpus.publications)
    out.reused = memo.reused if memo is not None else 0
    if progress is not None:
        progress(len(corpus.publications), total)
    for rec_id in sorted(corpus.recommendations):
        item = corpus.recommendations[rec_id]
        _compile_recommendation(ctx, corpus, item, out, where, studies)
        quotes.recommendation(item)
    if isinstance(out.resources, SpilledResources):
        order = out.resources.sort()
        assert isinstance(out.rows, SpilledRows)
        out.rows.reorder(order)  # each row stays beside its resource
    else:
        out.resources.sort(key=lambda r: (r["resourceType"], r["id"]))
        out.rows.sort(key=lambda row: (row["type"], row["id"]))  # stable, as the resources' sort
    known = out.made
    out.documents = documents(corpus, lambda source_id: document_citation(corpus, source_id))
    out.quotes = quotes.entries(keep=lambda q: q["resource"] in known)
    return out


def _compile_publication_quotes(
    ctx: Context, corpus: LoadedCorpus, pub_id: str, out: Compiled, where: _Where, quotes: QuoteProvenance
) -> StudyResults | None:
    item = corpus.publications[pub_id]
    study = _compile_publication(ctx, corpus, item, out, where)
    quotes.publication(item)
    return study


def _derived_entries(corpus: LoadedCorpus, pub: Publication, evid_id: str, res: Result) -> list[dict]:
    entries = []
    if res.derived is not None:
        sources = {}
        for name, ref in res.derived.inputs.items():
            found = corpus.result(ref if "/" in ref else f"{pub.id}/{ref}")
            if found is not None:
                sources[name] = f"Evidence/{evidence_id(*found)}"
        entries.append(
            {
                "evidence": f"Evidence/{evid_id}",
                "value": str(res.value),
                "formula": res.derived.formula,
                "inputs": dict(res.derived.inputs),
                "input_resources": sources,
            }
        )
    counts = res.counts
    if counts is not None and counts.derived == "from-percentage":
        entries.append(
            {
                "evidence": f"Evidence/{evid_id}",
                "value": str(counts.affected),
                "formula": "the only whole number k of denominator with 100 * k / denominator = value",
                "inputs": {"value": f"{res.value}%", "denominator": str(counts.denominator)},
            }
        )
    pct = derived_percentage(res)
    if pct is not None and counts is not None:
        entries.append(
            {
                "evidence": f"Evidence/{evid_id}",
                "value": f"{pct}%",
                "formula": "100 * affected / denominator, to one decimal",
                "inputs": {"affected": str(counts.affected), "denominator": str(counts.denominator)},
            }
        )
    return entries


def _compile_publication(
    ctx: Context, corpus: LoadedCorpus, item: Loaded, out: Compiled, where: _Where
) -> StudyResults | None:
    pub = item.model
    assert isinstance(pub, Publication)
    source = corpus.source(pub.source)
    if pub.citation is not None:
        out.add(map_citation(ctx, pub, source), where(item, "citation"))
    if pub.study is None:
        return None
    study = pub.study
    intervention = study.intervention
    outcomes = {o.id: o for o in pub.outcomes}
    baseline_rows = [
        (outcomes[r.outcome].name, statistic_summary(r))
        for r in pub.results
        if outcomes[r.outcome].baseline_characteristic
    ]
    out.add(
        map_study_group(ctx, study.population, pub.date, baseline_rows), where(item, "study", "population")
    )
    out.add(
        map_agent_variable(ctx, intervention, "intervention", pub.date), where(item, "study", "intervention")
    )
    for i, agent in enumerate(study.co_interventions):
        out.add(
            map_agent_variable(ctx, agent, "co-intervention", pub.date),
            where(item, "study", "co_interventions", i),
        )
    rs_id = research_study_id(pub) if has_research_study(pub) else None
    cited = cited_publication(corpus, pub)
    own_citation = citation_id(cited) if cited is not None else None
    reported_in = corpus.publications.get(pub.reported_in or "")
    reported_pub = reported_in.model if reported_in is not None else None
    reported_citation = citation_id(reported_pub) if isinstance(reported_pub, Publication) else None
    if rs_id is not None:
        out.add(
            map_research_study(
                ctx,
                pub,
                source,
                population_group=study.population.id,
                intervention_variable=intervention.id,
                study_citation=own_citation,
                citation=cited.citation if cited is not None else None,
                reported_in=reported_citation,
                extra_notes=[f"{n.kind.capitalize()}: {n.text}" for n in study.notes],
            ),
            where(item, "study"),
        )
    variables_done: set[str] = set()
    evidence: list[tuple[str, str]] = []
    for i, res in enumerate(pub.results):
        outcome = outcomes[res.outcome]
        var_id = outcome_variable_id(pub.id, outcome, res.timepoint)
        measure_id = measure_variable_id(pub.id, outcome, res.timepoint)
        if var_id not in variables_done:
            variables_done.add(var_id)
            out.add(
                map_outcome_variable(ctx, pub.id, pub.label, outcome, res.timepoint, pub.date),
                where(item, "results", i, "outcome"),
            )
            out.add(
                map_outcome_measure(
                    ctx,
                    pub.id,
                    pub.label,
                    outcome,
                    res.timepoint,
                    pub.date,
                    event_variable=intervention.id,
                    event_name=intervention.name,
                ),
                where(item, "results", i, "timepoint"),
            )
        res_source = corpus.source(res.source or pub.source)
        certainties = [c for c in pub.certainty if res.id in c.results]
        links = Links(
            population_group=res.population or study.population.id,
            exposure_variable=intervention.id,
            exposure_name=intervention.name,
            outcome_variable=var_id,
            measure_variable=measure_id,
            covariates=[
                (a.id, _covariate_reason(a))
                for a in study.co_interventions
                if not outcome.baseline_characteristic and _co_intervention_applies(a, res.timepoint)
            ],
            source_citation=document_citation(corpus, res_source.id),
            study_citation=own_citation,
            research_study=rs_id,
        )
        evid = map_evidence(
            ctx,
            pub,
            res,
            source=res_source,
            links=links,
            certainties=certainties,
            baseline_measure=outcome.baseline_characteristic,
        )
        out.add(evid, where(item, "results", i))
        evidence.append((evid["id"], evid["title"]))
        for cert in certainties:
            out.add(
                map_certainty(ctx, cert, evid["id"], evid["title"], pub.date),
                where(item, "certainty", pub.certainty.index(cert)),
            )
        for j, conflict in enumerate(res.conflicts):
            out.conflicts.append(
                {
                    "evidence": f"Evidence/{evid['id']}",
                    "where": where(item, "results", i, "conflicts", j),
                    "published": {
                        "value": str(res.value),
                        "source": res_source.file,
                        "kind": res_source.kind,
                    },
                    "conflicting": {
                        "value": str(conflict.value),
                        "source": corpus.source(conflict.source).file,
                        "kind": corpus.source(conflict.source).kind,
                    },
                    "note": conflict.note,
                }
            )
        out.derived += _derived_entries(corpus, pub, evid["id"], res)
    return StudyResults(pub.label, rs_id, evidence) if evidence else None


def _compile_recommendation(
    ctx: Context,
    corpus: LoadedCorpus,
    item: Loaded,
    out: Compiled,
    where: _Where,
    studies: list[StudyResults],
) -> None:
    rec = item.model
    assert isinstance(rec, Recommendation)
    stated_in = corpus.publications[rec.stated_in].model
    assert isinstance(stated_in, Publication)
    cit_id = citation_id(stated_in)
    evidence: list[tuple[str, str]] = []
    certainty_ids: list[str] = []
    citation_ids: list[str] = []
    for ref_text in rec.evidence:
        found = corpus.result(ref_text)
        assert found is not None
        pub, res = found
        eid = evidence_id(pub, res)
        evidence.append((eid, evidence_title(pub, res)))
        if any(res.id in c.results for c in pub.certainty):
            certainty_ids.append(certainty_id(eid))
        source_id = res.source or pub.source
        cited = cited_publication(corpus, pub)
        for cid in (citation_id(cited) if cited else None, document_citation(corpus, source_id)):
            if cid and cid not in citation_ids:
                citation_ids.append(cid)
    comp_id = composition_id(rec)
    just_id = justification_id(rec)
    plan_id = plan_definition_id(rec)
    out.add(
        map_eligibility_group(ctx, rec.population, f"Eligibility: {rec.title}", rec.date, rec.experimental),
        where(item, "population"),
    )
    out.add(map_activity_definition(ctx, rec), where(item, "action"))
    out.add(
        map_plan_definition(
            ctx,
            rec,
            activity_id=rec.action.id,
            citation_id=cit_id,
            evidence=evidence,
            justification_id=just_id,
            certainty_ids=certainty_ids,
        ),
        where(item, "statement"),
    )
    out.add(map_justification(ctx, rec, comp_id, evidence, citation_ids), where(item, "evidence"))
    out.add(
        map_recommendation(
            ctx,
            rec,
            citation_id=cit_id,
            population_group=rec.population.id,
            plan_id=plan_id,
            evidence=evidence,
            justification_id=just_id,
            studies=studies,
        ),
        where(item, "kind"),
    )
    for j, claim in enumerate(rec.claims):
        out.claims.append(
            {
                "recommendation": f"Composition/{comp_id}",
                "where": where(item, "claims", j),
                "claimed_source": f"Citation/{claim.publication}",
                "status": claim.status,
                "claim": claim.claim,
                "note": claim.note,
                "attributed_to": f"Citation/{cit_id}",
            }
        )
