"""Publish generated resources to a real HAPI FHIR R5 JPA server (tests/hapi-server): chunked
conditional-PUT transactions (this project's default, and --no-preread) versus the naive
one-PUT-per-resource approach, side by side in one run on one server.

    .venv/bin/python bench/bench_publish_hapi.py                 # build + start the server, print
    .venv/bin/python bench/bench_publish_hapi.py --update-doc    # also write docs/BENCHMARKS.md
    FHIR_BASE_URL=http://127.0.0.1:8080/fhir .venv/bin/python bench/bench_publish_hapi.py

Each approach gets a fresh, empty server (unless FHIR_BASE_URL names one; then every approach
writes its own canonical namespace, and the naive run uses client ids), warmed up first by a
500-resource publish that is not counted, so that no approach pays for the JVM's warm-up or for
a database that others have filled.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "publish"))
sys.path.insert(0, str(ROOT / "tests" / "real_hapi"))

from generated import generate  # noqa: E402
from server import ServerUnavailable, build, start  # noqa: E402

from evidence_publisher import jsonio  # noqa: E402
from evidence_publisher.bundle.transaction import dependency_order  # noqa: E402
from evidence_publisher.publish import FhirClient, HttpOptions, PublishOptions, publish  # noqa: E402

DOC = ROOT / "docs" / "BENCHMARKS.md"
BEGIN = "<!-- section: publish-hapi (owned by bench/bench_publish_hapi.py) -->"
END = "<!-- end section: publish-hapi -->"


def corpus(n: int) -> list[dict]:
    return generate(n, f"https://b-{uuid.uuid4().hex[:10]}.bench.example.org/fhir")


class JvmCpu:
    """CPU seconds used by the server process (Linux /proc), when we started it."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float | None:
        if self.pid is None:
            return None
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime


def run_batched(url: str, cpu: JvmCpu, resources: list[dict], chunk: int, preread: bool) -> dict:
    options = PublishOptions(chunk_size=chunk, preread=preread)
    with FhirClient(url, options=HttpOptions(connect_timeout=5, read_timeout=600)) as client:
        before = cpu.seconds()
        wall = time.perf_counter()
        result = publish(resources, client, options)
        wall = time.perf_counter() - wall
        server_cpu = None if before is None or (after := cpu.seconds()) is None else after - before
        assert result.error is None, result.error
        assert result.counts() == {"created": len(resources)}, result.counts()
        again_wall = time.perf_counter()
        again = publish(resources, client, options)
        again_wall = time.perf_counter() - again_wall
        assert again.counts() == {"unchanged": len(resources)}, again.counts()
    return {
        "wall": wall,
        "requests": result.requests_sent,
        "server_cpu": server_cpu,
        "republish_wall": again_wall,
        "republish_requests": again.requests_sent,
    }


def run_naive(url: str, cpu: JvmCpu, resources: list[dict]) -> dict:
    """One ``PUT [base]/Type/id`` per resource (client ids), referenced resources first."""
    session = requests.Session()
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    before = cpu.seconds()
    wall = time.perf_counter()
    for res in dependency_order(resources):
        resp = session.put(
            f"{url}/{res['resourceType']}/{res['id']}",
            data=jsonio.dumps(res, indent=None).encode(),
            headers=headers,
            timeout=(5, 120),
        )
        if resp.status_code != 201:
            raise SystemExit(f"naive PUT failed: {resp.status_code} {resp.text[:300]}")
    wall = time.perf_counter() - wall
    session.close()
    return {
        "wall": wall,
        "requests": len(resources),
        "server_cpu": None if before is None or (after := cpu.seconds()) is None else after - before,
    }


