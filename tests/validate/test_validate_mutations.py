"""Mutation suite: single faults injected into valid official examples are all detected.

Each fault must produce an error whose FHIRPath ``expression`` is exactly the faulty location and
whose rule id names the right check.
"""

from __future__ import annotations

from collections import Counter

import pytest

from .conftest import errors_of, rule_of
from .mutations import CLASSES, generate

PER_CLASS_CAP = 400
PER_RULE_CAP = 40  # keeps every kind of fault represented within a class


@pytest.fixture(scope="package")
def mutations(validator, target_examples):
    # only examples that are clean themselves, so every error comes from the fault
    per_class: dict[str, list] = {c: [] for c in CLASSES}
    per_rule: Counter = Counter()
    for name, res in target_examples:
        if errors_of(validator.validate_resource(res)):
            continue
        for m in generate(name, res, validator.registry, validator.terminology):
            key = (m.klass, m.rules)
            if len(per_class[m.klass]) < PER_CLASS_CAP and per_rule[key] < PER_RULE_CAP:
                per_rule[key] += 1
                per_class[m.klass].append(m)
    return per_class


def test_at_least_300_mutations_covering_every_class(mutations):
    counts = Counter({k: len(v) for k, v in mutations.items()})
    assert sum(counts.values()) >= 300, counts
    assert all(counts[c] >= 10 for c in CLASSES), counts
    invariants = {m.rules for m in mutations["broken-invariant"]}
    assert {("ext-1",), ("ele-1",), ("dom-3",), ("per-1",), ("txt-1", "txt-2")} <= invariants
    formats = {m.rules[0] for m in mutations["bad-primitive-format"]}
    assert {"dateTime-format", "date-format", "id-format", "uri-format", "code-format"} <= formats


@pytest.mark.parametrize("klass", CLASSES)
def test_every_mutation_is_detected_at_the_right_fhirpath(validator, mutations, klass):
    missed = []
    for m in mutations[klass]:
        outcome = validator.validate_resource(m.resource)
        hits = [
            i for i in errors_of(outcome) if m.expression in i.get("expression", ()) and rule_of(i) in m.rules
        ]
        if not hits:
            got = [(i["expression"], rule_of(i)) for i in errors_of(outcome)]
            missed.append(f"{m.source}: {m.what}: want {m.expression} {m.rules}, got {got[:4]}")
    assert missed == [], f"{len(missed)} of {len(mutations[klass])} missed:\n" + "\n".join(missed[:20])
