"""Build, start and stop the test HAPI FHIR R5 JPA server of ``tests/hapi-server/``.

Used by ``tests/real_hapi/conftest.py`` (one server per test session) and by
``bench/bench_publish.py --real-hapi``. The server is ``tests/hapi-server/serve PORT`` run in its
own process group, so that stopping it also stops the JVM ``serve`` execs into.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from tests.xdist_support import exclusive

HERE = Path(__file__).resolve().parent
SERVER_DIR = HERE.parent / "hapi-server"
SERVE = SERVER_DIR / "serve"
BUILD_TIMEOUT = 1800.0  # a cold ~/.m2 downloads ~300 MB of jars
START_TIMEOUT = 300.0  # 40-90 s on 2 idle cores; more when other work shares them
STOP_TIMEOUT = 30.0

# Maven's words for "the repository could not be reached" (as opposed to a broken build).
_OFFLINE = re.compile(
    r"Could not transfer (artifact|metadata)|UnknownHostException|Unknown host|"
    r"Connection refused|Network is unreachable|connect timed out|Connect to .* failed|"
    r"No route to host|Temporary failure in name resolution|Name or service not known",
    re.IGNORECASE,
)


class ServerUnavailable(Exception):
    """The server cannot be had on this machine (no Java, no Maven, Maven Central unreachable)."""


class ServerFailed(Exception):
    """The server could be built here but did not build or start: a real failure."""


def java_command() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def missing_tools(server_dir: Path = SERVER_DIR) -> str | None:
    """Why the server cannot be built or run here, or None."""
    if java_command() is None:
        return "Java is not installed (no JAVA_HOME/bin/java, no java on PATH)"
    if not (server_dir / "target" / "test-hapi-server-1.jar").is_file() and not shutil.which(
        os.environ.get("MVN", "mvn")
    ):
        return "Maven is not installed (no mvn on PATH) and the server has not been built"
    return None


def build(log_dir: Path, server_dir: Path = SERVER_DIR) -> float:
    """Build the server if needed (``serve --build-only``); returns the seconds it took."""
    reason = missing_tools(server_dir)
    if reason:
        raise ServerUnavailable(reason)
    log = log_dir / "hapi-build.log"
    started = time.monotonic()
    # one Maven build of the server dir at a time (pytest-xdist workers, two runs)
    with exclusive(server_dir / "target" / ".build.lock"), log.open("wb") as out:
        try:
            proc = subprocess.run(
                [str(server_dir / "serve"), "--build-only"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerFailed(f"the Maven build took more than {BUILD_TIMEOUT:.0f} s; see {log}") from exc
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        if _OFFLINE.search(text):
            raise ServerUnavailable(f"Maven Central is unreachable and ~/.m2 lacks the jars (see {log})")
        raise ServerFailed(f"the Maven build failed (exit {proc.returncode}); see {log}:\n{text[-3000:]}")
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen
    log: Path
    start_seconds: float

    def rss_kib(self) -> int | None:
        """Resident memory of the JVM (Linux /proc), or None."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) if match else None

    def stop(self) -> None:
        """Stop the JVM: SIGTERM to its process group, SIGKILL if it has not gone in time."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)


def start(log_dir: Path, port: int | None = None, fhir_version: str = "R5") -> RunningServer:
    """Start ``serve PORT [--fhir-version R4]`` in a new process group and wait until
    ``/fhir/metadata`` answers (R4: with the clinical-reasoning ``$apply`` operations)."""
    port = port or free_port()
    log = log_dir / f"hapi-server-{fhir_version}.log"
    version_args = [] if fhir_version == "R5" else ["--fhir-version", fhir_version]
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SERVE), str(port), *version_args],
            stdout=out,
            stderr=subprocess.STDOUT,
            # the JVM exits when this pipe closes, i.e. also when we die without stopping it
            stdin=subprocess.PIPE,
            env={**os.environ, "TEST_HAPI_EXIT_ON_STDIN_EOF": "1"},
            start_new_session=True,  # its own process group: killpg reaches the JVM
        )
    server = RunningServer(f"http://127.0.0.1:{port}/fhir", process, log, 0.0)
    try:
        wait_for_metadata(server, START_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - started
    return server


def wait_for_metadata(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"{server.base_url}/metadata"
    while True:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise ServerFailed(f"the HAPI server exited with {server.process.returncode}:\n{tail}")
        try:
            resp = requests.get(url, headers={"Accept": "application/fhir+json"}, timeout=(2, 60))
            if resp.status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise ServerFailed(f"{url} did not answer within {timeout:.0f} s; see {server.log}")
        time.sleep(1.0)


def log_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"evidence-publisher-hapi-{os.getpid()}"
    path.mkdir(exist_ok=True)
    return path
