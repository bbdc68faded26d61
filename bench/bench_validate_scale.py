"""``evidence-publisher validate DIST`` on large build outputs: speed, memory, and a parse baseline.

    .venv/bin/python bench/bench_validate_scale.py [--sizes 8000,80000] [--jobs 2] [--write]

Builds the seed corpus (mappings/lupus-msc) once, then writes build outputs of about N resources
by cloning its resources: copy k renames every id to ``<id>-k<k>`` (shortened with a hash when it
would pass 64 characters) and rewrites every ``Type/id`` in references, canonical URLs and
identifiers the same way, so each copy is as valid as the seed and its references resolve inside
the copy. Each output has resources/ and a build report (not the Bundles and NDJSON, which
``validate DIST`` does not read).

For each size, in one run, each in its own process, measured with ``wait4`` (wall time, CPU time
of the process and its workers, peak RSS of the largest of them):
  * ``evidence-publisher validate DIST`` (the default ``--jobs``, and ``--jobs 1``);
  * the baseline: ``json.loads`` + fhir.resources ``model_validate`` of every file of DIST/resources,
    in one process.
``--write`` replaces the validate-scale section of docs/BENCHMARKS.md with the results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
SEED = ROOT / "mappings" / "lupus-msc"
CLI = [str(Path(sys.executable).parent / "evidence-publisher")]
ID_MAX = 64

BASELINE = """
import json, sys
from pathlib import Path
from fhir.resources import get_fhir_model_class
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    data = json.loads(path.read_bytes())
    get_fhir_model_class(data["resourceType"]).model_validate(data)
"""


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    stderr: str


def measure(command: list[str]) -> Run:
    """One process (and the workers it forks): wall and CPU seconds, the largest peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, stderr)


# ---------------------------------------------------------------------------------- the corpus
def build_seed(tmp: Path) -> list[dict]:
    out = tmp / "seed"
    subprocess.run(
        [*CLI, "build", str(SEED), "--out", str(out), "--no-validate"], check=True, capture_output=True
    )
    return [json.loads(p.read_text()) for p in sorted((out / "resources").glob("*.json"))]


def new_id(old: str, k: int) -> str:
    suffix = f"-k{k}"
    if len(old) + len(suffix) <= ID_MAX:
        return old + suffix
    digest = hashlib.sha1(old.encode()).hexdigest()[:8]
    return f"{old[: ID_MAX - len(suffix) - 9]}-{digest}{suffix}"


def write_clones(seed: list[dict], target: int, dist: Path) -> int:
    """A build output of about ``target`` resources; returns how many were written."""
    types = sorted({r["resourceType"] for r in seed})
    ids = {(r["resourceType"], r["id"]) for r in seed}
    token = re.compile(r"\b(" + "|".join(types) + r")/([A-Za-z0-9\-.]{1,64})(?=[\"|/#])")
    texts = [(r["resourceType"], r["id"], json.dumps(r, ensure_ascii=False, indent=2)) for r in seed]
    resources = dist / "resources"
    resources.mkdir(parents=True)
    report = []
    copies = max(1, round(target / len(seed)))
    for k in range(copies):

        def rename(m: re.Match, k: int = k) -> str:
            return f"{m[1]}/{new_id(m[2], k)}" if (m[1], m[2]) in ids else m[0]

        for rtype, rid, text in texts:
            nid = new_id(rid, k)
            body = token.sub(rename, text).replace(f'"id": "{rid}"', f'"id": "{nid}"', 1)
            (resources / f"{rtype}-{nid}.json").write_text(body, encoding="utf-8")
            report.append({"id": nid, "type": rtype})
    (dist / "build-report.json").write_text(json.dumps({"resources": report}), encoding="utf-8")
    return len(report)


