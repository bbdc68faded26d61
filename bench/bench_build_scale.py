"""Build cost at scale: generated corpora of N studies, side by side with a bare parse of the output.

    nice .venv/bin/python bench/bench_build_scale.py [--sizes 1000] [--quick 10000] [--write]

For each size, in one run (each step a separate process, its peak RSS read with ``os.wait4``):
  * the corpus is generated (bench/generate_corpus.py);
  * ``build --no-validate --no-cache`` and ``build --no-cache`` (full validation), clean;
  * ``build`` with an empty cache (fills it), then the incremental rebuild after one mapping file
    is changed (the cache warm), into a new ``--out``, and after the same file is changed again,
    over the previous output (which is checked, replaced and deleted); each change is new to the
    cache;
  * the baseline: ``json.loads`` + fhir.resources ``model_validate`` of every file in the
    ``resources/`` folder of that build's output;
  * the cost per resource of each (wall and CPU), and whether the output of the cached builds is
    byte-identical to the clean one.
``--quick`` sizes leave out ``build --no-validate`` and the clean builds made only for comparing:
their clean build is of the corpus as last changed, and is compared with the rebuild over the
previous output (a 10,000-study corpus makes about 7 GB of output per build).
``--write`` replaces the table of the build-scale section of docs/BENCHMARKS.md (the text after
it, which says which targets are met, is kept: update it by hand).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import platform
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
CLI = [str(Path(sys.executable).with_name("evidence-publisher"))]
BASELINE = """
import json, sys
from pathlib import Path
from fhir.resources import get_fhir_model_class
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    doc = json.loads(path.read_bytes())
    get_fhir_model_class(doc["resourceType"]).model_validate(doc)
