"""A real ``redis-server`` (Debian's package) on 127.0.0.1 with a free port, for the replay-store
tests. Installed by this set-up when missing (as root, with apt-get); otherwise the tests skip.

``python -m tests.cds.redis_server`` installs it by hand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.xdist_support import exclusive

APT_TIMEOUT = 900
APT_LOCK = Path(tempfile.gettempdir()) / "evidence-publisher-apt.lock"
START_TIMEOUT = 20.0


def _found() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def ensure_redis() -> str:
    """The path of ``redis-server``, installing it with apt-get when missing and root; raises
    ``RuntimeError`` saying why not otherwise."""
    found = _found()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("redis-server is not installed, and installing it needs root and apt-get")
    with exclusive(APT_LOCK):  # one apt-get at a time (pytest-xdist workers, two runs)
        return _install()


def _install() -> str:
    found = _found()  # installed by another process while this one waited for the lock
    if found is not None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "redis-server"]):
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(cmd)} took more than {APT_TIMEOUT} s") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{' '.join(cmd)} failed: {tail[0]}")
    found = _found()
    if found is None:
        raise RuntimeError("apt-get installed redis-server, but it is still not on PATH")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process: loopback only, no persistence, its own scratch directory."""

    def __init__(self, executable: str, *, password: str | None = None) -> None:
        self.executable = executable
        self.password = password
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ep-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        args = [self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "redis.log").open("wb"),
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {log[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    print(ensure_redis())
