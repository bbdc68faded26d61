"""Validation speed versus fhir.resources' own parse, in one run (ratios, not absolute numbers).

    .venv/bin/python bench/bench_validate.py [--repeat 5] [--write]

Measures, on the same resources and in the same process:
  * full validation (``Validator.validate_resource``) of the R5 examples of the 8 target types,
    of every R5 example up to 100 KB, and of the seed corpus (``evidence-publisher build``);
  * fhir.resources 8.3 ``Model.model_validate(dict)`` of the same dicts;
  * a cold process validating the seed corpus (``evidence-publisher validate dist/resources``).
``--write`` replaces the validate section of docs/BENCHMARKS.md with the results.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".fhir-cache"
TARGET_TYPES = (
    "Evidence",
    "EvidenceVariable",
    "Citation",
    "PlanDefinition",
    "ActivityDefinition",
    "ArtifactAssessment",
    "Group",
    "Composition",
)


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def fhir_resources_parse(resources: list[dict]):
    from fhir.resources import get_fhir_model_class

    classes = [get_fhir_model_class(r["resourceType"]) for r in resources]

    def run() -> None:
        for cls, r in zip(classes, resources, strict=True):
            cls.model_validate(r)

    return run


def _parses(res: dict) -> bool:
    """fhir.resources rejects 6 valid examples (python-stack.md §1.5); leave them out of both."""
    from fhir.resources import get_fhir_model_class

    try:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    except Exception:
        return False
    return True


def measure(name: str, resources: list[dict], validator, repeat: int) -> dict:
    parse = fhir_resources_parse(resources)
    parse()  # warm both sides: class imports, compiled FHIRPath, loaded definitions
    for r in resources:
        validator.validate_resource(r)
    t_parse = best_of(parse, repeat)
    t_val = best_of(lambda: [validator.validate_resource(r) for r in resources], repeat)
    return {
        "name": name,
        "n": len(resources),
        "val_rps": len(resources) / t_val,
        "parse_rps": len(resources) / t_parse,
        "ratio": t_val / t_parse,
    }


def cold_process(dist: Path) -> float:
    env = dict(os.environ, FHIR_PACKAGE_CACHE=str(CACHE))
    exe = Path(sys.executable).with_name("evidence-publisher")
    cmd = [str(exe), "validate", str(dist / "resources"), "--format", "json"]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = ap.parse_args()
    os.environ["FHIR_PACKAGE_CACHE"] = str(CACHE)

    from evidence_publisher.cli import main as cli_main
    from evidence_publisher.jsonio import load_file
    from evidence_publisher.packages import R5_EXAMPLES, PackageCache
    from evidence_publisher.validate import Validator

    cache = PackageCache(CACHE)
    validator = Validator(cache.definitions())
    (examples,) = [p.path for p in cache.ensure([R5_EXAMPLES]) if p.spec == R5_EXAMPLES]
    target = [load_file(f) for t in TARGET_TYPES for f in sorted(examples.glob(f"{t}-*.json"))]
    small = [
        load_file(f)
        for f in sorted(examples.glob("*.json"))
        if f.name != "package.json" and f.stat().st_size < 100_000
    ]
    small = [r for r in small if isinstance(r, dict) and "resourceType" in r and _parses(r)]
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        corpus = str(ROOT / "mappings" / "lupus-msc")
        assert cli_main(["build", corpus, "--out", str(dist), "--no-validate"]) == 0
        seed = [load_file(f) for f in sorted((dist / "resources").glob("*.json"))]
        rows = [
            measure("R5 examples, 8 target types", target, validator, args.repeat),
            measure("seed corpus (dist/resources)", seed, validator, args.repeat),
            measure("R5 examples, all types < 100 KB", small, validator, max(1, args.repeat // 2)),
        ]
        cold = cold_process(dist)

    lines = [
        "## Validation",
        "",
        f"`bench/bench_validate.py` (best of {args.repeat}; Python {platform.python_version()}, "
        f"{os.cpu_count()} cores). Full validation = structure, cardinality, types, primitives, "
        "bindings, every invariant, references, extensions and EBM rules. fhir.resources = "
        "`Model.model_validate(dict)` of the same dicts, in the same process.",
        "",
        "| corpus | resources | full validation (res/s) | fhir.resources parse (res/s) "
        "| validation / parse time |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['n']} | {r['val_rps']:,.0f} | {r['parse_rps']:,.0f} | {r['ratio']:.2f}x |"
        )
    lines += [
        "",
        f"Cold process, `evidence-publisher validate dist/resources` on the seed corpus "
        f"({len(seed)} resources, packages already cached): **{cold:.2f} s** (best of 3).",
        "",
        "Targets: validation <= 3x the fhir.resources parse; seed corpus from a cold process < 3 s.",
        "",
        "- Met for the 8 target types and for the seed corpus, and the cold-process target.",
        "- **Not met for the whole examples package.** About 95% of that row's time is "
        "StructureDefinition examples (sdf-24 and sdf-25 take about 0.26 s per evaluation in "
        "fhirpathpy) and Questionnaire examples (que-* on every item); these resource types are "
        "outside the publisher's scope and have no native fast path.",
        "- Speed comes from compiling each StructureDefinition and FHIRPath expression once, "
        "evaluating invariants only where their context element exists, native ele-1, ext-1 "
        "and dom-2..6, and native existence-logic shortcuts (qty-3, ref-2, cod-1 ...). All native "
        "answers are checked against fhirpathpy by tests/validate/test_validate_native_differential.py.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = ROOT / "docs" / "BENCHMARKS.md"
        body = doc.read_text()
        start = "<!-- section: validate (owned by bench/bench_validate.py) -->"
        end = "<!-- end section: validate -->"
        body = re.sub(
            re.escape(start) + ".*?" + re.escape(end),
            lambda _m: f"{start}\n{text}\n{end}",
            body,
            flags=re.S,
        )
        doc.write_text(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
