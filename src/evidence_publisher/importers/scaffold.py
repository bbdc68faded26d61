"""``new study|recommendation ID --from CITATION``: a commented skeleton that passes the schema.

Every value the curator must supply is a placeholder starting with ``TODO``; the build refuses a
file that still holds one (code ``placeholder``), so a skeleton can never be published unfilled.
The study skeleton names its citation with ``citation_in`` and keeps the citation file as
``import`` wrote it, so a later re-import (``--force``) never touches curated work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from evidence_publisher.importers.errors import CorpusNotFoundError, ImportRefusedError
from evidence_publisher.importers.files import PlannedFile
from evidence_publisher.importers.plan import CorpusState, schema_files
from evidence_publisher.importers.yamltext import block, comment, comment_lines, schema_line
from evidence_publisher.sources.model import SLUG_PATTERN, Publication, Recommendation
from evidence_publisher.sources.textfile import TextFileError, read_text
from evidence_publisher.sources.yamlload import parse_located

SLUG = re.compile(SLUG_PATTERN)  # a mapping id, as the schema checks it
_DESIGNS = (
    "single-arm-before-after | single-arm | phase-1-dose-escalation | randomized | cohort | case-series "
    "| unknown"
)


@dataclass
class Skeleton:
    path: Path
    files: list[PlannedFile]
    citation: Publication


def plan_new(
    kind: str,
    new_id: str,
    citation: str,
    corpus_dir: Path | None,
    *,
    force: bool = False,
    date: str | None = None,
) -> Skeleton:
    if not SLUG.match(new_id):
        raise CorpusNotFoundError(
            f"{new_id!r} is not a mapping id",
            details=[
                "fix: use lower-case letters, digits and '-', at most 52 characters (e.g. liang-2010-study)"
            ],
        )
    cited_path = Path(citation)
    if cited_path.suffix in (".yaml", ".yml") and cited_path.is_file():
        corpus_dir = corpus_dir or cited_path.parent
    if corpus_dir is None:
        raise CorpusNotFoundError(
            f"--from {citation!r} is not a mapping file, so the corpus is not known",
            details=["fix: give --corpus DIR (the mappings directory), or --from the citation's .yaml file"],
        )
    corpus = CorpusState.read(corpus_dir)
    pub, pub_file = _citation(corpus, citation)
    target = corpus_dir / f"{new_id}.yaml"
    owner = corpus.ids.get(new_id)
    if owner is not None and (owner != target or not force):
        fix = "choose another ID" if owner != target else "pass --force to replace it"
        raise ImportRefusedError(
            f"id {new_id!r} is already used by {owner}; nothing was written", details=[f"fix: {fix}"]
        )
    if target.exists() and not force:
        raise ImportRefusedError(
            f"{target} exists; nothing was written", details=["fix: pass --force to replace it"]
        )
    day = date or corpus.model.date
    if kind == "study":
        text = _study(new_id, pub, pub_file, day)
        model: type[Publication | Recommendation] = Publication
    else:
        text = _recommendation(new_id, pub, pub_file, day)
        model = Recommendation
    doc, problems = parse_located(text, target.name)
    try:
        if doc is None or problems:
            raise ValueError("; ".join(map(str, problems)))
        model.model_validate(doc.data)
    except (ValidationError, ValueError) as exc:  # a bug of this module: never write a bad skeleton
        raise RuntimeError(f"the {kind} skeleton does not pass the schema: {exc}") from exc
    files = [*schema_files(corpus_dir), PlannedFile(target, text.encode("utf-8"))]
    return Skeleton(target, files, pub)


def _citation(corpus: CorpusState, citation: str) -> tuple[Publication, Path]:
    path = Path(citation)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        found = corpus.ids.get(citation)
        if found is None:
            raise CorpusNotFoundError(
                f"--from {citation!r} names no mapping in {corpus.dir}",
                details=[
                    "fix: give the id or the file of a publication mapping with a citation "
                    "(e.g. one import wrote)"
                ],
            )
        path = found
    try:
        doc, problems = parse_located(read_text(path, str(path)), str(path))
    except TextFileError as problem:
        raise CorpusNotFoundError(str(problem.issue)) from None
    try:
        if doc is None or problems:
            raise ValueError
        pub = Publication.model_validate(doc.data)
    except (ValidationError, ValueError):
        raise CorpusNotFoundError(
            f"--from {citation!r}: {path} is not a valid publication mapping",
            details=[f"fix: run `evidence-publisher build {corpus.dir}` to see what is wrong with it"],
        ) from None
    if pub.citation is None:
        raise CorpusNotFoundError(
            f"--from {citation!r}: {path} has no 'citation' block",
            details=["fix: name the publication mapping that holds the citation (e.g. one import wrote)"],
        )
    return pub, path


def _header(kind: str, pub: Publication, pub_file: Path) -> str:
    cit = pub.citation
    assert cit is not None
    return schema_line(kind) + comment(
        f"{'Study' if kind == 'publication' else 'Recommendation'} skeleton written by "
        f"`evidence-publisher new` from {pub_file.name} ({pub.label}: {cit.title}).\n"
        "Every value that starts with TODO is a placeholder: the build refuses this file until each one "
        "holds what the source document says, with the quote that says it (verbatim; only whitespace "
        "may differ). Give a number only as the quote prints it, and a code only where you checked it "
        "(say where in a comment). Field reference: docs/mapping-format.md; editors complete fields "
        "from the schema named on the first line."
    )


def _study(new_id: str, pub: Publication, pub_file: Path, date: str) -> str:
    text = _header("publication", pub, pub_file)
    text += block("kind", "publication") + block("id", new_id) + block("date", date)
    text += comment("the document every quote below comes from (the abstract registered by import)")
    text += block("source", pub.source)
    text += block("label", f"{pub.label} study")
    text += comment(
        f"the citation of this study stays in {pub_file.name}; re-importing it does not touch this file"
    )
    text += block("citation_in", pub.id)
    text += "study:\n"
    text += comment(_DESIGNS, 2) + block("design", "unknown", 2)
    text += block("description", "TODO: the design in one or two sentences", 2)
    text += block("quote", "TODO: the sentence that states the design", 2)
    text += comment_lines("enrolment: {start: YYYY-MM-DD, end: YYYY-MM-DD, quote: ...}   # where stated", 2)
    text += "  population:\n"
    text += block("id", f"{new_id}-population", 4)
    text += block("name", "TODO: who was studied, in a few words", 4)
    text += block("description", "TODO: who was studied", 4)
    text += comment_lines("count: 15   # participants, exactly as the quote prints the number", 4)
    text += comment(
        "condition: [{system: http://snomed.info/sct, code: ..., display: ...}]   # checked codes only", 4
    )
    text += block("quote", "TODO: the sentence that describes the participants", 4)
    text += "  intervention:\n"
    text += block("id", f"{new_id}-intervention", 4)
    text += block("name", "TODO: the intervention", 4)
    text += comment_lines("dose: ...   # exactly as reported; leave out when not reported", 4)
    text += block("quote", "TODO: the sentence that names the intervention", 4)
    text += comment_lines(
        "follow_up: {description: ..., mean: ..., unit: mo, quote: ...}\n"
        "notes: [{kind: caveat, text: ..., quote: ...}]",
        2,
    )
    text += comment_lines(
        "Outcomes measured, then one result per outcome, timepoint and statistic. Example:\n"
        "outcomes:\n"
        "  - {id: sledai, name: SLEDAI score, description: ..., handling: continuous}\n"
        "results:\n"
        "  - id: sledai-12m\n"
        "    outcome: sledai\n"
        "    timepoint: {label: 12-month follow-up, value: 12, unit: mo}\n"
        "    statistic: mean\n"
        "    value: 3.2\n"
        '    unit: "{score}"\n'
        "    participants: 12\n"
        "    description: ...\n"
        "    quote: ..."
    )
    return text


def _recommendation(new_id: str, pub: Publication, pub_file: Path, date: str) -> str:
    text = _header("recommendation", pub, pub_file)
    text += block("kind", "recommendation") + block("id", new_id) + block("date", date)
    text += comment("the document that states the advice, and its publication mapping")
    text += block("source", pub.source) + block("stated_in", pub.id)
    text += block("title", "TODO: a short title of the recommendation")
    text += block("statement", "TODO: the advice, as the source states it")
    text += block("quote", "TODO: the sentence that states it")
    text += comment_lines(
        "strength: {value: ..., quote: ...}    # only where the source states one\n"
        "direction: {value: ..., quote: ...}   # likewise\n"
        "experimental: true + caution: ...     # advice that must not run as a vetted rule"
    )
    text += "population:\n"
    text += block("id", f"{new_id}-population", 2)
    text += block("description", "TODO: who the advice is for", 2)
    text += block("quote", "TODO: the sentence that says who it is for", 2)
    text += "  criteria:\n"
    text += "    - " + block("id", f"{new_id}-criterion", 0)
    for key, value in (
        ("description", "TODO: what a patient must have"),
        ("resource", "Condition"),
    ):
        text += block(key, value, 6)
    text += comment("Condition | MedicationRequest | Observation; a code only where you checked it", 6)
    text += block("codes", [{"system": "TODO", "code": "TODO", "display": "TODO"}], 6)
    text += block("reading", "TODO: how this criterion reads the source text", 6)
    text += block("quote", "TODO: the words it reads", 6)
    text += "action:\n"
    text += block("id", f"{new_id}-action", 2)
    text += block("title", "TODO: what to do (under 140 characters: the card summary)", 2)
    text += block("description", "TODO: what to do, in full", 2)
    text += block("kind", "ServiceRequest", 2)
    text += block("code", {"system": "TODO", "code": "TODO"}, 2)
    text += block("quote", "TODO: the sentence that states the action", 2)
    text += comment("the results that support it: 'publication-id/result-id'")
    text += block("evidence", ["TODO: publication-id/result-id"])
    return text
