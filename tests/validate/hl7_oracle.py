"""The HL7 Java reference validator as a test oracle (tests/hl7-validator/).

``HL7Oracle.start(cache)`` builds the small Java wrapper with Maven (which fetches
``ca.uhn.hapi.fhir:org.hl7.fhir.validation`` and its dependencies from Maven Central into
``~/.m2`` once), lays out a scratch package cache for it and starts it as a long-lived process
that validates one file per request. ``OracleUnavailable`` says why it cannot run (no Java 17,
no Maven, Maven Central unreachable): callers skip with that reason.

The HL7 package manager deletes every folder of a cache whose ``packages.ini`` is missing or of
another version, so it never sees our package cache: it gets hard-linked copies of the packages
in ``tests/hl7-validator/target/home/.fhir/packages`` (a scratch ``user.home``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.xdist_support import exclusive

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "hl7-validator"
TARGET = PROJECT / "target"
MAIN_CLASS = "evidencepublisher.oracle.Hl7Oracle"
CORE = "hl7.fhir.r5.core#5.0.0"
# Loaded by the HL7 engine itself while it starts (CommonPackages.ID_XVER / VER_XVER).
XVER = "hl7.fhir.xver-extensions#0.1.0"
BUILD_TIMEOUT = 1200.0  # the first build downloads about 150 MB of jars
START_TIMEOUT = 300.0
FILE_TIMEOUT = 120.0


class OracleUnavailable(Exception):
    """The HL7 validator cannot run here; the message says why."""


@dataclass(frozen=True)
class Hl7Issue:
    severity: str  # fatal | error | warning | information
    type: str
    location: str
    message_id: str
    invariant: str
    message: str


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise OracleUnavailable("no `java` on PATH (Java 17 or newer is needed)")
    return java


def _java_major(java: str) -> int:
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not m:
        raise OracleUnavailable(f"cannot read the version of {java}")
    major = int(m[1])
    return int(m[2] or 0) if major == 1 else major


def build() -> tuple[str, str]:
    """(java executable, class path) of the built wrapper; runs Maven when anything changed."""
    java = _java()
    if _java_major(java) < 17:
        raise OracleUnavailable(f"{java} is older than Java 17")
    classpath_file = TARGET / "classpath.txt"
    sources = [PROJECT / "pom.xml", *sorted((PROJECT / "src").rglob("*.java"))]
    built = TARGET / "classes" / (MAIN_CLASS.replace(".", "/") + ".class")
    fresh = (
        built.is_file()
        and classpath_file.is_file()
        and all(s.stat().st_mtime <= built.stat().st_mtime for s in sources)
    )
    if fresh:
        jars = classpath_file.read_text().strip().split(os.pathsep)
        fresh = all(Path(j).is_file() for j in jars)
    if not fresh:
        mvn = shutil.which("mvn")
        if not mvn:
            raise OracleUnavailable("no `mvn` on PATH (Maven fetches the HL7 validator from Maven Central)")
        command = [
            mvn,
            "-q",
            "-B",
            "-s",
            str(PROJECT / "settings.xml"),
            "compile",
            "dependency:build-classpath",
            f"-Dmdep.outputFile={classpath_file}",
        ]
        try:
            proc = subprocess.run(
                command, cwd=PROJECT, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise OracleUnavailable(f"Maven did not finish within {BUILD_TIMEOUT:.0f} s") from exc
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
            raise OracleUnavailable(
                "Maven could not build tests/hl7-validator (is Maven Central reachable?): "
                + (lines[0] if lines else f"exit {proc.returncode}")
            )
    classpath = f"{TARGET / 'classes'}{os.pathsep}{classpath_file.read_text().strip()}"
    return java, classpath


def _link_tree(src: Path, dst: Path) -> None:
    """A copy of ``src`` made of hard links (a plain copy across file systems)."""
    if dst.exists():
        return
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, tmp, copy_function=link)
    tmp.rename(dst)


def scratch_cache(cache_root: Path, packages: list[str]) -> tuple[Path, list[Path]]:
    """(scratch user.home, package folders to load) for the HL7 engine, from our cache."""
    home = TARGET / "home"
    packages_dir = home / ".fhir" / "packages"
    packages_dir.mkdir(parents=True, exist_ok=True)
    dirs = []
    for spec in [CORE, XVER, *packages]:
        src = cache_root / spec
        if not (src / "package" / "package.json").is_file():
            raise OracleUnavailable(f"{spec} is not installed in {cache_root}")
        dst = packages_dir / spec
        _link_tree(src, dst)
        dirs.append(dst)
    return home, dirs[2:]


class HL7Oracle:
    """A running HL7 validator; ``validate(path)`` returns its issues for one JSON file."""

    def __init__(self, proc: subprocess.Popen, lines: queue.Queue, started: float) -> None:
        self._proc = proc
        self._lines = lines
        self.startup_seconds = started

    @classmethod
    def command(cls, cache_root: Path, packages: list[str]) -> list[str]:
        with exclusive(TARGET / ".build.lock"):  # one Maven build of tests/hl7-validator at a time
            java, classpath = build()
            home, dirs = scratch_cache(cache_root, packages)
        return [
            java,
            "-Xss8m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Duser.home={home}",
            "-Djava.awt.headless=true",
            "-cp",
            classpath,
            MAIN_CLASS,
            CORE,
            *[str(d) for d in dirs],
        ]

    @classmethod
    def start(cls, cache_root: Path, packages: list[str]) -> HL7Oracle:
        command = cls.command(cache_root, packages)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        lines: queue.Queue = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        oracle = cls(proc, lines, 0.0)
        first = oracle._read(START_TIMEOUT)
        if first != "ready":
            oracle.close()
            raise OracleUnavailable(f"the HL7 validator did not start (said {first!r})")
        oracle.startup_seconds = time.perf_counter() - t0
        return oracle

    def _read(self, timeout: float) -> str | None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if line is None else line.rstrip("\n")

    def validate(self, path: Path) -> list[Hl7Issue]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{path}\n")
        self._proc.stdin.flush()
        line = self._read(FILE_TIMEOUT)
        if line is None:
            raise RuntimeError(f"the HL7 validator gave no answer for {path} within {FILE_TIMEOUT:.0f} s")
        return parse_answer(line)

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write("\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(timeout=30)


def parse_answer(line: str) -> list[Hl7Issue]:
    doc = json.loads(line)
    if "crash" in doc:
        return [Hl7Issue("fatal", "exception", "", "CRASH", "", doc["crash"])]
    return [
        Hl7Issue(
            i.get("severity") or "",
            i.get("type") or "",
            i.get("location") or "",
            i.get("id") or "",
            i.get("invariant") or "",
            i.get("message") or "",
        )
        for i in doc["issues"]
    ]