# ---------------------------------------------------------------------------------- the runs
def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8000,80000", help="resources per build output (about)")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--single-max", type=int, default=10000, help="--jobs 1 runs only up to this size")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--from-log", type=Path, help="render the lines an earlier run printed, measure nothing")
    args = ap.parse_args()
    if args.from_log:
        logged, logged_loads = read_log(args.from_log)
        return write(render(logged, logged_loads, args.jobs, load_note=False), args.write)

    rows = []
    loads: dict[int, tuple[float, float, float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="ep-bench-vscale-"))
    try:
        seed = build_seed(tmp)
        for size in (int(s) for s in args.sizes.split(",")):
            dist = tmp / f"dist-{size}"
            count = write_clones(seed, size, dist)
            load = os.getloadavg()
            print(f"{count:>7} load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
            loads[count] = load
            runs = {"jobs": measure([*CLI, "validate", str(dist), "--jobs", str(args.jobs)])}
            if count <= args.single_max:
                runs["one"] = measure([*CLI, "validate", str(dist), "--jobs", "1"])
            runs["base"] = measure([sys.executable, "-c", BASELINE, str(dist / "resources")])
            for name, run in runs.items():
                ok = run.returncode == 0
                print(
                    f"{count:>7} {name:>4}: {run.wall:7.1f} s wall, {run.cpu:7.1f} s CPU, "
                    f"{run.peak_mb:6.0f} MB, exit {run.returncode}",
                    flush=True,
                )
                if not ok:
                    print(run.stderr[-2000:], file=sys.stderr)
            rows.append((count, runs))
            shutil.rmtree(dist)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    return write(render(rows, loads, args.jobs), args.write)


LOG_LINE = re.compile(r"\s*(\d+) +(\w+): +([\d.]+) s wall, +([\d.]+) s CPU, +(\d+) MB, exit (-?\d+)")
LOAD_LINE = re.compile(r"\s*(\d+) load: ([\d.]+) ([\d.]+) ([\d.]+)")


def read_log(path: Path) -> tuple[list[tuple[int, dict[str, Run]]], dict[int, tuple[float, float, float]]]:
    rows: dict[int, dict[str, Run]] = {}
    loads: dict[int, tuple[float, float, float]] = {}
    for line in path.read_text().splitlines():
        m = LOG_LINE.fullmatch(line)
        if m:
            run = Run(float(m[3]), float(m[4]), float(m[5]), int(m[6]), "")
            rows.setdefault(int(m[1]), {})[m[2]] = run
        m = LOAD_LINE.fullmatch(line)
        if m:
            loads[int(m[1])] = (float(m[2]), float(m[3]), float(m[4]))
    return sorted(rows.items()), loads


def write(section: str, to_doc: bool) -> int:
    print(section)
    if to_doc:
        doc = DOC.read_text()
        pattern = re.compile(
            r"<!-- section: validate-scale .*?<!-- end section: validate-scale -->", re.DOTALL
        )
        doc = (
            pattern.sub(lambda _m: section, doc)
            if pattern.search(doc)
            else doc.rstrip("\n") + "\n\n" + section + "\n"
        )
        DOC.write_text(doc)
    return 0


def render(
    rows: list[tuple[int, dict[str, Run]]],
    loads: dict[int, tuple[float, float, float]],
    jobs: int,
    *,
    load_note: bool = True,
) -> str:
    load = os.getloadavg()
    machine = f", load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end" if load_note else ""
    if loads:
        machine += "; at the start of each size " + ", ".join(
            f"{count:,}: {a:.1f} / {b:.1f} / {c:.1f}" for count, (a, b, c) in sorted(loads.items())
        )
    lines = [
        "<!-- section: validate-scale (owned by bench/bench_validate_scale.py) -->",
        "## Validating large build outputs",
        "",
        f"`bench/bench_validate_scale.py` (one run; Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores{machine}; the machine was shared with other jobs, see the CPU columns). "
        "Build outputs made by cloning the seed corpus' resources with renamed ids and references; each "
        f"command in its own process. validate = `evidence-publisher validate DIST --jobs {jobs}` (and "
        "`--jobs 1`), end to end (definitions loaded, every resource read and validated once, summary "
        "printed). baseline = `json.loads` + fhir.resources `model_validate` of the same files in one "
        "process. res/s = resources / wall seconds; CPU = user + system seconds of the process and its "
        "workers; peak RSS = the largest of those processes.",
        "",
        "| resources | validate res/s | wall s | CPU s | CPU ms/resource | peak RSS | `--jobs 1` res/s "
        "| `--jobs 1` peak RSS | baseline res/s | baseline CPU ms/resource | baseline peak RSS "
        "| validate / baseline wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for count, runs in rows:
        v, b, one = runs["jobs"], runs["base"], runs.get("one")
        lines.append(
            f"| {count:,} | {count / v.wall:,.0f} | {v.wall:.1f} | {v.cpu:.1f} | {1000 * v.cpu / count:.2f} "
            f"| {v.peak_mb:.0f} MB | {f'{count / one.wall:,.0f}' if one else '-'} "
            f"| {f'{one.peak_mb:.0f} MB' if one else '-'} | {count / b.wall:,.0f} "
            f"| {1000 * b.cpu / count:.2f} | {b.peak_mb:.0f} MB | {v.wall / b.wall:.2f}x |"
        )
    lines += ["", *verdicts(rows, jobs), "<!-- end section: validate-scale -->"]
    return "\n".join(lines)


def verdicts(rows: list[tuple[int, dict[str, Run]]], jobs: int) -> list[str]:
    """Plain statements of the targets: >= 2,000 res/s on 2 cores, memory flat in the corpus size."""
    best = max(rows, key=lambda r: r[0] / r[1]["jobs"].wall)
    cpu_bound = [(count, count / (runs["jobs"].cpu / jobs)) for count, runs in rows]
    (small, s_runs), (large, l_runs) = rows[0], rows[-1]
    growth = l_runs["jobs"].peak_mb - s_runs["jobs"].peak_mb
    per_resource_kb = 1024 * growth / max(1, large - small)
    speed_met = all(count / runs["jobs"].wall >= 2000 for count, runs in rows)
    free_met = all(rate >= 2000 for _count, rate in cpu_bound)
    return [
        f"- >= 2,000 resources/s on {jobs} cores (wall clock): **{'met' if speed_met else 'not met'}** "
        f"in this run (best {best[0] / best[1]['jobs'].wall:,.0f} res/s at {best[0]:,} resources). "
        f"On {jobs} free cores (by CPU time): **{'met' if free_met else 'not met'}**: "
        + ", ".join(f"{rate:,.0f} res/s at {count:,}" for count, rate in cpu_bound)
        + f" (resources / (CPU s / {jobs}), which assumes the {jobs} workers are kept busy). Before "
        "the changes listed next: 1.11-1.26 CPU ms/resource in the previous run of this bench; run "
        "side by side with them (both at once, 80,030 resources, `--jobs 2`): 0.98 before, 0.85 "
        "after.",
        "- How: `validate DIST` reads DIST/resources only (not the Bundles and NDJSON that repeat them), "
        "one resource at a time; a first pass (the C JSON parser) notes where each Type/id is and what "
        "references to it need; worker processes forked after the definitions are loaded (held once, "
        "shared, out of the workers' garbage collections, one file of each type validated first) "
        "validate chunks of files, and their results are taken back in order. Per resource: each file "
        "read by its size; the C parser first (simplejson only for what it refuses); ref-1 and "
        "`name.matches()` invariants decided from the JSON string; verdicts of string-only "
        "invariants and of plain strings found clean for an element kept for the same text again.",
        f"- Memory flat in the corpus size: **{'met' if per_resource_kb < 0.1 else 'not met'}** strictly: "
        f"peak RSS {s_runs['jobs'].peak_mb:.0f} MB at {small:,} resources and "
        f"{l_runs['jobs'].peak_mb:.0f} MB at {large:,}, {per_resource_kb:.2f} KB per extra resource. Past "
        "5,000 files the list of files and the references index (where each Type/id is, with its "
        "outline) are kept in a temporary SQLite file, deleted at the end; what is held is the "
        "definitions, SQLite's page cache (at most 4 MB a process) and the results in flight. "
        "Before: 73 MB at 3,020 resources and 119 MB at 80,030 (0.61 KB per extra resource, the "
        "index and the file list in memory); issue 13: 3.5 GB at 33,088 resources, each validated "
        "four times.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
