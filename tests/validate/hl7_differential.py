"""Our validator next to the HL7 Java validator: the corpus, the comparison and the table.

Used by ``test_validate_hl7_differential.py`` (CI) and ``bench/hl7_differential.py`` (the full
run and the speed comparison). Both validators get the same file on disk. A *verdict* is
whether a resource has at least one error (or fatal) issue; *paths* are the FHIRPaths of the
errors, compared after normalising the two notations (see ``normalise``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from evidence_publisher import jsonio
from evidence_publisher.packages import PackageSpec

from .conftest import TARGET_TYPES
from .hl7_oracle import XVER, Hl7Issue
from .mutations import CLASSES, generate

OTHER_SAMPLE = 320  # official examples of other types (the issue asks for at least 300)
MUTATION_SAMPLE = 320  # mutations (at least 300), spread over the fault classes
MAX_EXAMPLE_BYTES = 100_000  # the big spec Bundles take minutes in either validator

XVER_SPEC = PackageSpec.parse(XVER)
_JAVA_COMMENT = re.compile(r"/\*.*?\*/|\[url='[^']*'\]")


@dataclass
class Case:
    kind: str  # target-example | other-example | seed | mutation
    name: str
    path: Path
    mutation: str = ""  # the fault class, for mutations


@dataclass
class Result:
    case: Case
    ours: set[str]  # normalised error paths (with rule ids in ours_rules)
    hl7: set[str]
    ours_rules: dict[str, set[str]] = field(default_factory=dict)
    hl7_ids: dict[str, set[str]] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return bool(self.ours) == bool(self.hl7)

    @property
    def agree_but_deliberate(self) -> bool:
        """Agreement once the errors of the deliberate differences are set aside."""
        ours = {p for p, rules in self.ours_rules.items() if not all(deliberate("ours", r) for r in rules)}
        hl7 = {p for p, ids in self.hl7_ids.items() if not all(deliberate("hl7", i) for i in ids)}
        return self.agree or bool(ours) == bool(hl7)

    def only_ours(self) -> set[str]:
        return {p for p in self.ours if not any(_related(p, q) for q in self.hl7)}

    def only_hl7(self) -> set[str]:
        return {p for p in self.hl7 if not any(_related(p, q) for q in self.ours)}


def normalise(path: str) -> str:
    """One notation for both: no Java ``/*Type/id*/`` comments or ``[url='...']`` qualifiers,
    choice types as ``value(Quantity)``."""
    path = _JAVA_COMMENT.sub("", path)
    return path.replace(".ofType(", "(").strip()


def _related(a: str, b: str) -> bool:
    """Same element, or one inside the other (a missing child is reported at its parent by one
    validator and at the child by the other)."""
    a0, b0 = (re.sub(r"\[\d+\]|\[x\]|\(\w+\)", "", x) for x in (a, b))
    return (
        a == b
        or a.startswith(b + ".")
        or b.startswith(a + ".")
        or a0 == b0
        or a0.startswith(b0 + ".")
        or b0.startswith(a0 + ".")
    )


# ---------------------------------------------------------------------------------- corpus
def hl7_packages(cache) -> list[str]:
    """The packages our validator reads besides core, for the HL7 engine: the expansions (so that
    both judge codes against the same official expansions), terminology, the extensions package
    (whichever version is installed) and the local EBM one."""
    from evidence_publisher.packages import DEFAULT_PACKAGES

    names = []
    for pkg in cache.definitions().packages:
        if pkg.name == "hl7.fhir.r5.core":
            continue
        if pkg.spec in DEFAULT_PACKAGES or pkg.name == "hl7.fhir.uv.extensions.r5":
            names.append(pkg.spec.dirname)
    return names


def example_cases(examples: Path, *, every: bool = False) -> list[Case]:
    """Every top-level example of the target types, and an evenly spread sample of the others
    (``every``: all of them up to 100 KB)."""
    files = sorted(p for p in examples.glob("*.json") if p.name != "package.json")
    target = [p for p in files if p.name.split("-", 1)[0] in TARGET_TYPES]
    others = [
        p
        for p in files
        if p.name.split("-", 1)[0] not in TARGET_TYPES and p.stat().st_size <= MAX_EXAMPLE_BYTES
    ]
    step = 1 if every else max(1, len(others) // OTHER_SAMPLE)
    sample = others if every else others[::step][:OTHER_SAMPLE]
    return [Case("target-example", p.name, p) for p in target] + [
        Case("other-example", p.name, p) for p in sample
    ]


def seed_cases(dist: Path) -> list[Case]:
    files = sorted((dist / "resources").glob("*.json")) + sorted(dist.glob("bundle-*.json"))
    return [Case("seed", p.name, p) for p in files]


def mutation_cases(validator, examples: Path, out: Path) -> list[Case]:
    """Single faults on the target examples that are clean in our validator, round-robin over
    the fault classes so that each class is represented; written to ``out``."""
    per_class: dict[str, list] = {c: [] for c in CLASSES}
    for case in example_cases(examples):
        if case.kind != "target-example":
            continue
        res = jsonio.load_file(case.path)
        outcome = validator.validate_resource(res)
        if any(i["severity"] in ("error", "fatal") for i in outcome["issue"]):
            continue
        for m in generate(case.name, res, validator.registry, validator.terminology):
            per_class[m.klass].append(m)
    chosen = []
    rounds = 0
    while len(chosen) < MUTATION_SAMPLE and rounds < 10_000:
        for klass in CLASSES:
            items = per_class[klass]
            # spread the picks over each class's list (stable: depends only on the corpus)
            if items and rounds < len(items):
                chosen.append(items[(rounds * 7919) % len(items)])
        rounds += 1
    seen: set[int] = set()
    cases = []
    out.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(chosen[:MUTATION_SAMPLE]):
        if id(m) in seen:
            continue
        seen.add(id(m))
        path = out / f"mutation-{i:04d}-{m.klass}.json"
        path.write_text(jsonio.dumps(m.resource), encoding="utf-8")
        cases.append(Case("mutation", f"{m.source}: {m.what}", path, m.klass))
    return cases


# ---------------------------------------------------------------------------------- comparison
def our_errors(validator, path: Path) -> dict[str, set[str]]:
    report = validator.validate_files([path])
    # HL7 anchors the issues of a Bundle's entries on the Bundle (Bundle.entry[3].resource...)
    first = report.outcomes[0][0] if report.outcomes else None
    entries = (
        first.get("entry") if isinstance(first, dict) and first.get("resourceType") == "Bundle" else None
    )
    index = {id(e.get("resource")): i for i, e in enumerate(entries or ()) if isinstance(e, dict)}
    out: dict[str, set[str]] = {}
    for res, outcome in report.outcomes:
        prefix = f"Bundle.entry[{index[id(res)]}].resource" if id(res) in index else None
        for issue in outcome.get("issue", ()):
            if issue.get("severity") not in ("error", "fatal"):
                continue
            rule = issue.get("diagnostics", "")[1:].split("]", 1)[0]
            for expr in issue.get("expression") or [""]:
                if prefix is not None:
                    expr = prefix + expr[len(res.get("resourceType", "")) :]
                out.setdefault(normalise(expr), set()).add(rule)
    return out


# Errors one validator reports and the other does not, on purpose (docs/validation.md lists the
# reasons with the specification text behind each). Keys are our rule ids / HL7 message ids.
DELIBERATE_OURS = {
    "ebm-*": "EBM-on-FHIR profile rules: the guide's R5 package cannot be installed for HL7",
    "reference-format": "a bare id ('example-study') is relative to the service base URL "
    "(Reference.reference), where resources live at [base]/[type]/[id]: it locates no resource. "
    "HL7 accepts it",
    "ele-1": "ele-1 is hasValue() or (children().count() > id.count()): an element whose only "
    "child is its id fails it (Element.id is an XML attribute, not a child element, in the "
    "human text 'must have a @value or children'); fhirpathpy agrees; HL7 accepts it",
    "json-empty-array": "R5 JSON (json.html): arrays are never empty; HL7's parser drops them "
    "without an error",
}
DELIBERATE_HL7 = {
    "Type_Specific_Checks_DT_URL_Resolve": "HL7 requires every uri in http://hl7.org/fhir*, "
    "terminology.hl7.org and fhir.org/guides to name a resource it has loaded, which the "
    "specification does not ask of a uri: links to spec pages (http://hl7.org/fhir/http.html#read "
    "in TestScript), the NamingSystem URIs Device.udiCarrier.issuer/jurisdiction's definitions "
    "name (no package defines them), and extensions of hl7.fhir.uv.tools (neither validator "
    "loads it; HL7's own extension check accepts unknown tools extensions)",
    "MEASURE_M_CRITERIA_CQL_NO_LIB": "HL7 requires a Measure's CQL library to be loaded; the "
    "differential does not follow references outside the file, and the specification does not "
    "make a criteria expression invalid because its library is elsewhere",
    "EXTENSION_FHIR_VERSION_LATEST": "implemented (extension-version); for an extension only the "
    "pre-release hl7.fhir.uv.extensions.r5#5.3.0-ballot-tc1 defines (operationdefinition-allowed-"
    "type) it is a warning naming that package, as every rule of such a definition",
    "Terminology_TX_NoValid_16": "codes of grammar-based systems (BCP-13 mime types, BCP-47) are "
    "not judged locally when the official expansion lacks them; HL7 without a terminology server "
    "rejects them",
    "UNABLE_TO_INFER_CODESYSTEM": "as above",
}


def deliberate(side: str, rule: str) -> bool:
    table = DELIBERATE_OURS if side == "ours" else DELIBERATE_HL7
    return any(rule == k or (k.endswith("*") and rule.startswith(k[:-1])) for k in table)


# HL7 errors that are HL7 failing rather than judging: no terminology server (a SNOMED filter),
# or a null-pointer failure while inferring the system of a bare code (it rejects 'CodeSystem' in
# version-independent-all-resource-types).
UNDECIDED = re.compile(r'running without terminology services|because "system" is null')
# A warm HL7 engine fails to place some valid bare codes (text/plain in mimetypes, USD in
# currencies, en-US) that a fresh engine accepts: when the code is in the value set's official
# expansion (hl7.fhir.r5.expansions), or the value set draws on a grammar-based system (BCP-13
# mime types, BCP-47 languages) that neither validator enumerates, the error is HL7 failing,
# not a judgement.
GRAMMAR_SYSTEMS = frozenset({"urn:ietf:bcp:13", "urn:ietf:bcp:47"})
_NO_SYSTEM = re.compile(r"could not be determined for the code '([^']*)' in the ValueSet '([^'|]*)")


class ExpansionLookup:
    """``(value set url, code) in lookup``: is the code in the value set's official expansion,
    or is the value set drawn from a grammar-based system (where any code may be right)?"""

    def __init__(self, definitions) -> None:
        self.definitions = definitions
        self._codes: dict[str, set[str] | None] = {}  # None: grammar-based

    def __contains__(self, key: tuple[str, str]) -> bool:
        url, code = key
        if url not in self._codes:
            self._codes[url] = self._expand(url)
        codes = self._codes[url]
        return codes is None or code in codes

    def _expand(self, url: str) -> set[str] | None:
        vs = self.definitions.value_set(url) or {}
        include = (vs.get("compose") or {}).get("include") or ()
        if any(isinstance(i, dict) and i.get("system") in GRAMMAR_SYSTEMS for i in include):
            return None
        stack = list((vs.get("expansion") or {}).get("contains") or ())
        codes: set[str] = set()
        while stack:
            c = stack.pop()
            if isinstance(c, dict):
                if isinstance(c.get("code"), str):
                    codes.add(c["code"])
                stack.extend(c.get("contains") or ())
        return codes


def hl7_errors(issues: Iterable[Hl7Issue], expansions: ExpansionLookup | None = None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for i in issues:
        if i.severity not in ("error", "fatal") or UNDECIDED.search(i.message):
            continue
        m = _NO_SYSTEM.search(i.message)
        if m is not None and expansions is not None and (m[2], m[1]) in expansions:
            continue
        out.setdefault(normalise(i.location), set()).add(i.message_id or i.invariant or i.message[:60])
    return out


def compare(case: Case, ours: dict[str, set[str]], hl7: dict[str, set[str]]) -> Result:
    return Result(case, set(ours), set(hl7), ours, hl7)


@dataclass
class Table:
    # group, n, agree, both, neither, only ours, only hl7, agree with deliberate differences aside
    rows: list[tuple[str, int, int, int, int, int, int, int]]

    def agreement(self, group: str) -> float:
        for g, n, agree, *_ in self.rows:
            if g == group:
                return agree / n if n else 1.0
        raise KeyError(group)

    def markdown(self) -> str:
        lines = [
            "| corpus | resources | verdicts agree | both report errors | neither | errors only we report"
            " | errors only HL7 reports | verdicts agree, deliberate differences aside |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for g, n, agree, both, neither, only_ours, only_hl7, aside in self.rows:
            pct = f"{100 * agree / n:.1f} %" if n else "-"
            pct2 = f"{100 * aside / n:.1f} %" if n else "-"
            lines.append(
                f"| {g} | {n} | {agree} ({pct}) | {both} | {neither} | {only_ours} | {only_hl7} "
                f"| {aside} ({pct2}) |"
            )
        return "\n".join(lines)


GROUPS = {
    "official examples, target types": ("target-example",),
    "official examples, other types (sample)": ("other-example",),
    "seed corpus": ("seed",),
    "valid resources (the three above)": ("target-example", "other-example", "seed"),
    "mutations": ("mutation",),
}


def table(results: list[Result]) -> Table:
    rows = []
    for group, kinds in GROUPS.items():
        rs = [r for r in results if r.case.kind in kinds]
        both = sum(1 for r in rs if r.ours and r.hl7)
        neither = sum(1 for r in rs if not r.ours and not r.hl7)
        only_ours = sum(1 for r in rs if r.only_ours())
        only_hl7 = sum(1 for r in rs if r.only_hl7())
        aside = sum(1 for r in rs if r.agree_but_deliberate)
        rows.append((group, len(rs), both + neither, both, neither, only_ours, only_hl7, aside))
    return Table(rows)


def disagreement_summary(results: list[Result]) -> Counter:
    """(side, rule or message id) -> number of resources, for the errors one side alone reports."""
    counts: Counter = Counter()
    for r in results:
        for p in r.only_ours():
            for rule in r.ours_rules.get(p, ()):
                counts[("ours", rule)] += 1
        for p in r.only_hl7():
            for mid in r.hl7_ids.get(p, ()):
                counts[("hl7", mid)] += 1
    return counts
