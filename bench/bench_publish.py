"""Publish 10,000 generated resources to the HAPI stand-in over loopback: chunked conditional-PUT
transactions (this project) versus the naive one-PUT-per-resource approach, in the same run.

    .venv/bin/python bench/bench_publish.py            # print the results
    .venv/bin/python bench/bench_publish.py --update-doc   # also write docs/BENCHMARKS.md section

The stand-in runs in a child process so that the client's CPU time (``time.process_time`` of
this process) is the client's alone. Each approach gets a fresh, empty stand-in.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import platform
import re
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "publish"))

from generated import generate  # noqa: E402

from evidence_publisher import jsonio  # noqa: E402
from evidence_publisher.bundle.transaction import dependency_order  # noqa: E402
from evidence_publisher.publish import FhirClient, HttpOptions, PublishOptions, publish  # noqa: E402

DOC = ROOT / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- section: publish (owned by bench/bench_publish.py) -->"
END = "<!-- end section: publish -->"


def serve(queue: mp.Queue, stop: Event) -> None:
    from hapi_standin import HapiStandIn
    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stats = {"seconds": 0.0, "requests": 0}
    holder: dict = {}

    def stats_route(_request):
        body = {**stats, "resources": holder["standin"].count()}
        return Response(jsonio.dumps({k: str(v) for k, v in body.items()}), content_type="application/json")

    standin = HapiStandIn(extra_routes={"/_stats": stats_route})
    holder["standin"] = standin

    def timed(request):
        started = time.thread_time()  # this request's thread only
        try:
            return standin.handle(request)
        finally:
            stats["seconds"] += time.thread_time() - started
            stats["requests"] += 1

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(timed)
    server.start()
    queue.put(server.url_for("/fhir"))
    stop.wait()
    server.stop()


class StandInProcess:
    def __enter__(self) -> StandInProcess:
        ctx = mp.get_context("fork")
        self.queue, self.stop = ctx.Queue(), ctx.Event()
        self.proc = ctx.Process(target=serve, args=(self.queue, self.stop), daemon=True)
        self.proc.start()
        self.url = self.queue.get(timeout=30)
        return self

    def stats(self) -> dict:
        root = self.url.rsplit("/fhir", 1)[0]
        raw = requests.get(f"{root}/_stats", timeout=(5, 30)).json()
        return {k: float(v) for k, v in raw.items()}

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(timeout=10)


def run_batched(resources: list[dict], chunk_size: int, preread: bool) -> dict:
    with StandInProcess() as srv:
        client = FhirClient(srv.url, options=HttpOptions(connect_timeout=5, read_timeout=300))
        wall, cpu = time.perf_counter(), time.process_time()
        result = publish(resources, client, PublishOptions(chunk_size=chunk_size, preread=preread))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert result.error is None, result.error
        assert result.counts() == {"created": len(resources)}, result.counts()
        stats = srv.stats()  # before the re-publish, which the stand-in would also count
        again_wall = time.perf_counter()
        again = publish(resources, client, PublishOptions(chunk_size=chunk_size, preread=preread))
        again_wall = time.perf_counter() - again_wall
        assert again.counts() == {"unchanged": len(resources)}, again.counts()
        client.close()
    return {
        "wall": wall,
        "cpu": cpu,
        "requests": result.requests_sent,
        "stored": stats["resources"],
        "server_cpu": stats["seconds"],
        "republish_wall": again_wall,
    }


def run_naive(resources: list[dict]) -> dict:
    """One ``PUT [base]/Type/id`` per resource, referenced resources first, keep-alive Session."""
    with StandInProcess() as srv:
        session = requests.Session()
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        ordered = dependency_order(resources)
        sent = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for res in ordered:
            resp = session.put(
                f"{srv.url}/{res['resourceType']}/{res['id']}",
                data=jsonio.dumps(res, indent=None).encode(),
                headers=headers,
                timeout=(5, 60),
            )
            sent += 1
            if resp.status_code not in (200, 201):
                raise SystemExit(f"naive PUT failed: {resp.status_code} {resp.text[:200]}")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        session.close()
        stats = srv.stats()
    return {
        "wall": wall,
        "cpu": cpu,
        "requests": sent,
        "stored": stats["resources"],
        "server_cpu": stats["seconds"],
    }


def render(n: int, chunk: int, rows: dict[str, dict]) -> str:
    naive = rows["naive"]
    lines = [
        f"Run: `.venv/bin/python bench/bench_publish.py` on {platform.python_implementation()} "
        f"{platform.python_version()}, {n} generated resources (packages of Group, "
        f"EvidenceVariable, Evidence, ArtifactAssessment, Citation), chunk size {chunk}, the "
        "HAPI stand-in in a child process over loopback (threaded werkzeug). Client CPU is this "
        "process's `time.process_time()`; stand-in CPU is the handler threads' `time.thread_time()`.",
        "",
        "| approach | requests | wall (s) | client CPU / resource (ms) | stand-in CPU (s) | "
        "requests vs naive | wall vs naive |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['requests']} | {row['wall']:.2f} | {1000 * row['cpu'] / n:.3f} | "
            f"{row['server_cpu']:.2f} | {naive['requests'] / row['requests']:.0f}x fewer | "
            f"{naive['wall'] / row['wall']:.1f}x faster |"
            if name != "naive"
            else f"| {name} | {row['requests']} | {row['wall']:.2f} | {1000 * row['cpu'] / n:.3f} | "
            f"{row['server_cpu']:.2f} | 1x | 1x |"
        )
    main = rows["transactions (default: pre-read on)"]
    lines += [
        "",
        f"Re-publishing the unchanged corpus (all reported unchanged, no new versions): "
        f"{main['republish_wall']:.2f} s with the pre-read, "
        f"{rows['transactions (--no-preread)']['republish_wall']:.2f} s without.",
        "",
        "Targets (default mode): >= 20x fewer requests: "
        f"{'met' if naive['requests'] / main['requests'] >= 20 else 'MISSED'} "
        f"({naive['requests'] / main['requests']:.0f}x); >= 5x less wall time: "
        f"{'met' if naive['wall'] / main['wall'] >= 5 else 'MISSED'} "
        f"({naive['wall'] / main['wall']:.1f}x); client overhead < 0.5 ms/resource: "
        f"{'met' if 1000 * main['cpu'] / n < 0.5 else 'MISSED'} "
        f"({1000 * main['cpu'] / n:.3f} ms).",
        "",
        "Where the time goes. In the transaction runs a large share of the wall time is the "
        "stand-in's own work (see its CPU column: parsing the Bundle, conditional matching, "
        "comparing content, indexing); the client "
        "spends about 0.1 ms per resource (building Bundles, canonical JSON, reading the "
        "response), so the stand-in does not flatter the client. The naive run pays a full HTTP "
        "round trip per resource (about 1.3-1.6 ms of client CPU per request in `requests` alone). "
        "A real HAPI spends more per resource in both approaches, which narrows the wall-time "
        "ratio (to about 1x on loopback: see the next section); the request ratio is fixed by "
        "the chunk size (plus one pre-read batch per chunk). "
        "Absolute wall times vary by up to about 30% between runs on this 2-core machine (other "
        "test suites may share it); each ratio compares runs from the same invocation. Over "
        "several invocations during development the default mode measured 6x-12x less wall time "
        "than the naive approach.",
    ]
    return "\n".join(lines)


def update_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n## Publishing\n\n" + text + "\n" + doc[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--update-doc", action="store_true")
    args = parser.parse_args()
    resources = generate(args.n)
    rows = {
        "transactions (default: pre-read on)": run_batched(resources, args.chunk_size, True),
        "transactions (--no-preread)": run_batched(resources, args.chunk_size, False),
        "naive": run_naive(resources),
    }
    for name, row in rows.items():
        assert row["stored"] == args.n, (name, row["stored"])
    text = render(args.n, args.chunk_size, rows)
    print(text)
    if args.update_doc:
        update_doc(text)


if __name__ == "__main__":
    main()
