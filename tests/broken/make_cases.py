"""Regenerate tests/broken/cases from base.yaml.txt and a list of single faults.

Each case file starts with '# expect: <issue>' lines: the exact messages the loader must give.
Run from the repository root: python tests/broken/make_cases.py (then review the diff).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from evidence_publisher.sources import MappingError, load_corpus

HERE = Path("tests/broken")
BASE = (HERE / "base.yaml.txt").read_text()
DERIVED = """  - id: sledai-change
    outcome: sledai
    timepoint: {label: 12 months, value: 12, unit: mo}
    statistic: mean-change
    value: -9.0
    participants: 12
    description: Change.
    quote: "SLEDAI scores decreased from 12.2 +/- 3.3 to 3.2 +/- 2.8 and proteinuria decreased from 2505.0 +/- 1323.9 to 858.0 +/- 800.7 mg/24 h (all p < 0.05, by paired t test, n = 12)."
    derived:
      formula: after - before
      inputs: {after: sledai-12m, before: sledai-baseline}
"""
B2 = BASE.replace("certainty:\n", DERIVED + "certainty:\n")
RELAPSE = """    timepoint: {label: 1 year, value: 1, unit: a}
    statistic: count
    value: 2
    participants: 13
    counts: {affected: 2, denominator: 13}
    description: Relapses.
    quote: "At 1-year follow-up in 13 patients, 2 had a relapse of proteinuria"
"""

CASES: dict[str, tuple[str, str, str]] = {
    "unknown-top-level-key": ("label: Case\n", "label: Case\ncolour: red\n", BASE),
    "unknown-key-typo": ("    participants: 13\n", "    participant: 13\n", BASE),
    "missing-required-field": ("label: Case\n", "", BASE),
    "wrong-type-participants": ("    participants: 13\n", "    participants: thirteen\n", BASE),
    "wrong-type-value-list": ("    value: 3.2\n", "    value: [3.2]\n", BASE),
    "unknown-kind": ("kind: publication\n", "kind: paper\n", BASE),
    "statistic-not-allowed": ("    statistic: count\n", "    statistic: tally\n", BASE),
    "proportion-above-one": (
        "    statistic: count\n    value: 2\n",
        "    statistic: proportion\n    value: 1.5\n",
        BASE,
    ),
    "proportion-above-100-percent": (
        "    statistic: count\n    value: 2\n",
        '    statistic: proportion\n    value: 160.5\n    unit: "%"\n',
        BASE,
    ),
    "more-events-than-denominator": (
        "counts: {affected: 2, denominator: 13}",
        "counts: {affected: 14, denominator: 13}",
        BASE,
    ),
    "more-events-than-participants": (
        "    participants: 13\n    counts: {affected: 2, denominator: 13}",
        "    participants: 1\n    counts: {affected: 2}",
        BASE,
    ),
    "negative-sd": (
        "    participants: 12\n    p_value",
        "    participants: 12\n    dispersion: {kind: sd, value: -2.8}\n    p_value",
        BASE,
    ),
    "p-value-above-one": ("value: 0.05, compared_with", "value: 1.5, compared_with", BASE),
    "timepoint-without-unit": (
        "{label: 12 months, value: 12, unit: mo}",
        "{label: 12 months, value: 12}",
        BASE,
    ),
    "ci-without-level": (
        "    participants: 12\n    p_value",
        "    participants: 12\n    dispersion: {kind: ci, low: 1.0, high: 5.0}\n    p_value",
        BASE,
    ),
    "range-low-above-high": (
        "    participants: 12\n    p_value",
        "    participants: 12\n    dispersion: {kind: range, low: 5, high: 1}\n    p_value",
        BASE,
    ),
    "zero-participants": ("    participants: 13\n", "    participants: 0\n", BASE),
    "duplicate-result-id": ("  - id: relapse-1y\n", "  - id: sledai-12m\n", BASE),
    "duplicate-outcome-id": ("  - id: relapse\n    name", "  - id: sledai\n    name", BASE),
    "dangling-outcome": ("    outcome: relapse\n", "    outcome: relapses\n", BASE),
    "dangling-certainty-result": ("results: [sledai-12m]", "results: [sledai-24m]", BASE),
    "dangling-source": ("source: liang-2010-record\n", "source: liang-2011-record\n", BASE),
    "dangling-relation-target": (
        '  volume: "69"\n',
        '  volume: "69"\n  relations:\n    - {type: reports-on, target: gu-2099}\n',
        BASE,
    ),
    "quote-not-in-source": (
        '"A total of 15 patients with persistently active SLE underwent MSCT."',
        '"A total of 16 patients with persistently active SLE underwent MSCT."',
        BASE,
    ),
    "number-not-in-quote": ("    value: 3.2\n", "    value: 3.4\n", BASE),
    "count-not-in-quote": ("    count: 15\n", "    count: 150\n", BASE),
    "citation-value-not-in-quotes": ('  volume: "69"\n', '  volume: "70"\n', BASE),
    "derived-value-mismatch": ("    value: -9.0\n", "    value: -8.0\n", B2),
    "derived-unknown-input": ("before: sledai-baseline}", "before: sledai-base}", B2),
    "derived-formula-not-arithmetic": ("formula: after - before", "formula: after ** before", B2),
    "yaml-syntax-error": ("    description: Relapses.\n", "    description: Relapses: all of them.\n", BASE),
    "duplicate-yaml-key": ("    participants: 13\n", "    participants: 13\n    participants: 14\n", BASE),
    "bad-date": ('date: "2026-11-22"\n', 'date: "22/11/2026"\n', BASE),
    "bad-id": ("id: case\n", "id: Case_1\n", BASE),
    "enrolment-ends-before-start": (
        "  population:\n",
        '  enrolment: {start: "2008-11-04", end: "2007-03-11", quote: "From 11 March 2007 to 4 November 2008"}\n  population:\n',
        BASE,
    ),
    "journal-article-without-journal": ("  journal: {title: Annals of the Rheumatic Diseases}\n", "", BASE),
    "neither-citation-nor-reported-in": ("citation:\n  style", "cited:\n  style", BASE),
    "count-from-percentage-not-pinned": (
        RELAPSE,
        """    timepoint: {label: by the 12-month visit, value: 12, unit: mo, cumulative: true}
    statistic: proportion
    value: 60.5
    unit: "%"
    participants: 81
    counts: {affected: 48, denominator: 81, derived: from-percentage}
    description: Remission.
    source: blog-gu-2014
    quote:
      - "They then infused the stem cells in 81 patients with lupus nephritis and followed them for 12 months."
      - "Amazingly, 60.5% of patients enjoyed remission of their kidney disease by the 12-month visit."
