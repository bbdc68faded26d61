"""Compile a checked corpus into FHIR R5 resources (plain dicts) plus a provenance report."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from evidence_publisher.fhir.activity_definition import map_activity_definition
from evidence_publisher.fhir.artifact_assessment import (
    certainty_id,
    justification_id,
    map_certainty,
    map_justification,
)
from evidence_publisher.fhir.citation import citation_id, map_citation
from evidence_publisher.fhir.common import Context
from evidence_publisher.fhir.composition import composition_id, map_recommendation
from evidence_publisher.fhir.evidence import evidence_id, map_evidence
from evidence_publisher.fhir.evidence_variable import (
    map_agent_variable,
    map_outcome_variable,
    outcome_variable_id,
)
from evidence_publisher.fhir.group import map_eligibility_group, map_study_group
from evidence_publisher.fhir.plan_definition import map_plan_definition, plan_definition_id
from evidence_publisher.sources.loader import Loaded, LoadedCorpus
from evidence_publisher.sources.model import Publication, Recommendation


@dataclass
class Compiled:
    resources: list[dict] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)  # "Type/id" -> "file:line"
    conflicts: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    derived: list[dict] = field(default_factory=list)

    def add(self, resource: dict, where: str) -> None:
        self.resources.append(resource)
        self.provenance[f"{resource['resourceType']}/{resource['id']}"] = where


def _citation_of(corpus: LoadedCorpus, pub: Publication) -> str | None:
    """The Citation id of the study's own publication, or of the document that reports it."""
    if pub.citation is not None:
        return citation_id(pub)
    reported = corpus.publications.get(pub.reported_in or "")
    return citation_id(reported.model) if reported else None


def _citation_for_source(corpus: LoadedCorpus, source_id: str) -> str | None:
    """The Citation of the mapping whose document is ``source_id`` (where a value was read)."""
    for item in corpus.publications.values():
        pub = item.model
        if pub.source == source_id and pub.citation is not None:
            return citation_id(pub)
    return None


def compile_corpus(corpus: LoadedCorpus, base_url: str | None = None) -> Compiled:
    ctx = Context.from_corpus(corpus.corpus, base_url)
    out = Compiled()
    where = _Where(corpus)
    for pub_id in sorted(corpus.publications):
        _compile_publication(ctx, corpus, corpus.publications[pub_id], out, where)
    for rec_id in sorted(corpus.recommendations):
        _compile_recommendation(ctx, corpus, corpus.recommendations[rec_id], out, where)
    out.resources.sort(key=lambda r: (r["resourceType"], r["id"]))
    return out


class _Where:
    """Mapping provenance (``file:line:column``) with the file relative to the corpus directory,
    so the build report does not depend on the directory the build ran from or on how the
    mappings were named on the command line."""

    def __init__(self, corpus: LoadedCorpus) -> None:
        self.base = os.path.dirname(corpus.corpus_doc.file) or "."

    def __call__(self, item: Loaded, *path: str | int) -> str:
        loc = item.doc.locate(path)
        rel = os.path.relpath(loc.file, self.base).replace(os.sep, "/")
        return str(replace(loc, file=rel))


def _compile_publication(
    ctx: Context, corpus: LoadedCorpus, item: Loaded, out: Compiled, _where: _Where
) -> None:
    pub = item.model
    assert isinstance(pub, Publication)
    source = corpus.source(pub.source)
    if pub.citation is not None:
        out.add(map_citation(ctx, pub, source), _where(item, "citation"))
    if pub.study is None:
        return
    study = pub.study
    out.add(map_study_group(ctx, study.population, pub.date), _where(item, "study", "population"))
    out.add(
        map_agent_variable(ctx, study.intervention, "intervention", pub.date),
        _where(item, "study", "intervention"),
    )
    for i, agent in enumerate(study.co_interventions):
        out.add(
            map_agent_variable(ctx, agent, "co-intervention", pub.date),
            _where(item, "study", "co_interventions", i),
        )
    outcomes = {o.id: o for o in pub.outcomes}
    variables_done: set[str] = set()
    study_citation = _citation_of(corpus, pub)
    for i, res in enumerate(pub.results):
        outcome = outcomes[res.outcome]
        var_id = outcome_variable_id(pub.id, outcome, res.timepoint)
        if var_id not in variables_done:
            variables_done.add(var_id)
            out.add(
                map_outcome_variable(ctx, pub.id, pub.label, outcome, res.timepoint, pub.date),
                _where(item, "results", i, "outcome"),
            )
        res_source = corpus.source(res.source or pub.source)
        certainties = [c for c in pub.certainty if res.id in c.results]
        evid = map_evidence(
            ctx,
            pub,
            res,
            source=res_source,
            source_citation=_citation_for_source(corpus, res_source.id) or study_citation,
            study_citation=study_citation,
            population_group=res.population or study.population.id,
            exposure_variable=study.intervention.id,
            outcome_variable=var_id,
            certainties=certainties,
        )
        out.add(evid, _where(item, "results", i))
        for cert in certainties:
            out.add(
                map_certainty(ctx, cert, evid["id"], evid["title"], pub.date),
                _where(item, "certainty", pub.certainty.index(cert)),
            )
        for j, conflict in enumerate(res.conflicts):
            out.conflicts.append(
                {
                    "evidence": f"Evidence/{evid['id']}",
                    "where": _where(item, "results", i, "conflicts", j),
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
        if res.derived is not None:
            out.derived.append(
                {
                    "evidence": f"Evidence/{evid['id']}",
                    "value": str(res.value),
                    "formula": res.derived.formula,
                    "inputs": dict(res.derived.inputs),
                }
            )


def _compile_recommendation(
    ctx: Context, corpus: LoadedCorpus, item: Loaded, out: Compiled, _where: _Where
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
        outcome = next(o for o in pub.outcomes if o.id == res.outcome)
        evidence.append((eid, f"{pub.label}: {outcome.name}, {res.timepoint.label}"))
        if any(res.id in c.results for c in pub.certainty):
            certainty_ids.append(certainty_id(eid))
        cid = _citation_of(corpus, pub)
        if cid and cid not in citation_ids:
            citation_ids.append(cid)
    comp_id = composition_id(rec)
    just_id = justification_id(rec)
    plan_id = plan_definition_id(rec)
    out.add(
        map_eligibility_group(ctx, rec.population, f"Eligibility: {rec.title}", rec.date),
        _where(item, "population"),
    )
    out.add(map_activity_definition(ctx, rec), _where(item, "action"))
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
        _where(item, "statement"),
    )
    out.add(map_justification(ctx, rec, comp_id, evidence, citation_ids), _where(item, "evidence"))
    out.add(
        map_recommendation(
            ctx,
            rec,
            citation_id=cit_id,
            population_group=rec.population.id,
            plan_id=plan_id,
            evidence=evidence,
            justification_id=just_id,
        ),
        _where(item, "kind"),
    )
    for j, claim in enumerate(rec.claims):
        out.claims.append(
            {
                "recommendation": f"Composition/{comp_id}",
                "where": _where(item, "claims", j),
                "claimed_source": f"Citation/{claim.publication}",
                "status": claim.status,
                "claim": claim.claim,
                "note": claim.note,
                "attributed_to": f"Citation/{cit_id}",
            }
        )