def render(n: int, chunk: int, rows: dict[str, dict], server_note: str) -> str:
    naive = rows["naive: one PUT per resource"]
    lines = [
        f"Run: `.venv/bin/python bench/bench_publish_hapi.py` on {platform.python_implementation()} "
        f"{platform.python_version()}: {n} generated resources per approach (packages of Group, "
        f"EvidenceVariable, Evidence, ArtifactAssessment, Citation), chunk size {chunk}, "
        f"{server_note}. Server CPU is the JVM's user+system time during the publish.",
        "",
        "| approach | requests | wall (s) | resources / s | server CPU (s) | requests vs naive | "
        "speed vs naive |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        cpu = "" if row["server_cpu"] is None else f"{row['server_cpu']:.1f}"
        fewer = "-" if row is naive else f"{naive['requests'] / row['requests']:.0f}x fewer"
        speed = "-" if row is naive else f"{naive['wall'] / row['wall']:.2f}x"
        lines.append(
            f"| {name} | {row['requests']} | {row['wall']:.1f} | {n / row['wall']:.0f} | {cpu} | "
            f"{fewer} | {speed} |"
        )
    main = rows["transactions (default: pre-read on)"]
    fewer, faster = naive["requests"] / main["requests"], naive["wall"] / main["wall"]
    lines += [
        "",
        f"Re-publishing the unchanged corpus (every resource reported unchanged, no new version): "
        f"{main['republish_wall']:.1f} s ({n / main['republish_wall']:.0f} resources/s, "
        f"{main['republish_requests']} requests) with the pre-read, "
        f"{rows['transactions (--no-preread)']['republish_wall']:.1f} s without.",
        "",
        "The publishing targets, against this real HAPI over loopback (default mode): >= 20x fewer "
        f"requests: {'met' if fewer >= 20 else 'MISSED'} ({fewer:.0f}x); >= 5x less wall time: "
        f"{'met' if faster >= 5 else 'MISSED'} ({faster:.2f}x).",
        "",
        "Where the time goes. Against a real HAPI the server's own work per resource dominates: "
        "each conditional URL is a database search before the write, and the pre-read adds one "
        "more search per resource (compare the server CPU of the two transaction rows). A PUT by "
        "client id needs no search, and over loopback a request costs almost nothing, so on this "
        "machine the naive approach is not slower. What the transactions buy is atomic chunks, "
        "idempotent keys without client ids, and far fewer requests, each of which costs a network "
        "round trip on a real network (not measured here). The stand-in benchmark above measures "
        "the client's own overhead; this one measures HAPI. Wall times on this shared 2-core "
        "machine move with the load of other jobs (the load at the start is given above); the "
        "server CPU column moves less.",
    ]
    return "\n".join(lines)


def update_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN not in doc:
        doc = doc.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    body = "\n## Publishing to a real HAPI FHIR server\n\n" + text + "\n"
    DOC.write_text(doc[:start] + body + doc[end:], encoding="utf-8")


def machine() -> str:
    load = os.getloadavg()[0]
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    version = java.splitlines()[0] if java else "java ?"
    return f"{os.cpu_count()} cores, load {load:.1f} at the start; {version}"


BENCH_JAVA_OPTS = "-Xms512m -Xmx2g -XX:+UseSerialGC"  # full JIT: a server's steady state


@contextlib.contextmanager
def server(given: str | None) -> Iterator[tuple[str, JvmCpu]]:
    """The server at FHIR_BASE_URL, or a fresh test HAPI server (stopped afterwards)."""
    if given:
        yield given.rstrip("/"), JvmCpu(None)
        return
    logs = Path(tempfile.mkdtemp(prefix="bench-hapi-"))
    os.environ["HAPI_JAVA_OPTS"] = BENCH_JAVA_OPTS
    running = start(logs)
    try:
        yield running.base_url, JvmCpu(running.process.pid)
    finally:
        running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--update-doc", action="store_true")
    args = parser.parse_args()
    given = os.environ.get("FHIR_BASE_URL")
    if given:
        note = f"the server at FHIR_BASE_URL, one for all approaches ({machine()})"
    else:
        try:
            build(Path(tempfile.mkdtemp(prefix="bench-hapi-build-")))
        except ServerUnavailable as exc:
            raise SystemExit(f"the real HAPI server is unavailable here: {exc}") from None
        note = (
            "a fresh test HAPI FHIR 8.8.0 R5 JPA server of tests/hapi-server (H2 in memory) per "
            f"approach, on loopback, JVM options `{BENCH_JAVA_OPTS}`, warmed up with a 500-resource "
            f"publish that is not counted ({machine()})"
        )
    n, chunk = args.n, args.chunk_size
    plans = {
        "transactions (default: pre-read on)": lambda url, cpu: run_batched(url, cpu, corpus(n), chunk, True),
        "transactions (--no-preread)": lambda url, cpu: run_batched(url, cpu, corpus(n), chunk, False),
        "naive: one PUT per resource": lambda url, cpu: run_naive(url, cpu, corpus(n)),
    }
    rows = {}
    for name, run in plans.items():
        with server(given) as (url, cpu):
            run_batched(url, JvmCpu(None), corpus(500), chunk, True)  # warm-up, not reported
            rows[name] = run(url, cpu)
        print(f"{name}: {rows[name]['wall']:.1f} s", file=sys.stderr)
    text = render(n, chunk, rows, note)
    print(text)
    if args.update_doc:
        update_doc(text)


if __name__ == "__main__":
    main()
