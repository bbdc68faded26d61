"""Our validator against the HL7 Java validator on the differential corpus, with timings.

    .venv/bin/python bench/hl7_differential.py [--all-examples] [--json OUT] [--show N] [--write]

Runs both validators on the same files: every official R5 example of the target types, a
sample of the other official examples (``--all-examples``: every example up to 100 KB), the
seed corpus and the generated mutations. Prints the agreement table and, per side, the rules
behind the errors only that side reports. The CI test (tests/validate/
test_validate_hl7_differential.py) runs the same corpus without ``--all-examples``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.validate import hl7_differential as hd  # noqa: E402
from tests.validate.hl7_oracle import HL7Oracle  # noqa: E402

CACHE = ROOT / ".fhir-cache"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--all-examples", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--show", type=int, default=15)
    ap.add_argument("--write", action="store_true", help="replace the hl7 section of docs/BENCHMARKS.md")
    args = ap.parse_args()

    from evidence_publisher.packages import R5_EXAMPLES, PackageCache
    from evidence_publisher.pipeline import build
    from evidence_publisher.validate import Validator

    cache = PackageCache(CACHE)
    cache.ensure()
    cache.ensure([R5_EXAMPLES, hd.XVER_SPEC])
    examples = CACHE / R5_EXAMPLES.dirname / "package"
    validator = Validator(cache.definitions())
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        build([ROOT / "mappings" / "lupus-msc"], out_dir=dist, validate=False)
        cases = hd.example_cases(examples, every=args.all_examples)
        cases += hd.seed_cases(dist)
        cases += hd.mutation_cases(validator, examples, Path(tmp) / "mutations")
        oracle = HL7Oracle.start(CACHE, hd.hl7_packages(cache))
        print(f"HL7 validator started in {oracle.startup_seconds:.1f} s; {len(cases)} files", file=sys.stderr)
        results = []
        expansions = hd.ExpansionLookup(cache.definitions())
        t_ours = t_hl7 = 0.0
        try:
            for n, case in enumerate(cases):
                t = time.perf_counter()
                ours = hd.our_errors(validator, case.path)
                t_ours += time.perf_counter() - t
                t = time.perf_counter()
                hl7 = hd.hl7_errors(oracle.validate(case.path), expansions)
                t_hl7 += time.perf_counter() - t
                results.append(hd.compare(case, ours, hl7))
                if n % 100 == 99:
                    print(f"  {n + 1} files", file=sys.stderr)
        finally:
            oracle.close()
        cold_file = next(c.path for c in cases if c.kind == "target-example")
        t = time.perf_counter()
        subprocess.run(
            [*HL7Oracle.command(CACHE, hd.hl7_packages(cache)), "--", str(cold_file)],
            capture_output=True,
            check=True,
        )
        cold_hl7 = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv/bin/evidence-publisher"), "validate", str(cold_file)],
            capture_output=True,
            env={**os.environ, "FHIR_PACKAGE_CACHE": str(CACHE)},
            check=False,
        )
        cold_ours = time.perf_counter() - t
    print(hd.table(results).markdown())
    n = len(results)
    speed = "\n".join(
        [
            "## Validation against the HL7 Java validator",
            "",
            "`bench/hl7_differential.py --write`: our validator and the HL7 reference validator "
            "(org.hl7.fhir.validation 6.10.4, OpenJDK 17, driven in one JVM by "
            "tests/hl7-validator) on the same files in one run: the differential corpus of "
            f"{n} files (target-type examples, a sample of other examples, the seed corpus, "
            "mutations; docs/validation.md). Warm = both already loaded, one file after the "
            "other; cold = a new process for one file (packages cached).",
            "",
            "| validator | warm: total (s) | warm: resources/s | start-up (s) | one cold call (s) |",
            "|---|---:|---:|---:|---:|",
            f"| ours (Python) | {t_ours:.1f} | {n / t_ours:.1f} | - | {cold_ours:.1f} |",
            f"| HL7 (Java) | {t_hl7:.1f} | {n / t_hl7:.1f} | {oracle.startup_seconds:.1f} | {cold_hl7:.1f} |",
            "",
            f"Warm, ours is {t_hl7 / t_ours:.1f}x the HL7 validator's speed on these files; the cold "
            f"call ({cold_file.name}) is {cold_hl7 / cold_ours:.0f}x faster, most of the HL7 time "
            "being JVM start-up and loading the packages.",
        ]
    )
    print("\n" + speed)
    if args.write:
        doc = ROOT / "docs" / "BENCHMARKS.md"
        body = doc.read_text()
        start = "<!-- section: hl7 (owned by bench/hl7_differential.py) -->"
        end = "<!-- end section: hl7 -->"
        if start in body:
            body = re.sub(
                re.escape(start) + ".*?" + re.escape(end),
                lambda _m: f"{start}\n{speed}\n{end}",
                body,
                flags=re.S,
            )
        else:
            body = body.rstrip("\n") + f"\n\n{start}\n{speed}\n{end}\n"
        doc.write_text(body)
    counts = hd.disagreement_summary(results)
    for side in ("ours", "hl7"):
        print(f"\nerrors only {side} reports (resources per rule):")
        for (s, rule), k in counts.most_common():
            if s == side:
                print(f"  {k:4d}  {rule}")
    if args.show:
        print("\nverdict disagreements:")
        for r in [r for r in results if not r.agree][: args.show * 4]:
            print(f"- [{r.case.kind}] {r.case.name}")
            for p in sorted(r.only_ours()):
                print(f"    ours: {p} {sorted(r.ours_rules[p])}")
            for p in sorted(r.only_hl7()):
                print(f"    HL7:  {p} {sorted(r.hl7_ids[p])}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "kind": r.case.kind,
                        "name": r.case.name,
                        "mutation": r.case.mutation,
                        "ours": {k: sorted(v) for k, v in r.ours_rules.items()},
                        "hl7": {k: sorted(v) for k, v in r.hl7_ids.items()},
                    }
                    for r in results
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
