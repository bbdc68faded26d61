"""Read the resources (and the build report's provenance) into the site's pages (``pages.py``)."""

from __future__ import annotations

import re
from decimal import Decimal

from evidence_publisher.fhir.common import CERTAINTY_LABELS, DOMAIN_LABELS
from evidence_publisher.fhir.common import RATING_LABELS as CONCERN_LABELS
from evidence_publisher.site import svg
from evidence_publisher.site.applicability import displays_of, in_words
from evidence_publisher.site.highlight import choose_boxes, highlight
from evidence_publisher.site.inputs import SiteInput
from evidence_publisher.site.pages import (
    BASELINE_PROFILE,
    DAYS_PER_UNIT,
    SERIES_EXCLUDED,
    Certainty,
    Chart,
    CitationEntry,
    Claim,
    Condition,
    Conflict,
    Derivation,
    Dispersion,
    Document,
    Link,
    Number,
    PValue,
    QuoteGroup,
    QuoteRef,
    QuoteUse,
    Recommendation,
    ResultRow,
    SiteModel,
    Study,
    coding_code,
    coding_display,
    narrative_text,
    slug,
    text_of,
)


# ---------------------------------------------------------------------------------------------
# building it
# ---------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, source: SiteInput) -> None:
        self.res: dict[str, dict] = {f"{r['resourceType']}/{r['id']}": r for r in source.resources}
        self.by_url: dict[str, str] = {}
        for key, r in self.res.items():
            if r.get("url"):
                self.by_url[r["url"]] = key
                if r.get("version"):
                    self.by_url[f"{r['url']}|{r['version']}"] = key
        self.report = source.report or {}
        self.has_provenance = "documents" in self.report and "quotes" in self.report
        self.documents = {d["file"]: d for d in self.report.get("documents", []) if isinstance(d, dict)}
        self.quotes_of: dict[str, list[dict]] = {}
        for q in self.report.get("quotes", []):
            if isinstance(q, dict) and q.get("document") in self.documents:
                self.quotes_of.setdefault(q.get("resource", ""), []).append(q)
        self.boxes: dict[str, list[tuple[int, int]]] = {
            file: choose_boxes(q for qs in self.quotes_of.values() for q in qs if q["document"] == file)
            for file in self.documents
        }
        self.derived_of: dict[str, list[dict]] = {}
        for d in self.report.get("derived_values", []):
            if isinstance(d, dict):
                self.derived_of.setdefault(d.get("evidence", ""), []).append(d)
        self.study_of: dict[str, str] = {}  # Evidence key -> study key
        self.studies: dict[str, Study] = {}
        self.page_of: dict[str, str] = {}  # resource key -> page href (with anchor)
        self.warnings = list(source.warnings)

    # -------------------------------------------------------------- helpers
    def of_type(self, rtype: str) -> list[tuple[str, dict]]:
        return sorted((k, r) for k, r in self.res.items() if r["resourceType"] == rtype)

    def ref(self, reference: dict | None) -> str | None:
        """The key of the resource a Reference or canonical points to, if it is in the site."""
        if not reference:
            return None
        target = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(target, str):
            return None
        if target in self.res:
            return target
        return self.by_url.get(target)

    def title(self, key: str) -> str:
        r = self.res.get(key, {})
        cited = r.get("citedArtifact", {}).get("title", [])
        if cited and cited[0].get("text"):
            return str(cited[0]["text"])
        ext_title = next(
            (
                e.get("valueString")
                for e in r.get("extension", [])
                if e.get("url", "").endswith("/artifact-title")
            ),
            None,
        )
        return r.get("title") or ext_title or r.get("name") or key

    def document_page(self, file: str) -> str | None:
        doc = self.documents.get(file)
        return f"sources/{doc['id']}.html" if doc else None

    def anchor(self, quote: dict, start: int, end: int) -> str:
        """The boxed span showing ``text[start:end]``: its own, else one that contains it, else
        the quote (two values partly overlapping cannot both be boxed)."""
        for s, e in self.boxes.get(quote["document"], []):
            if s <= start and end <= e:
                return f"n-{s}-{e}"
        return f"q-{quote['start']}-{quote['end']}"

    def quote_refs(self, key: str, roles: tuple[str, ...] | None = None) -> list[QuoteRef]:
        out = []
        for q in self.quotes_of.get(key, []):
            if roles is not None and q["role"] not in roles:
                continue
            page = self.document_page(q["document"])
            if page:
                out.append(
                    QuoteRef(
                        f"{page}#q-{q['start']}-{q['end']}", self.documents[q["document"]]["title"], q["role"]
                    )
                )
        return out

    def number(
        self, key: str, value: Decimal | int, fld: str, roles: tuple[str, ...] = ("result",), path: str = ""
    ) -> Number:
        text = text_of(value)
        num = Number(text, fld, path)
        for q in self.quotes_of.get(key, []):
            if q["role"] not in roles:
                continue
            page = self.document_page(q["document"])
            for v in q.get("values", []):
                if v.get("text") == text and page:
                    for s, e in v.get("spans", []):
                        link = f"{page}#{self.anchor(q, s, e)}"
                        if link not in num.quote_links:
                            num.quote_links.append(link)
            if num.quote_links:
                break
        return num

    # -------------------------------------------------------------- studies
    def study_key(self, ev: dict) -> str | None:
        for ra in ev.get("relatedArtifact", []):
            target = self.ref(ra.get("resourceReference"))
            if target and target.startswith("ResearchStudy/"):
                return target
        for vd in ev.get("variableDefinition", []):
            if _role(vd) == "population":
                target = self.ref(vd.get("observed"))
                if target:
                    return target
        return None

    def build_studies(self) -> None:
        for key, ev in self.of_type("Evidence"):
            skey = self.study_key(ev)
            if skey is None:
                continue
            self.study_of[key] = skey
            if skey not in self.studies:
                self.studies[skey] = self.new_study(skey)
        for skey, study in self.studies.items():
            self.page_of[skey] = study.href
            pop = study.population.get("key")
            if pop:
                self.page_of.setdefault(pop, f"{study.href}#population")
            for agent in study.interventions:
                self.page_of.setdefault(agent["key"], f"{study.href}#intervention")
        for key, _ev in self.of_type("Evidence"):
            if key in self.study_of:
                study = self.studies[self.study_of[key]]
                self.page_of[key] = f"{study.href}#ev-{key.split('/', 1)[1]}"
        for key, aa in self.of_type("ArtifactAssessment"):
            target = self.ref(aa.get("artifactReference"))
            if target in self.page_of:
                self.page_of[key] = self.page_of[target]
        for skey, study in self.studies.items():
            for key, ev in self.of_type("Evidence"):
                if self.study_of.get(key) == skey:
                    study.rows.append(self.row(key, ev))
            study.rows.sort(
                key=lambda r: (not r.baseline_characteristic, r.outcome.lower(), r.timepoint, r.title)
            )
            study.charts = self.charts(study)

    def new_study(self, skey: str) -> Study:
        r = self.res.get(skey, {})
        study = Study(
            skey, slug(skey.split("/", 1)[1]), self.title(skey), description=r.get("description", "")
        )
        if r.get("resourceType") == "ResearchStudy":
            study.designs = [coding_display(d) for d in r.get("studyDesign", [])]
            if r.get("phase"):
                study.facts.append(("Phase", coding_display(r["phase"])))
            if r.get("primaryPurposeType"):
                study.facts.append(("Primary purpose", coding_display(r["primaryPurposeType"])))
            for c in r.get("condition", []):
                study.facts.append(("Condition", coding_display(c)))
            for ps in r.get("progressStatus", []):
                period = ps.get("period", {})
                if period:
                    what = coding_display(ps.get("state"))
                    study.facts.append(
                        (
                            f"{what} (actual)" if ps.get("actual") else what,
                            f"{period.get('start', '?')} to {period.get('end', '?')}",
                        )
                    )
            for party in r.get("associatedParty", []):
                if coding_code(party.get("role")) == "funding-source" and party.get("name"):
                    study.funders.append(party["name"])
            for ident in r.get("identifier", []):
                if ident.get("type", {}).get("text") == "Grant number":
                    study.grants.append(
                        (ident.get("value", ""), ident.get("assigner", {}).get("display", ""))
                    )
            study.notes = [n.get("text", "") for n in r.get("note", [])]
            for ra in r.get("relatedArtifact", []):
                target = self.ref(ra.get("resourceReference"))
                if target and target.startswith("Citation/"):
                    study.links.append(
                        Link(
                            f"sources/index.html#{_cite_anchor(target)}",
                            f"{ra.get('label', 'Source')}: {self.title(target)}",
                        )
                    )
            pop_key = self.ref(r.get("recruitment", {}).get("actualGroup"))
            agents = [self.ref(f.get("reference")) for f in r.get("focus", [])]
        else:
            pop_key = skey
            agents = []
        if pop_key is None:
            for _key, ev in self.of_type("Evidence"):
                if self.study_key(ev) == skey:
                    pop_key = next(
                        (
                            self.ref(v.get("observed"))
                            for v in ev["variableDefinition"]
                            if _role(v) == "population"
                        ),
                        None,
                    )
                    break
        if not agents:
            for _key, ev in self.of_type("Evidence"):
                if self.study_key(ev) == skey:
                    agents = [
                        self.ref(v.get("intended"))
                        for v in ev["variableDefinition"]
                        if _role(v) == "exposure"
                    ]
                    break
        covariates: list[str] = []
        for _key, ev in self.of_type("Evidence"):
            if self.study_key(ev) == skey:
                for v in ev["variableDefinition"]:
                    target = self.ref(v.get("intended"))
                    if _role(v) == "covariate" and target and target not in covariates:
                        covariates.append(target)
        if pop_key and pop_key in self.res:
            g = self.res[pop_key]
            study.population = {
                "key": pop_key,
                "name": g.get("name", ""),
                "description": g.get("description", ""),
                "count": self.number(pop_key, g["quantity"], "count", ("population",))
                if "quantity" in g
                else None,
                "conditions": [
                    coding_display(c.get("valueCodeableConcept"))
                    for c in g.get("characteristic", [])
                    if c.get("code", {}).get("text") == "Condition every member has"
                ],
            }
            study.population_quotes = self.quote_refs(pop_key)
        for key in [a for a in agents if a] + covariates:
            ev_var = self.res.get(key, {})
            study.interventions.append(
                {
                    "key": key,
                    "role": "co-intervention" if key in covariates else "intervention",
                    "title": self.title(key),
                    "description": ev_var.get("description", ""),
                    "quotes": self.quote_refs(key),
                }
            )
        return study

    def row(self, key: str, ev: dict) -> ResultRow:
        stat = (ev.get("statistic") or [{}])[0]
        measure_key = next(
            (self.ref(v.get("intended")) for v in ev["variableDefinition"] if _role(v) == "outcome"), None
        )
        observed_key = next(
            (self.ref(v.get("observed")) for v in ev["variableDefinition"] if _role(v) == "outcome"), None
        )
        measure = self.res.get(measure_key or "", {})
        char = (measure.get("characteristic") or [{}])[0]
        outcome = char.get("definitionCodeableConcept", {}).get("text") or self.title(observed_key or "")
        tfe = (char.get("timeFromEvent") or [{}])[0]
        pop_key = next(
            (self.ref(v.get("observed")) for v in ev["variableDefinition"] if _role(v) == "population"), None
        )
        quantity = stat.get("quantity", {})
        row = ResultRow(
            evidence_id=key.split("/", 1)[1],
            anchor=f"ev-{key.split('/', 1)[1]}",
            title=ev.get("title", key),
            outcome=outcome,
            timepoint=tfe.get("description") or "timepoint not stated",
            population=Link(self.page_of.get(pop_key, "#"), self.res[pop_key].get("name", pop_key))
            if pop_key in self.res
            else None,
            statistic_type=coding_display(stat.get("statisticType")) or "not stated",
            unit=quantity.get("unit", ""),
            summary=stat.get("description", ""),
            baseline_characteristic=BASELINE_PROFILE in ev.get("meta", {}).get("profile", []),
        )
        derived = {d.get("value"): d for d in self.derived_of.get(key, [])}
        if "value" in quantity:
            row.value = self.number(key, quantity["value"], "value", path="statistic[0].quantity.value")
            d = derived.get(text_of(quantity["value"])) or derived.get(
                f"{text_of(quantity['value'])}{quantity.get('unit', '')}"
            )
            if d is None and quantity.get("unit") == "%":
                d = derived.get(f"{text_of(quantity['value'])}%")
            row.value.derived = self.derivation(d)
        if "numberAffected" in stat:
            row.affected = self.number(
                key, stat["numberAffected"], "affected", path="statistic[0].numberAffected"
            )
            row.affected.derived = self.derivation(derived.get(text_of(stat["numberAffected"])))
        n = stat.get("sampleSize", {}).get("numberOfParticipants")
        if n is not None:
            row.participants = self.number(
                key, n, "participants", path="statistic[0].sampleSize.numberOfParticipants"
            )
        for i, est in enumerate(stat.get("attributeEstimate", [])):
            code = coding_code(est.get("type"))
            at = f"statistic[0].attributeEstimate[{i}]"
            if code == "C44185":
                q = est.get("quantity", {})
                if "value" in q:
                    num = self.number(key, q["value"], "p-value", path=f"{at}.quantity.value")
                    row.p_values.append(PValue(q.get("comparator", "="), num, est.get("description", "")))
            elif code == "C38013" and "range" in est and "value" not in quantity:
                low, high = est["range"].get("low", {}), est["range"].get("high", {})
                if "value" in low:
                    row.range_low = self.number(key, low["value"], "low", path=f"{at}.range.low.value")
                if "value" in high:
                    row.range_high = self.number(key, high["value"], "high", path=f"{at}.range.high.value")
                row.unit = row.unit or low.get("unit", "") or high.get("unit", "")
            else:
                row.dispersions.append(self.dispersion(key, est, at))
        row.statistic_notes = [n.get("text", "") for n in stat.get("note", [])]
        if not self.derived_of and any(t.startswith("Derived") for t in row.statistic_notes):
            row.derived_unmarked = True
        row.notes = [n.get("text", "") for n in ev.get("note", [])]
        cert = next((c for c in ev.get("certainty", []) if coding_code(c.get("type")) == "Overall"), None)
        if cert is not None:
            row.certainty = self.certainty(cert)
        row.quotes = self.quote_refs(key, ("result", "conflict", "note"))
        if coding_code(stat.get("statisticType")) == "C44256":
            row.bar = self.bar(row)
        return row

    def dispersion(self, key: str, est: dict, at: str) -> Dispersion:
        t = est.get("type", {})
        kind = coding_display(t) if t.get("coding") else "± (kind not stated)"
        if not t.get("coding") and t.get("text") and "not stated" not in t["text"]:
            kind = t["text"]
        if est.get("level") is not None:
            kind = f"{text_of(est['level'])} {kind}"
        disp = Dispersion(kind)
        if "value" in est.get("quantity", {}):
            disp.value = self.number(key, est["quantity"]["value"], "dispersion", path=f"{at}.quantity.value")
        rng = est.get("range", {})
        if "value" in rng.get("low", {}):
            disp.low = self.number(key, rng["low"]["value"], "dispersion low", path=f"{at}.range.low.value")
        if "value" in rng.get("high", {}):
            disp.high = self.number(
                key, rng["high"]["value"], "dispersion high", path=f"{at}.range.high.value"
            )
        return disp

    def derivation(self, entry: dict | None) -> Derivation | None:
        if entry is None:
            return None
        links = entry.get("input_resources", {}) or {}
        inputs = []
        for name, what in sorted((entry.get("inputs") or {}).items()):
            target = links.get(name)
            inputs.append((name, str(what), self.page_of.get(target) if target else None))
        return Derivation(str(entry.get("formula", "")), inputs)

    def certainty(self, cert: dict) -> Certainty:
        rating = coding_code(cert.get("rating"))
        label = CERTAINTY_LABELS.get(rating, coding_display(cert.get("rating")) or "not stated")
        reasons = [
            (
                DOMAIN_LABELS.get(coding_code(s.get("type")), coding_display(s.get("type"))),
                CONCERN_LABELS.get(coding_code(s.get("rating")), coding_display(s.get("rating"))),
                s.get("description", ""),
            )
            for s in cert.get("subcomponent", [])
        ]
        return Certainty(
            rating, label, cert.get("description", ""), cert.get("rater", ""), reasons,
            svg.certainty_marks(rating, f"Certainty of evidence: {label}"),
        )  # fmt: skip

    def bar(self, row: ResultRow) -> str | None:
        if row.affected is not None and row.participants is not None:
            label = f"{row.affected.text} of {row.participants.text} patients"
            return svg.proportion_bar(
                affected=int(row.affected.text), total=int(row.participants.text), low=None, high=None,
                label=label,
            )  # fmt: skip
        if row.range_low is not None and row.range_high is not None and row.unit == "%":
            label = f"between {row.range_low.text}% and {row.range_high.text}%; denominator not stated"
            return svg.proportion_bar(
                affected=None, total=None, low=Decimal(row.range_low.text), high=Decimal(row.range_high.text),
                label=label,
            )  # fmt: skip
        return None

    def charts(self, study: Study) -> list[Chart]:
        """Small multiples: a panel per outcome measured at two or more reported timepoints."""
        groups: dict[tuple[str, str], list[tuple[tuple, ResultRow, Decimal]]] = {}
        for key, ev in self.of_type("Evidence"):
            if self.study_of.get(key) != study.key:
                continue
            row = next(r for r in study.rows if r.evidence_id == key.split("/", 1)[1])
            stat = (ev.get("statistic") or [{}])[0]
            quantity = stat.get("quantity", {})
            value = quantity.get("value")
            if not isinstance(value, int | Decimal) or isinstance(value, bool):
                continue  # no number, or not a number (a malformed resource): nothing to draw
            if row.baseline_characteristic or coding_code(stat.get("statisticType")) in SERIES_EXCLUDED:
                continue
            groups.setdefault((row.outcome, quantity.get("unit", "")), []).append(
                (self.order(ev), row, quantity["value"])
            )
        charts = []
        for (outcome, unit), items in sorted(groups.items()):
            if len({row.timepoint for _o, row, _v in items}) < 2:
                continue
            items.sort(key=lambda item: item[0])
            points, rows, kinds = [], [], set()
            for _order, row, value in items:
                disp = next((d for d in row.dispersions if d.value is not None), None)
                low = high = None
                if disp is not None and disp.value is not None:
                    spread = Decimal(disp.value.text)
                    low, high = value - spread, value + spread
                    kinds.add(disp.kind)
                points.append(svg.Point(row.timepoint, value, text_of(value), low, high))
                rows.append(
                    (
                        row.timepoint,
                        row.statistic_type,
                        text_of(value),
                        f"{disp.kind} {disp.value.text}" if disp and disp.value else "none reported",
                    )
                )
            disp_text = (
                "Whiskers: " + ", ".join(sorted(kinds)) + " as reported."
                if kinds
                else "No dispersion reported."
            )
            ident = f"chart-{slug(outcome)}-{slug(unit)}"
            title = f"{outcome}: reported values by timepoint ({unit})"
            charts.append(
                Chart(
                    ident,
                    title,
                    svg.over_time(points, title=title, unit=unit, dispersion=disp_text, ident=ident),
                    unit,
                    disp_text,
                    rows,
                )
            )
        return charts

    def order(self, ev: dict) -> tuple:
        """Baseline first, then timepoints with a time in order, then those given only in words."""
        measure_key = next(
            (self.ref(v.get("intended")) for v in ev["variableDefinition"] if _role(v) == "outcome"), None
        )
        char = (self.res.get(measure_key or "", {}).get("characteristic") or [{}])[0]
        tfe = (char.get("timeFromEvent") or [{}])[0]
        when = tfe.get("quantity") or tfe.get("range", {}).get("high")
        desc = tfe.get("description", "")
        if when and "value" in when and when.get("code") in DAYS_PER_UNIT:
            return (1, Decimal(when["value"]) * DAYS_PER_UNIT[when["code"]], desc)
        if desc.startswith("baseline"):
            return (0, Decimal(0), desc)
        return (2, Decimal(0), desc or "~")

    # -------------------------------------------------------------- recommendations
    def build_recommendations(self) -> list[Recommendation]:
        recs = []
        for key, comp in self.of_type("Composition"):
            sections = _sections(comp.get("section", []))
            plan_key = next(
                (self.ref(e) for s in sections.get("action", []) for e in s.get("entry", [])), None
            )
            plan = self.res.get(plan_key or "", {})
            pop_key = next(
                (self.ref(e) for s in sections.get("population", []) for e in s.get("entry", [])), None
            )
            ident = key.split("/", 1)[1]
            self.page_of[key] = f"recommendations/{ident}.html"
            if plan_key:
                self.page_of[plan_key] = f"recommendations/{ident}.html#applicability"
            if pop_key:
                self.page_of[pop_key] = f"recommendations/{ident}.html#population"
            action = (plan.get("action") or [{}])[0]
            activity_key = self.ref(action.get("definitionCanonical"))
            if activity_key:
                self.page_of[activity_key] = f"recommendations/{ident}.html#action"
            activity = self.res.get(activity_key or "", {})
            stated_by = [
                Link(f"sources/index.html#{_cite_anchor(t)}", self.title(t))
                for t in (
                    self.ref(r.get("resourceReference"))
                    for r in comp.get("relatesTo", [])
                    if r.get("type") == "derived-from"
                )
                if t
            ]
            displays = displays_of(plan)
            conditions = [
                Condition(
                    c.get("expression", {}).get("name", ""),
                    in_words(c.get("expression", {}).get("expression", ""), displays),
                    c.get("expression", {}).get("description", ""),
                    c.get("expression", {}).get("expression", ""),
                    self.quote_refs(
                        plan_key or "",
                        (f"criterion {c.get('expression', {}).get('name', '').replace('_', '-')}",),
                    ),
                )
                for c in action.get("condition", [])
                if c.get("kind") == "applicability"
            ]
            evidence = []
            for doc in action.get("documentation", []):
                target = self.ref(doc.get("resource") or doc.get("resourceReference"))
                if target and target.startswith("Evidence/") and target in self.study_of:
                    study = self.studies[self.study_of[target]]
                    row = next(r for r in study.rows if r.evidence_id == target.split("/", 1)[1])
                    row.study_href = study.href
                    evidence.append(row)
            sources: list[str] = []
            for _aa_key, aa in self.of_type("ArtifactAssessment"):
                if self.ref(aa.get("artifactReference")) == key:
                    for content in aa.get("content", []):
                        for ra in content.get("relatedArtifact", []):
                            t = self.ref(ra.get("resourceReference"))
                            if t and t.startswith("Citation/") and t not in sources:
                                sources.append(t)
            recs.append(
                Recommendation(
                    ident=ident,
                    title=comp.get("title", ident),
                    statement=_section_text(sections, "recommendation-statement")
                    or plan.get("description", ""),
                    experimental=bool(plan.get("experimental")),
                    usage=plan.get("usage", ""),
                    stated_by=stated_by,
                    claims=[c for c in self._claims if c.recommendation == key],
                    ratings=_section_text(sections, "ratings"),
                    population=_section_text(sections, "population"),
                    conditions=conditions,
                    action_title=activity.get("title", "") or action.get("title", ""),
                    action_description=action.get("description", "") or activity.get("description", ""),
                    action_code=coding_display(activity.get("code")),
                    evidence=evidence,
                    sources=[Link(f"sources/index.html#{_cite_anchor(t)}", self.title(t)) for t in sources],
                    considerations=_section_text(sections, "considerations"),
                    quotes=self.quote_refs(key, ("statement", "consideration", "strength", "direction")),
                )
            )
        return recs

    # -------------------------------------------------------------- claims, conflicts, sources
    def build_claims(self) -> None:
        self._claims: list[Claim] = []
        for c in self.report.get("attribution_claims", []):
            if not isinstance(c, dict):
                continue
            claimed, attributed = self.ref(c.get("claimed_source")), self.ref(c.get("attributed_to"))
            rec = c.get("recommendation", "")
            self._claims.append(
                Claim(
                    str(c.get("claim", "")),
                    str(c.get("status", "")),
                    Link(f"sources/index.html#{_cite_anchor(claimed)}", self.title(claimed))
                    if claimed
                    else None,
                    Link(f"sources/index.html#{_cite_anchor(attributed)}", self.title(attributed))
                    if attributed
                    else None,
                    str(c.get("note", "")),
                    str(c.get("where", "")),
                    self.quote_refs(rec, ("attribution claim",)),
                    rec,
                )
            )
        if not self.report:
            for key, comp in self.of_type("Composition"):
                for note in comp.get("note", []):
                    text = note.get("text", "")
                    m = re.match(r"Attribution claim \(([^)]*)\): (.*)", text, re.S)
                    if m:
                        self._claims.append(Claim(m.group(2), m.group(1), None, None, "", "", [], key))

    def claims(self) -> list[Claim]:
        return list(self._claims)

    def build_conflicts(self) -> list[Conflict]:
        out = []
        for c in self.report.get("conflicts", []):
            if not isinstance(c, dict):
                continue
            ev = self.ref(c.get("evidence"))

            def side(s: dict) -> tuple[str, str, Link | None]:
                doc = self.documents.get(s.get("source", ""))
                link = Link(f"sources/{doc['id']}.html", doc["title"]) if doc else None
                return str(s.get("value", "")), str(s.get("kind", "")), link

            out.append(
                Conflict(
                    Link(self.page_of.get(ev, "#"), self.title(ev)) if ev else None,
                    side(c.get("published", {})),
                    side(c.get("conflicting", {})),
                    str(c.get("note", "")),
                    str(c.get("where", "")),
                )
            )
        return out

    def build_citations(self) -> list[CitationEntry]:
        entries = []
        doc_of = {d["citation"]: d for d in self.documents.values() if d.get("citation")}
        for key, cit in self.of_type("Citation"):
            art = cit.get("citedArtifact", {})
            details = []
            authors = [
                e.get("contributor", {}).get("display", "")
                for e in art.get("contributorship", {}).get("entry", [])
            ]
            if authors:
                details.append(", ".join(a for a in authors if a))
            for summary in art.get("contributorship", {}).get("summary", []):
                if summary.get("value"):
                    details.append(summary["value"])
            for pub in art.get("publicationForm", []):
                journal = pub.get("publishedIn", {}).get("title", "")
                parts = [
                    journal,
                    pub.get("articleDate", ""),
                    " ".join(
                        x
                        for x in (
                            pub.get("volume") and f"vol. {pub['volume']}",
                            pub.get("issue") and f"issue {pub['issue']}",
                            pub.get("pageString") and f"pp. {pub['pageString']}",
                        )
                        if x
                    ),
                ]
                details.append(", ".join(p for p in parts if p))
            for ident in art.get("identifier", []):
                kind = coding_display(ident.get("type")) or ident.get("system", "")
                details.append(f"{kind}: {ident.get('value', '')}")
            for loc in art.get("webLocation", []):
                if loc.get("url"):
                    details.append(loc["url"])
            doc = doc_of.get(key)
            entries.append(
                CitationEntry(
                    _cite_anchor(key),
                    art.get("title", [{}])[0].get("text", "") if art.get("title") else self.title(key),
                    [d for d in details if d],
                    Link(
                        f"sources/{doc['id']}.html",
                        f"Full text of {doc['file']} with every quote highlighted",
                    )
                    if doc
                    else None,
                    [n.get("text", "") for n in cit.get("note", [])],
                )
            )
        return entries

    def build_documents(self) -> list[Document]:
        docs = []
        for doc in sorted(self.documents.values(), key=lambda d: d["id"]):
            quotes = [q for qs in self.quotes_of.values() for q in qs if q["document"] == doc["file"]]
            quotes.sort(key=lambda q: (q["start"], q["end"], q["resource"], q["role"]))
            groups: dict[tuple[int, int], QuoteGroup] = {}
            for q in quotes:
                span = (q["start"], q["end"])
                if span not in groups:
                    groups[span] = QuoteGroup(
                        f"q-{span[0]}-{span[1]}", len(groups) + 1, doc["text"][span[0] : span[1]], []
                    )
                values = [
                    (v["field"], v["text"], self.anchor(q, s, e))
                    for v in q.get("values", [])
                    for s, e in v.get("spans", [])
                ]
                target = q["resource"]
                groups[span].uses.append(
                    QuoteUse(
                        target,
                        self.title(target),
                        self.page_of.get(target),
                        q["role"],
                        values,
                        str(q.get("where", "")),
                    )
                )
            cit = self.ref(doc.get("citation"))
            docs.append(
                Document(
                    doc["id"], doc["file"], doc["kind"], bool(doc.get("primary")), doc["title"],
                    doc.get("description") or "",
                    Link(f"sources/index.html#{_cite_anchor(cit)}", self.title(cit)) if cit else None,
                    highlight(doc["text"], self.boxes[doc["file"]], groups),
                    list(groups.values()),
                )
            )  # fmt: skip
        return docs


