"""The validator reports exactly what the golden digests recorded, on every R5 example, every
mutation of the target-type examples and the seed corpus (see ``snapshot_outcomes.py``).

A refactoring must leave every digest unchanged. A deliberate change in what the validator
reports re-records the golden (``python -m tests.validate.snapshot_outcomes --write``) in the
same commit, which then shows which files' outcomes changed.
"""

from __future__ import annotations

import json

import pytest

from .snapshot_outcomes import (
    GOLDEN,
    build_seed,
    differences,
    example_digests,
    mutation_digests,
    package_set,
    seed_digests,
)

RERECORD = "if the change is intended, re-record: python -m tests.validate.snapshot_outcomes --write"


@pytest.fixture(scope="module")
def golden(definitions) -> dict:
    recorded = json.loads(GOLDEN.read_text())
    if recorded["packages"] != package_set(definitions):
        pytest.skip(
            f"the golden digests hold for {recorded['packages']}; this cache has {package_set(definitions)}"
        )
    return recorded


def _assert_same(want: dict[str, str], got: dict[str, str], corpus: str) -> None:
    diff = differences(want, got)
    assert not diff, f"{len(diff)} {corpus} outcomes differ from the golden ({RERECORD}):\n" + "\n".join(
        diff[:40]
    )


def test_outcomes_of_every_r5_example_are_unchanged(validator, examples_dir, golden):
    _assert_same(golden["examples"], example_digests(validator, examples_dir), "R5 example")


def test_outcomes_of_every_mutation_are_unchanged(validator, examples_dir, golden):
    _assert_same(golden["mutations"], mutation_digests(validator, examples_dir), "mutation")


def test_outcomes_of_the_seed_corpus_are_unchanged(validator, golden, tmp_path_factory):
    dist = build_seed(tmp_path_factory.mktemp("seed-golden"))
    _assert_same(golden["seed"], seed_digests(validator, dist), "seed corpus")