"""
MB = 1024 * 1024


@dataclass
class Run:
    seconds: float
    peak_mb: float
    cpu: float = 0.0  # user + system seconds of the process and the workers it waited for


def run(cmd: list[str], env: dict[str, str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-3000:]}"
        )
    # ru_maxrss is in KB on Linux, and the largest of the process and the workers it waited for
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def _edit(path: Path, old: str, new: str) -> None:
    """A change of one word in a quote's surroundings: the file's result text changes."""
    path.write_text(path.read_text().replace(old, new))


def measure(size: int, work: Path, quick: bool = False) -> dict:
    corpus, cache = work / f"corpus-{size}", work / f"cache-{size}"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate_corpus.py"), str(size), str(corpus)], check=True
    )
    generated = time.perf_counter() - start
    env = {**os.environ, "EVIDENCE_PUBLISHER_CACHE": str(cache)}
    build = [*CLI, "build", str(corpus)]
    rows = {"generate": Run(generated, 0.0)}
    changed = corpus / "phase1-bm-msc-ln.yaml"
    # two edits of the same file, each new to the cache: a curator's change, then the next one
    first, second = "during the dose escalation.", "during the escalation of the dose."
    over = "rebuild over the previous output, 1 file changed"
    if quick:
        rows["build, cache empty"] = run([*build, "--out", str(work / "warm")], env)
        _edit(changed, "during dose escalation.", first)
        rows["rebuild, 1 file changed"] = run([*build, "--out", str(work / "changed")], env)
        shutil.rmtree(work / "changed", ignore_errors=True)
        _edit(changed, first, second)
        rows[over] = run([*build, "--out", str(work / "warm")], env)
        rows["build"] = run([*build, "--out", str(work / "clean"), "--no-cache"], env)  # the same corpus
        rows["baseline"] = run([sys.executable, "-c", BASELINE, str(work / "clean" / "resources")], env)
        resources = len(list((work / "clean" / "resources").glob("*.json")))
        identical = same_tree(work / "clean", work / "warm")
        for name in ("clean", "warm"):
            shutil.rmtree(work / name, ignore_errors=True)
        shutil.rmtree(corpus)
        shutil.rmtree(cache)
        return {"size": size, "resources": resources, "rows": rows, "identical": identical, "quick": True}
    rows["build --no-validate"] = run([*build, "--out", str(work / "nv"), "--no-validate", "--no-cache"], env)
    rows["build"] = run([*build, "--out", str(work / "clean"), "--no-cache"], env)
    rows["build, cache empty"] = run([*build, "--out", str(work / "cold")], env)
    _edit(changed, "during dose escalation.", first)
    rows["rebuild, 1 file changed"] = run([*build, "--out", str(work / "warm")], env)
    rows["baseline"] = run([sys.executable, "-c", BASELINE, str(work / "clean" / "resources")], env)
    resources = len(list((work / "clean" / "resources").glob("*.json")))
    identical = same_tree(work / "clean", work / "cold")
    run([*build, "--out", str(work / "clean2"), "--no-cache"], env)  # the changed corpus, clean
    identical_warm = same_tree(work / "clean2", work / "warm")
    # what a curator does next: change the file again and build over the previous output
    _edit(changed, first, second)
    rows[over] = run([*build, "--out", str(work / "warm")], env)
    run([*build, "--out", str(work / "clean3"), "--no-cache"], env)
    identical_over = same_tree(work / "clean3", work / "warm")
    for name in ("nv", "clean", "cold", "warm", "clean2", "clean3"):
        shutil.rmtree(work / name, ignore_errors=True)
    shutil.rmtree(corpus)
    shutil.rmtree(cache)
    return {
        "size": size,
        "resources": resources,
        "rows": rows,
        "identical": identical and identical_warm and identical_over,
    }


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f}, {five:.1f}, {fifteen:.1f}"


def section(results: list[dict], not_run: list[int], load: str) -> str:
    full = " ".join(str(r["size"]) for r in results if not r.get("quick"))
    quick = " ".join(str(r["size"]) for r in results if r.get("quick"))
    sizes = (f"--sizes {full}" if full else "") + (f" --quick {quick}" if quick else "")
    lines = [
        "<!-- section: build-scale (owned by bench/bench_build_scale.py) -->",
        "## Build at scale (generated corpora)",
        "",
        f"`nice .venv/bin/python bench/bench_build_scale.py {sizes.strip()}` "
        f"on {os.cpu_count()} cores ({platform.python_implementation()} {platform.python_version()}), "
        "one run each, every step in its own process (peak RSS and CPU seconds from `os.wait4`). "
        f"Load average (1, 5, 15 min) when the run began: {load}, when it ended: {_load()}. Corpora from "
        "`bench/generate_corpus.py` (clones of the four seed studies). The baseline is `json.loads` + "
        "fhir.resources `model_validate` of every file in the build's `resources/`, in one process. "
        "CPU s = user + system seconds of the step's process and the workers it waited for.",
        "",
        "| studies | resources | step | s | ms/resource | x baseline | peak RSS MB | CPU s "
        "| CPU ms/resource | x baseline CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        base = res["rows"]["baseline"]
        for name, r in res["rows"].items():
            per = f"{1000 * r.seconds / res['resources']:.2f}" if name != "generate" else ""
            ratio = f"{r.seconds / base.seconds:.1f}" if name.startswith("build") else ""
            rss = f"{r.peak_mb:.0f}" if r.peak_mb else ""
            where = f"| {res['size']:,} | {res['resources']:,} | {name} "
            cpu = f"{r.cpu:.1f}" if r.cpu else ""
            cpu_per = f"{1000 * r.cpu / res['resources']:.2f}" if r.cpu else ""
            cpu_ratio = f"{r.cpu / base.cpu:.1f}" if r.cpu and name.startswith("build") else ""
            lines.append(
                f"{where}| {r.seconds:.1f} | {per} | {ratio} | {rss} | {cpu} | {cpu_per} | {cpu_ratio} |"
            )
    lines.append("")
    for res in results:
        same = "byte-identical" if res["identical"] else "DIFFERENT"
        if res.get("quick"):
            lines.append(
                f"- {res['size']:,} studies (`--quick`: no `--no-validate` build): the rebuild over the "
                f"previous output vs the clean build: {same}."
            )
            continue
        lines.append(
            f"- {res['size']:,} studies: cached builds' output vs a clean build of the same corpus: {same}."
        )
    if not_run:
        lines.append(f"- Not run: {', '.join(f'{n:,}' for n in not_run)} studies (see the text below).")
    lines.append("<!-- end table: build-scale -->")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000])
    ap.add_argument("--quick", type=int, nargs="*", default=[], help="sizes: fewer steps (see above)")
    ap.add_argument("--not-run", type=int, nargs="*", default=[], help="sizes to name as not run")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    load = _load()
    work = Path(tempfile.mkdtemp(prefix="ep-bench-scale-"))
    try:
        results = [measure(size, work) for size in args.sizes]
        results += [measure(size, work, quick=True) for size in args.quick]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = section(results, args.not_run, load)
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        pattern = re.compile(r"<!-- section: build-scale .*?<!-- end table: build-scale -->", re.DOTALL)
        doc = (
            pattern.sub(lambda _m: text, doc)
            if pattern.search(doc)
            else doc.rstrip("\n") + "\n\n" + text + "\n"
        )
        DOC.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
