"""Installs the real hl7.fhir.r5.core through the real npm. Opt in with EP_TEST_REAL_NPM=1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from evidence_publisher.packages import R5_CORE, PackageCache

pytestmark = pytest.mark.skipif(
    os.environ.get("EP_TEST_REAL_NPM") != "1" or shutil.which("npm") is None,
    reason="set EP_TEST_REAL_NPM=1 (and have npm) to install the real R5 core package",
)


def test_real_core_installs_via_npm_and_resolves(tmp_path: Path):
    cache = PackageCache(tmp_path / "cache", registry_url="off")
    messages: list[str] = []
    pkg = cache.ensure([R5_CORE], progress=messages.append)[0]

    assert pkg.source == "npm"
    assert pkg.install_record["verified_with"] == "sha512"
    assert len(pkg.index) > 2900
    assert f"Installing {R5_CORE} from npm ..." in messages
    evidence = cache.definitions([R5_CORE]).structure_definition("Evidence")
    assert evidence["url"] == "http://hl7.org/fhir/StructureDefinition/Evidence"
    assert any(e["path"] == "Evidence.variableDefinition" for e in evidence["snapshot"]["element"])
