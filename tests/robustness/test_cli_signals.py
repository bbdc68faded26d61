"""No temporary folder survives SIGINT or SIGTERM during a build, and the previous output stays whole.

The issue saw 1 in 24 SIGINTs leave a ``.dist.tmp-*`` folder. Here real signals are sent to child
processes at many points of a write (slowed down so that the points spread over it), and after each
one the output directory must be exactly the previous build and nothing else may be beside it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .cli_helpers import MAPPINGS, ROOT, run_cli, snapshot

# Each file write and each rename (the swap of the old and new output) is slowed down, so that the
# signals sent at staggered delays land in every phase of the write, the swap included.
SLOW_WRITES = """
import pathlib
import signal
import time
from evidence_publisher import output
# as in an interactive shell, even when the tests run in a background job that ignores SIGINT
signal.signal(signal.SIGINT, signal.default_int_handler)
_real_write, _real_rename = output.write_file, pathlib.Path.rename
def _slow_write(path, text):
    time.sleep(0.002)
    _real_write(path, text)
def _slow_rename(self, target):
    time.sleep(0.03)
    return _real_rename(self, target)
output.write_file = _slow_write
pathlib.Path.rename = _slow_rename
"""

LOOP_CHILD = SLOW_WRITES + textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from evidence_publisher.interrupts import terminate_as_exception
    from evidence_publisher.pipeline import compile_mappings, render_outputs

    mapped = compile_mappings([Path(sys.argv[1])])
    files = render_outputs(mapped.compiled.resources, mapped.report, mapped.report["base_url"])
    out = Path(sys.argv[2])
    output.write_atomically(out, files)
    started = time.monotonic()
    output.write_atomically(out, files)  # a replacement, as in every round below
    print("wrote", time.monotonic() - started, flush=True)
    with terminate_as_exception():  # as the CLI does; SIGTERM outside a write then cannot kill us
        for _ in sys.stdin:
            finished = False
            try:
                print("ready", flush=True)
                output.write_atomically(out, files)
                finished = True
                time.sleep(60)  # the signal for this round arrives here when the write was quicker
                print("no-signal", flush=True)
            except KeyboardInterrupt as exc:  # Terminated is one too
                print("after" if finished else "during", type(exc).__name__, flush=True)
    """
)

# Updates a previous build in place, alternating between two versions whose every resource differs.
UPDATE_CHILD = SLOW_WRITES + textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from evidence_publisher.interrupts import terminate_as_exception
    from evidence_publisher.pipeline import compile_mappings, render_outputs

    mapped = compile_mappings([Path(sys.argv[1])])
    first = render_outputs(mapped.compiled.resources, mapped.report, mapped.report["base_url"])
    second = {rel: text + " " if rel.startswith("resources/") else text for rel, text in first.items()}
    out = Path(sys.argv[2])
    output.write_build(Path(sys.argv[3]), first)  # the first version whole, for the test to compare
    output.write_build(out, first)
    started = time.monotonic()
    output.write_build(out, second)
    print("wrote", time.monotonic() - started, flush=True)
    with terminate_as_exception():
        for line in sys.stdin:
            finished = False
            try:
                print("ready", flush=True)
                output.write_build(out, first if line.strip() == "first" else second)
                finished = True
                time.sleep(60)
                print("no-signal", flush=True)
            except KeyboardInterrupt as exc:
                print("after" if finished else "during", type(exc).__name__, flush=True)
    """
)

CLI_CHILD = SLOW_WRITES + textwrap.dedent(
    """
    import sys
    from evidence_publisher.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)

