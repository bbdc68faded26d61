"""Digests of the validator's OperationOutcomes on a fixed corpus, to pin its behaviour.

    .venv/bin/python -m tests.validate.snapshot_outcomes [--write] [--out FILE]   (from the repo root)

The corpus: every official R5 example (one OperationOutcome per file, a Bundle with its
entries), every mutation ``mutations.generate`` makes of the examples of the 8 target types (one
digest per example, over its mutations' outcomes in order), and the seed corpus built from
``mappings/lupus-msc`` (each ``resources/*.json`` validated together, as ``validate dist/resources``
does, and each Bundle file). A digest is the first 16 hex digits of the SHA-256 of the outcome's
JSON text (keys in the order the validator writes them), so a change to any issue's severity,
code, expression, message, rule or order changes it. Object addresses (``<... object at
0x7f...>``, which fhirpathpy's error messages quote and a ``processing`` warning repeats) differ
from run to run and are blanked first.

``--write`` records the digests in ``golden/outcome-digests.json``;
``test_validate_outcome_golden.py`` recomputes them and requires an exact match, so any change
in what the validator reports must re-record the golden on purpose (and say why in the commit).
The digests hold for the package set recorded next to them; the test skips on another set.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden" / "outcome-digests.json"
CORPORA = ("examples", "mutations", "seed")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def digest(outcomes: Iterable[dict]) -> str:
    h = hashlib.sha256()
    for outcome in outcomes:
        text = json.dumps(outcome, ensure_ascii=False, separators=(",", ":"), default=str)
        h.update(_ADDRESS.sub(" at 0x?", text).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def package_set(definitions: Any) -> list[str]:
    return [f"{p.name}#{p.version}" for p in definitions.packages]


def example_digests(validator: Any, examples_dir: Path) -> dict[str, str]:
    from evidence_publisher.jsonio import load_file

    out: dict[str, str] = {}
    for f in sorted(examples_dir.glob("*.json")):
        if f.name == "package.json" or f.name.startswith("."):
            continue
        res = load_file(f)
        if isinstance(res, dict):
            out[f.name] = digest([validator.validate_resource(res)])
    return out


def mutation_digests(validator: Any, examples_dir: Path) -> dict[str, str]:
    from evidence_publisher.jsonio import load_file

    from .conftest import example_files
    from .mutations import generate

    out: dict[str, str] = {}
    for f in example_files(examples_dir):
        muts = generate(f.name, load_file(f), validator.registry, validator.terminology)
        out[f.name] = digest(validator.validate_resource(m.resource) for m in muts)
    return out


def seed_digests(validator: Any, dist: Path) -> dict[str, str]:
    from evidence_publisher.jsonio import load_file

    files = sorted((dist / "resources").glob("*.json"))
    report = validator.validate_files(files)
    out = {
        f"resources/{Path(src).name}": digest([o])
        for (_r, o), src in zip(report.outcomes, report.sources, strict=True)
    }
    for path in sorted(dist.glob("bundle-*.json")):
        out[path.name] = digest(o for _r, o in validator.validate([load_file(path)]).outcomes)
    return out


def build_seed(out: Path) -> Path:
    from evidence_publisher.cli import main

    dist = out / "dist"
    with contextlib.redirect_stdout(sys.stderr):  # the build summary is not part of the output
        code = main(["build", str(REPO / "mappings" / "lupus-msc"), "--out", str(dist), "--no-validate"])
    if code != 0:
        raise RuntimeError(f"building the seed corpus failed with exit code {code}")
    return dist


def snapshot(validator: Any, definitions: Any, examples_dir: Path, seed_dist: Path) -> dict[str, Any]:
    return {
        "packages": package_set(definitions),
        "examples": example_digests(validator, examples_dir),
        "mutations": mutation_digests(validator, examples_dir),
        "seed": seed_digests(validator, seed_dist),
    }


def differences(want: dict[str, str], got: dict[str, str]) -> list[str]:
    """Readable differences between two digest tables (changed, missing and new names)."""
    lines = [f"changed: {k}" for k in sorted(want.keys() & got.keys()) if want[k] != got[k]]
    lines += [f"no longer produced: {k}" for k in sorted(want.keys() - got.keys())]
    lines += [f"new: {k}" for k in sorted(got.keys() - want.keys())]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--write", action="store_true", help=f"record the digests in {GOLDEN}")
    ap.add_argument("--out", type=Path, help="write the digests to this file instead")
    args = ap.parse_args()
    cache_dir = REPO / ".fhir-cache"
    os.environ["FHIR_PACKAGE_CACHE"] = str(cache_dir)

    from evidence_publisher.packages import R5_EXAMPLES, PackageCache
    from evidence_publisher.validate import Validator

    cache = PackageCache(cache_dir)
    definitions = cache.definitions()
    (examples,) = [p.path for p in cache.ensure([R5_EXAMPLES]) if p.spec == R5_EXAMPLES]
    with tempfile.TemporaryDirectory() as tmp:
        snap = snapshot(Validator(definitions), definitions, examples, build_seed(Path(tmp)))
    text = json.dumps(snap, indent=1, sort_keys=True) + "\n"
    target = args.out or (GOLDEN if args.write else None)
    if target is None:
        sys.stdout.write(text)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    sys.stderr.write(f"wrote {target} ({sum(len(snap[c]) for c in CORPORA)} digests)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