""",
        BASE,
    ),
    "wrong-type-boolean-value": ("    value: 3.2\n", "    value: yes\n", BASE),
    "wrong-type-number-for-text": ('  volume: "69"\n', "  volume: 69\n", BASE),
    "octal-looking-number": ("    participants: 13\n", "    participants: 013\n", BASE),
    "number-with-other-digits": ("    value: 3.2\n", "    value: 3.20\n", BASE),
    "impossible-date": ('date: "2026-11-22"\n', "date: 2026-13-45\n", BASE),
    "impossible-day": ('date: "2026-11-22"\n', 'date: "2026-02-29"\n', BASE),
    "control-character-escape": ("    description: Relapses.\n", '    description: "Relapses.\\0"\n', BASE),
    "skeleton-placeholder-left": (
        "    description: Relapses.\n",
        "    description: TODO describe the result\n",
        BASE,
    ),
}


def main() -> int:
    out = HERE / "cases"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for name, (old, new, text) in CASES.items():
        if old not in text:
            print(f"{name}: pattern not in base", file=sys.stderr)
            return 1
        body = text.replace(old, new, 1)
        path = out / f"{name}.yaml"
        path.write_text("# expect: (computed)\n" + body)
        try:
            load_corpus([HERE / "corpus.yaml", path])
        except MappingError as exc:
            header = "".join(f"# expect: {d}\n" for d in exc.details)
            lines = len(exc.details)
            # keep line numbers stable: the header had one line; re-run with the final header
            path.write_text(header + body)
            exc2 = None
            try:
                load_corpus([HERE / "corpus.yaml", path])
            except MappingError as e2:
                exc2 = e2
            assert exc2 is not None
            path.write_text("".join(f"# expect: {d}\n" for d in exc2.details) + body)
            if len(exc2.details) != lines:
                print(f"{name}: unstable", file=sys.stderr)
        else:
            print(f"{name}: NOT detected", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
