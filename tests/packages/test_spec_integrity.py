"""Package coordinates and integrity strings."""

from __future__ import annotations

import base64
import hashlib

import pytest

from evidence_publisher.errors import ExitCode
from evidence_publisher.packages import (
    DEFAULT_PACKAGES,
    LOCAL_EBM_PACKAGE,
    InvalidPackageSpecError,
    PackageIntegrityError,
    PackageSpec,
)
from evidence_publisher.packages.integrity import ExpectedHash, StreamHasher, verify


def test_parse_forms():
    assert PackageSpec.parse("hl7.fhir.r5.core#5.0.0") == PackageSpec("hl7.fhir.r5.core", "5.0.0")
    assert PackageSpec.parse("hl7.fhir.r5.core@5.0.0") == PackageSpec("hl7.fhir.r5.core", "5.0.0")
    assert PackageSpec.parse("hl7.terminology.r5") == PackageSpec("hl7.terminology.r5", "7.0.1")
    assert str(PackageSpec("a.b", "1.0.0-ballot")) == "a.b#1.0.0-ballot"


@pytest.mark.parametrize(
    "text", ["../evil#1.0.0", "a/b#1.0.0", "ok.name#../1", "ok.name#1/2", "#1.0.0", "unknown.pkg"]
)
def test_bad_specs_are_usage_errors(text: str):
    with pytest.raises(InvalidPackageSpecError) as info:
        PackageSpec.parse(text)
    assert info.value.exit_code == ExitCode.USAGE


def test_defaults_are_the_pinned_set():
    assert [str(s) for s in DEFAULT_PACKAGES] == [
        "hl7.fhir.r5.core#5.0.0",
        "hl7.fhir.r5.expansions#5.0.0",
        "hl7.terminology.r5#7.0.1",
        "hl7.fhir.uv.extensions.r5#5.2.0",
        "evidence-publisher.ebm.local#0.2.0",
    ]
    assert LOCAL_EBM_PACKAGE in DEFAULT_PACKAGES
    assert "hl7.fhir.r5.examples" not in {s.name for s in DEFAULT_PACKAGES}


def _hasher(data: bytes) -> StreamHasher:
    h = StreamHasher()
    h.update(data)
    return h


def _sri(algorithm: str, data: bytes) -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def test_strongest_sri_hash_wins():
    data = b"tarball"
    wrong_sha1 = "sha1-" + base64.b64encode(b"\0" * 20).decode()
    assert verify(_hasher(data), ExpectedHash(f"{wrong_sha1} {_sri('sha512', data)}"), what="x") == "sha512"
    with pytest.raises(PackageIntegrityError):
        verify(_hasher(data), ExpectedHash(f"{_sri('sha1', data)} sha512-{'A' * 86}=="), what="x")


def test_shasum_used_when_no_integrity():
    data = b"tarball"
    assert (
        verify(_hasher(data), ExpectedHash(shasum=hashlib.sha1(data).hexdigest().upper()), what="x") == "sha1"
    )


def test_unreadable_integrity_is_an_error():
    with pytest.raises(PackageIntegrityError, match="cannot read"):
        verify(_hasher(b"x"), ExpectedHash("md5-abc"), what="x")


def test_no_hash_published_is_reported_as_unverified():
    assert verify(_hasher(b"x"), ExpectedHash(), what="x") == ""