LIBRARY_CHILD = SLOW_WRITES + textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from evidence_publisher.pipeline import build
    build([Path(sys.argv[1])], out_dir=Path(sys.argv[2]), validate=False)
    """
)


@pytest.fixture(scope="module")
def previous_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prev") / "dist"
    result = run_cli("build", str(ROOT / MAPPINGS), "--out", str(out), "--no-validate", cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out


def differ_from_a_build(out: Path) -> None:
    """A previous build is updated file by file: make every resource file one the build rewrites."""
    for file in (out / "resources").iterdir():
        file.write_text(file.read_text() + " ")


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def wait_for_temp_dir(proc: subprocess.Popen, out: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(p.name.startswith(f".{out.name}.tmp-") for p in out.parent.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started writing"
        time.sleep(0.005)


def start_rounds(child: str, *args: str) -> tuple[subprocess.Popen, float]:
    """A child that writes once, says how long that took, then writes once per line it reads."""
    proc = subprocess.Popen(
        [sys.executable, "-c", child, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout
    first = proc.stdout.readline().split()
    if not first or first[0] != "wrote":
        proc.kill()
        pytest.fail(str(proc.communicate()))
    return proc, float(first[1])


def signal_round(proc: subprocess.Popen, line: str, delay: float, sig: signal.Signals) -> list[str]:
    """Start one write, send ``sig`` ``delay`` seconds in, and return what the child said of it."""
    assert proc.stdin and proc.stdout
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "ready\n"
    time.sleep(delay)
    proc.send_signal(sig)
    outcome = proc.stdout.readline().split()
    assert outcome, proc.communicate()
    return outcome


def test_signals_at_many_points_of_a_write_leave_no_temp_dir(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    proc, duration = start_rounds(LOOP_CHILD, str(ROOT / MAPPINGS), str(out))
    try:
        reference = snapshot(out)
        rounds, outcomes = 40, []
        for i in range(rounds):
            sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
            outcome = signal_round(proc, "go", duration * 1.3 * (i // 2) / (rounds // 2), sig)
            outcomes.append((sig.name, *outcome))
            assert leftovers(out) == [], outcomes
            assert snapshot(out) == reference, outcomes
    finally:
        proc.kill()
        proc.communicate()
    expected = {"SIGINT": "KeyboardInterrupt", "SIGTERM": "Terminated"}
    assert all(exc == expected[sig] for sig, _when, exc in outcomes), outcomes
    during = sum(when == "during" for _sig, when, _exc in outcomes)
    assert during >= rounds // 4, f"too few signals landed inside a write: {outcomes}"


def test_signals_during_updates_leave_one_whole_build_and_nothing_beside_it(tmp_path: Path) -> None:
    """An update in place (a previous build at --out) ends as the old build or the new one, never a mix."""
    out = tmp_path / "dist"
    proc, duration = start_rounds(UPDATE_CHILD, str(ROOT / MAPPINGS), str(out), str(tmp_path / "first"))
    try:
        builds = {"first": snapshot(tmp_path / "first"), "second": snapshot(out)}
        assert builds["first"] != builds["second"]
        rounds, outcomes = 30, []
        for i in range(rounds):
            version = "first" if i % 2 == 0 else "second"
            sig = signal.SIGINT if i % 4 < 2 else signal.SIGTERM
            outcome = signal_round(proc, version, duration * 1.3 * i / rounds, sig)
            outcomes.append((version, *outcome))
            assert leftovers(out) == [], outcomes
            now = snapshot(out)
            if outcome[0] == "after":
                assert now == builds[version], outcomes
            else:  # stopped before its journal (the old version) or finished with signals held
                assert now in builds.values(), outcomes
    finally:
        proc.kill()
        proc.communicate()
    during = sum(when == "during" for _v, when, _exc in outcomes)
    assert during >= rounds // 4, f"too few signals landed inside an update: {outcomes}"


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_cli_build_interrupted_while_writing(
    tmp_path: Path, previous_build: Path, sig: signal.Signals, code: int, word: str
) -> None:
    out = tmp_path / "dist"
    subprocess.run(["cp", "-a", str(previous_build), str(out)], check=True)
    differ_from_a_build(out)
    before = snapshot(out)
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI_CHILD, "build", str(ROOT / MAPPINGS), "--out", str(out), "--no-validate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_temp_dir(proc, out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert word in err and "Traceback" not in err
    assert leftovers(out) == []
    assert snapshot(out) == before


def test_library_build_cleans_up_on_sigterm_with_the_default_handler(
    tmp_path: Path, previous_build: Path
) -> None:
    """Called as a library (no CLI handlers installed), the write still turns SIGTERM into clean-up."""
    out = tmp_path / "dist"
    subprocess.run(["cp", "-a", str(previous_build), str(out)], check=True)
    differ_from_a_build(out)
    before = snapshot(out)
    proc = subprocess.Popen(
        [sys.executable, "-c", LIBRARY_CHILD, str(ROOT / MAPPINGS), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_temp_dir(proc, out)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert leftovers(out) == []
    assert snapshot(out) == before


def test_a_signal_the_process_ignores_stays_ignored_during_a_write() -> None:
    """Started with SIGINT ignored (``nohup``, ``cmd &`` in a script), a build must not start obeying it."""
    from evidence_publisher.interrupts import signal_guard, terminate_as_exception

    previous_term = signal.getsignal(signal.SIGTERM)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signal_guard() as guard, guard.held():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == guard.handle
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with terminate_as_exception():
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
