"""Differential test: our validator against the HL7 Java reference validator.

The corpus (``hl7_differential.py``): every official R5 example of the eight target types, an
evenly spread sample of 320 other official examples, the whole seed corpus (resources and
Bundles) and 320 generated mutations. Both validators read the same files. The issue asks for
verdict (errors or not) agreement on 98 % of the valid resources and 95 % of the mutated ones;
the floors below are those targets (docs/validation.md explains each disagreement left), and
every disagreement must be one of the deliberate differences listed there
(``hl7_differential.DELIBERATE_OURS`` / ``DELIBERATE_HL7``, each with its reason).

Needs Java 17+ and Maven (the HL7 validator comes from Maven Central, cached in ~/.m2); where
they are missing or Maven Central cannot be reached the module is skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence_publisher.pipeline import build

from . import hl7_differential as hd
from .conftest import REPO
from .hl7_oracle import HL7Oracle, OracleUnavailable

VALID_FLOOR = 0.98
MUTATION_FLOOR = 0.95


@pytest.fixture(scope="module")
def oracle(package_cache):
    from evidence_publisher.packages import R5_EXAMPLES, PackageUnavailableError

    package_cache.ensure()
    try:
        package_cache.ensure([R5_EXAMPLES, hd.XVER_SPEC])  # the HL7 engine loads xver-extensions itself
        running = HL7Oracle.start(package_cache.root, hd.hl7_packages(package_cache))
    except (OracleUnavailable, PackageUnavailableError) as exc:
        pytest.skip(f"HL7 DIFFERENTIAL SKIPPED: {exc}")
    yield running
    running.close()


@pytest.fixture(scope="module")
def results(oracle, validator, definitions, examples_dir: Path, tmp_path_factory) -> list[hd.Result]:
    tmp = tmp_path_factory.mktemp("hl7-diff")
    dist = tmp / "dist"
    build([REPO / "mappings" / "lupus-msc"], out_dir=dist, validate=False)
    cases = hd.example_cases(examples_dir) + hd.seed_cases(dist)
    cases += hd.mutation_cases(validator, examples_dir, tmp / "mutations")
    expansions = hd.ExpansionLookup(definitions)
    return [
        hd.compare(
            case, hd.our_errors(validator, case.path), hd.hl7_errors(oracle.validate(case.path), expansions)
        )
        for case in cases
    ]


def test_our_validator_agrees_with_the_hl7_validator(results):
    """One test, so that a machine without Java or Maven gets one skip line."""
    kinds = {
        k: sum(1 for r in results if r.case.kind == k)
        for k in ("target-example", "other-example", "seed", "mutation")
    }
    assert kinds["target-example"] >= 56, kinds
    assert kinds["other-example"] >= 300, kinds
    assert kinds["seed"] >= 80, kinds
    assert kinds["mutation"] >= 300, kinds

    t = hd.table(results)
    print("\n" + t.markdown())
    # The targets are 98 % and 95 %; these floors are what the validator reaches today
    # (docs/validation.md), so that agreement cannot silently get worse.
    assert t.agreement("valid resources (the three above)") >= VALID_FLOOR, t.markdown()
    assert t.agreement("mutations") >= MUTATION_FLOOR, t.markdown()

    unexplained = []
    for r in results:
        for p in sorted(r.only_ours()):
            rules = [x for x in r.ours_rules[p] if not hd.deliberate("ours", x)]
            if rules:
                unexplained.append(f"[{r.case.kind}] {r.case.name}: only ours {p} {rules}")
        for p in sorted(r.only_hl7()):
            ids = [x for x in r.hl7_ids[p] if not hd.deliberate("hl7", x)]
            if ids:
                unexplained.append(f"[{r.case.kind}] {r.case.name}: only HL7 {p} {ids}")
    assert unexplained == [], f"{len(unexplained)} unexplained:\n" + "\n".join(unexplained[:40])
