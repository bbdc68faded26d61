"""Integrity hashes as npm-style registries publish them: SRI ``integrity`` and hex ``shasum``."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence_publisher.packages.errors import PackageIntegrityError

_SRI_ALGORITHMS = ("sha512", "sha384", "sha256", "sha1")
_STRENGTH = {name: i for i, name in enumerate(reversed(_SRI_ALGORITHMS))}


@dataclass(frozen=True)
class ExpectedHash:
    """What a source says the tarball hashes to. Either field may be absent."""

    integrity: str | None = None  # SRI, e.g. "sha512-<base64>" (several, space-separated, allowed)
    shasum: str | None = None  # hex sha1

    @property
    def present(self) -> bool:
        return bool(self.integrity or self.shasum)


@dataclass
class StreamHasher:
    """Hashes a stream once with every algorithm a check might need."""

    _hashes: dict[str, Any] = field(
        default_factory=lambda: {name: hashlib.new(name) for name in _SRI_ALGORITHMS}
    )

    def update(self, chunk: bytes) -> None:
        for h in self._hashes.values():
            h.update(chunk)

    def digest(self, algorithm: str) -> bytes:
        return self._hashes[algorithm].digest()


def hash_file(path: Path) -> StreamHasher:
    hasher = StreamHasher()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher


def _strongest_sri(integrity: str) -> tuple[str, bytes] | None:
    best: tuple[str, bytes] | None = None
    for token in integrity.split():
        algorithm, _, b64 = token.partition("-")
        algorithm = algorithm.lower()
        if algorithm not in _STRENGTH or not b64:
            continue
        b64 = b64.split("?", 1)[0]  # SRI options are ignored
        try:
            digest = base64.b64decode(b64, validate=True)
        except ValueError:
            continue
        if best is None or _STRENGTH[algorithm] > _STRENGTH[best[0]]:
            best = (algorithm, digest)
    return best


def verify(hasher: StreamHasher, expected: ExpectedHash, *, what: str) -> str:
    """Check ``hasher`` against ``expected``; return the algorithm used ("" when none was given).

    Raises ``PackageIntegrityError`` on a mismatch or on an integrity string that cannot be read.
    """
    if expected.integrity:
        sri = _strongest_sri(expected.integrity)
        if sri is None:
            raise PackageIntegrityError(
                f"{what}: cannot read the published integrity value {expected.integrity!r}",
                details=["expected an SRI string such as 'sha512-<base64>'"],
            )
        algorithm, digest = sri
        actual = hasher.digest(algorithm)
        if actual != digest:
            raise PackageIntegrityError(
                f"{what}: {algorithm} of the downloaded tarball does not match the published "
                f"integrity {expected.integrity!r}",
                details=[
                    f"got {algorithm}-{base64.b64encode(actual).decode()}",
                    "the download was discarded and nothing was installed; retry, and if it "
                    "persists report it to the package registry",
                ],
            )
        return algorithm
    if expected.shasum:
        actual_hex = hasher.digest("sha1").hex()
        if actual_hex != expected.shasum.strip().lower():
            raise PackageIntegrityError(
                f"{what}: sha1 of the downloaded tarball does not match the published "
                f"shasum {expected.shasum!r}",
                details=[
                    f"got {actual_hex}",
                    "the download was discarded and nothing was installed",
                ],
            )
        return "sha1"
    return ""