def _role(vd: dict) -> str:
    for ext in vd.get("extension", []):
        if ext.get("url", "").endswith("variable-definition-variable-role-code"):
            return str(ext.get("valueCode", ""))
    code = coding_code(vd.get("variableRole"))
    return {"measuredVariable": "outcome", "confounder": "covariate"}.get(code, code)


def _cite_anchor(key: str | None) -> str:
    return f"cit-{(key or '').split('/', 1)[-1]}"


def _sections(sections: list[dict], found: dict | None = None) -> dict[str, list[dict]]:
    found = {} if found is None else found
    for s in sections:
        found.setdefault(coding_code(s.get("code")), []).append(s)
        _sections(s.get("section", []), found)
    return found


def _section_text(sections: dict[str, list[dict]], code: str) -> str:
    return " ".join(narrative_text(s.get("text", {}).get("div")) for s in sections.get(code, [])).strip()


def build_model(source: SiteInput) -> SiteModel:
    b = _Builder(source)
    b.build_studies()
    b.build_claims()
    recs = b.build_recommendations()
    for ev_key in list(b.study_of):
        b.page_of.setdefault(ev_key, "#")
    report = source.report or {}
    title = f"Evidence: {report.get('corpus', 'corpus')}"
    return SiteModel(
        title=title,
        version=str(report.get("version", "")),
        recommendations=recs,
        studies=sorted(b.studies.values(), key=lambda s: s.title.lower()),
        documents=b.build_documents(),
        citations=b.build_citations(),
        conflicts=b.build_conflicts(),
        claims=b.claims(),
        warnings=b.warnings,
        has_provenance=b.has_provenance,
    )
