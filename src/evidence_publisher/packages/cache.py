"""The FHIR package cache: ``<root>/<name>#<version>/package/`` as other FHIR tools lay it out."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from evidence_publisher import jsonio
from evidence_publisher.constants import DEFAULT_FHIR_VERSION, FHIR_VERSIONS, FhirVersion
from evidence_publisher.packages import ebm_local
from evidence_publisher.packages.archive import extract_tarball, normalise_layout
from evidence_publisher.packages.definitions import Definitions
from evidence_publisher.packages.errors import (
    CacheWriteError,
    InvalidPackageSpecError,
    MalformedPackageError,
    PackageUnavailableError,
)
from evidence_publisher.packages.index import ensure_index, write_atomically
from evidence_publisher.packages.installed import INSTALL_RECORD, InstalledPackage
from evidence_publisher.packages.integrity import hash_file
from evidence_publisher.packages.sources import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_REGISTRY,
    REGISTRY_ENV,
    BytesCallback,
    FetchedTarball,
    NpmSource,
    RegistrySource,
    SourceMiss,
)
from evidence_publisher.packages.spec import (
    LOCAL_EBM_PACKAGE,
    OPTIONAL_DEFAULTS,
    STAND_INS,
    PackageSpec,
    default_packages,
    foreign_core_names,
)

CACHE_ENV = "FHIR_PACKAGE_CACHE"
_TMP_PREFIX = ".ep-install-"
_STALE_TMP_SECONDS = 24 * 3600
_DISABLED = {"", "off", "none", "0", "false"}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class PackageCache:
    """Installs and finds FHIR packages. Sources in order: the cache, the registry, npm."""

    def __init__(
        self,
        root: Path | str,
        *,
        registry_url: str | None = None,
        npm: str | None = None,
        use_npm: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.root = Path(root).expanduser()
        if registry_url is None:
            registry_url = os.environ.get(REGISTRY_ENV, DEFAULT_REGISTRY)
        self.registry: RegistrySource | None = (
            None
            if registry_url.strip().lower() in _DISABLED
            else RegistrySource(registry_url.strip(), connect_timeout=connect_timeout)
        )
        self.npm: NpmSource | None = NpmSource(npm) if use_npm else None
        self._packages: dict[PackageSpec, InstalledPackage] = {}
        self._definitions: dict[tuple[PackageSpec, ...] | str, Definitions] = {}

    @classmethod
    def default(cls, **kwargs: Any) -> PackageCache:
        """The cache at ``$FHIR_PACKAGE_CACHE``, else ``~/.fhir/packages``."""
        return cls(default_root(), **kwargs)

    # ---------------------------------------------------------------- lookup
    def get(self, name: str, version: str) -> InstalledPackage | None:
        """The installed package, or None. A directory without package/package.json is not one."""
        spec = PackageSpec(name, version)
        pkg = self._packages.get(spec)
        if pkg is not None and (pkg.path / "package.json").is_file():
            return pkg
        package_dir = self.root / spec.dirname / "package"
        if not (package_dir / "package.json").is_file():
            self._packages.pop(spec, None)
            return None
        pkg = InstalledPackage(spec.name, spec.version, package_dir)
        self._packages[spec] = pkg
        return pkg

    def installed(self) -> list[InstalledPackage]:
        """Every package in the cache, sorted by name and version."""
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir(), key=lambda p: p.name):
            name, sep, version = child.name.partition("#")
            if not sep or not child.is_dir():
                continue
            try:
                pkg = self.get(name, version)
            except Exception:  # noqa: S112 - a foreign directory name is not our package
                continue
            if pkg is not None:
                found.append(pkg)
        return found

    def definitions(
        self,
        specs: Sequence[PackageSpec | str] | None = None,
        *,
        progress: Progress | None = None,
        fhir: FhirVersion = DEFAULT_FHIR_VERSION,
    ) -> Definitions:
        """A lazy resolver over ``specs`` (default: the pinned set of the FHIR version ``fhir``)
        and their dependencies. The core packages of other FHIR versions that a dependency pulls
        in (the local EBM package depends on R5) are left out of a default set's resolver.

        Installs what is missing first (see ``ensure``). Repeated calls share one resolver.
        """
        key = fhir.release if specs is None else tuple(PackageSpec.parse(s) for s in specs)
        defs = self._definitions.get(key)
        if defs is None:
            packages = self.ensure(specs, progress=progress, fhir=fhir)
            cross_version = None
            if specs is None:
                packages = [p for p in packages if p.name not in foreign_core_names(fhir)]
                if fhir.cross_version_source is not None:
                    source = FHIR_VERSIONS[fhir.cross_version_source]
                    cross_version = Definitions(self.ensure([PackageSpec(*source.core)], progress=progress))
            defs = Definitions(packages, cross_version=cross_version)
            self._definitions[key] = defs
        return defs

    # ---------------------------------------------------------------- install
    def ensure(
        self,
        specs: Sequence[PackageSpec | str] | None = None,
        progress: Progress | None = None,
        *,
        on_bytes: BytesCallback | None = None,
        retry_missing: bool = False,
        fhir: FhirVersion = DEFAULT_FHIR_VERSION,
    ) -> list[InstalledPackage]:
        """Make ``specs`` (default: the pinned set of the FHIR version ``fhir``) and their
        dependencies available.

        Returns the available packages: requested ones first, in order, then dependencies.
        A requested package that cannot be had raises ``PackageUnavailableError`` (after every
        other package was tried), unless its stand-in (``STAND_INS``) can be had; a missing
        dependency or optional default is reported through ``progress`` as a warning and
        remembered for a day, so that later calls stay offline and fast (``retry_missing=True``
        tries again). Works offline when everything is cached.
        """
        say = progress or _quiet
        if specs is None:
            requested = list(default_packages(fhir))
            optional = set(OPTIONAL_DEFAULTS)
        else:
            requested = [PackageSpec.parse(s) for s in specs]
            optional = set()
        queue: list[tuple[PackageSpec, bool, PackageSpec | None]] = [
            (s, s not in optional, None) for s in requested
        ]
        seen: set[PackageSpec] = set()
        result: list[InstalledPackage] = []
        failures: list[tuple[PackageSpec, list[str]]] = []
        self._clean_stale_tmp()
        missing = _MissingRecord(self.root)
        while queue:
            spec, required, parent = queue.pop(0)
            if spec in seen:
                continue
            seen.add(spec)
            if parent is not None and any(p.name == spec.name for p in result):
                continue  # another version is already here (hl7.terminology.r5 7.0.1 for 6.5.0)
            has_stand_in = spec in STAND_INS
            if (
                (not required or has_stand_in)
                and not retry_missing
                and missing.recent(spec)
                and self.get(spec.name, spec.version) is None
            ):
                # tried and failed lately: stay offline, but use a stand-in we have
                pkg = self._stand_in(spec, seen, say, on_bytes, missing, retry_missing, quiet=not required)
                if pkg is not None:
                    result.append(pkg)
                    queue.extend((d, False, pkg.spec) for d in self._dependencies(pkg, say))
                    continue
                if not required:
                    continue
            try:
                pkg = self._ensure_one(spec, say, on_bytes)
            except PackageUnavailableError as exc:
                if required and not has_stand_in:
                    failures.append((spec, exc.details))
                    continue
                missing.add(spec, "; ".join(exc.details))
                why = f"dependency of {parent}" if parent else "required" if required else "optional default"
                stand_in = self._stand_in(spec, seen, say, on_bytes, missing, retry_missing, quiet=False)
                if stand_in is not None:
                    say(
                        f"note: {spec} ({why}) is not available ({'; '.join(exc.details) or exc.message}); "
                        f"using {stand_in.spec} in its place"
                    )
                    result.append(stand_in)
                    queue.extend((d, False, stand_in.spec) for d in self._dependencies(stand_in, say))
                    continue
                if required:
                    failures.append((spec, exc.details))
                    continue
                say(
                    f"warning: {spec} ({why}) is not available ("
                    f"{'; '.join(exc.details) or exc.message}). Resources it defines "
                    f"(e.g. extensions) will be reported as undefined. To add it later: "
                    f"evidence-publisher packages install {spec}"
                )
                continue
            missing.discard(spec)
            result.append(pkg)
            queue.extend((dep, False, pkg.spec) for dep in self._dependencies(pkg, say))
        if failures:
            raise _unavailable(failures, self)
        return result

    def _dependencies(self, pkg: InstalledPackage, say: Progress) -> list[PackageSpec]:
        deps = []
        for dep_name, dep_version in sorted(pkg.dependencies.items()):
            dep = self._resolve_dependency(dep_name, dep_version)
            if dep is None:
                say(
                    f"warning: {pkg.spec} depends on {dep_name}#{dep_version}, which is not an "
                    "exact version; skipped"
                )
                continue
            deps.append(dep)
        return deps

    def _stand_in(
        self,
        spec: PackageSpec,
        seen: set[PackageSpec],
        say: Progress,
        on_bytes: BytesCallback | None,
        missing: _MissingRecord,
        retry_missing: bool,
        *,
        quiet: bool,
    ) -> InstalledPackage | None:
        """The first stand-in for ``spec`` (``STAND_INS``) that is installed or can be fetched."""
        for alt in STAND_INS.get(spec, ()):
            if alt in seen:
                return None
            seen.add(alt)
            if self.get(alt.name, alt.version) is None and not retry_missing and missing.recent(alt):
                continue
            try:
                pkg = self._ensure_one(alt, say if not quiet else _quiet, on_bytes)
            except PackageUnavailableError as exc:
                missing.add(alt, "; ".join(exc.details))
                continue
            missing.discard(alt)
            return pkg
        return None

    def stand_in_for(self, pkg: InstalledPackage) -> PackageSpec | None:
        """The package ``pkg`` stands in for, while that one is not installed."""
        for wanted, alts in STAND_INS.items():
            if pkg.spec in alts and self.get(wanted.name, wanted.version) is None:
                return wanted
        return None

    def _resolve_dependency(self, name: str, version: str) -> PackageSpec | None:
        with contextlib.suppress(InvalidPackageSpecError):
            return PackageSpec(name, version)
        # "4.0.x"-style ranges: the newest matching installed version, if any.
        if version.endswith(".x"):
            prefix = version[:-1]
            matches = sorted(
                (p for p in self.installed() if p.name == name and p.version.startswith(prefix)),
                key=lambda p: p.version,
            )
            if matches:
                return matches[-1].spec
        return None

    def _ensure_one(
        self, spec: PackageSpec, say: Progress, on_bytes: BytesCallback | None
    ) -> InstalledPackage:
        if spec == LOCAL_EBM_PACKAGE:
            pkg = self.get(spec.name, spec.version)
            digest = ebm_local.content_hash()
            if pkg is not None and pkg.install_record.get("content_sha256") == digest:
                return pkg
            say(f"Installing {spec} (generated EBM extension definitions) ...")
            return self._install_generated(spec, digest)
        pkg = self.get(spec.name, spec.version)
        if pkg is not None:
            return pkg
        return self._install_from_sources(spec, say, on_bytes)

    def _sources(self) -> list[RegistrySource | NpmSource]:
        return [s for s in (self.registry, self.npm) if s is not None]

    def _install_from_sources(
        self, spec: PackageSpec, say: Progress, on_bytes: BytesCallback | None
    ) -> InstalledPackage:
        misses: list[str] = []
        sources = self._sources()
        if not sources:
            misses.append("no source is enabled (FHIR_PACKAGE_REGISTRY=off and npm disabled)")
        for source in sources:
            if isinstance(source, RegistrySource) and source.known_unreachable:
                misses.append(f"{source.label}: {source.known_unreachable}")
                continue  # already said so for an earlier package
            with self._scratch() as work:
                say(f"Installing {spec} from {source.label} ...")
                try:
                    fetched = source.fetch(spec, work, on_bytes)
                except SourceMiss as miss:
                    misses.append(f"{source.label}: {miss.reason}")
                    say(f"  {source.label} cannot provide {spec}: {miss.reason}")
                    continue
                pkg = self._unpack_and_commit(spec, fetched, work)
                say(f"Installed {spec} from {source.label} ({len(pkg.index)} resources)")
                return pkg
        raise PackageUnavailableError(f"{spec} could not be fetched", details=misses)

    def install_file(self, path: Path, say: Progress | None = None) -> InstalledPackage:
        """Install a package tarball from a local file (e.g. one written by ``package``), through the
        same safe extraction as a download. The name and version come from its package.json; an
        installed copy of the same NAME#VERSION is replaced. The file itself is left as it is."""
        say = say or _quiet
        self._clean_stale_tmp()
        with self._scratch() as work:
            copy = work / "from-file.tgz"
            try:
                shutil.copyfile(path, copy)
            except OSError as exc:
                raise PackageUnavailableError(
                    f"cannot read the package file {str(path)!r} ({exc.strerror or exc})",
                    details=["give the path of a FHIR package tarball (.tgz), e.g. one written by `package`"],
                ) from None
            digest = hash_file(copy).digest("sha256").hex()
            fetched = FetchedTarball(
                copy, "file", str(path.resolve()), f"sha256 {digest} (not checked: a local file)"
            )
            pkg = self._unpack_and_commit(None, fetched, work)
        say(f"Installed {pkg.spec} from {path} ({len(pkg.index)} resources)")
        return pkg

    def _unpack_and_commit(
        self, spec: PackageSpec | None, fetched: FetchedTarball, work: Path
    ) -> InstalledPackage:
        """Unpack, check and move into place; ``spec`` None takes the name and version from the
        package's own package.json (a local file), else they must match it."""
        staged = work / "staged"
        staged.mkdir()
        extract_tarball(fetched.path, staged)
        fetched.path.unlink(missing_ok=True)
        package_dir = normalise_layout(staged)
        manifest_path = package_dir / "package.json"
        shown = str(spec) if spec else fetched.location
        if not manifest_path.is_file():
            raise MalformedPackageError(
                f"{shown} from {fetched.location} has no package/package.json",
                details=["it is not a FHIR package; nothing was installed"],
            )
        try:
            manifest = jsonio.load_file(manifest_path)
        except ValueError as exc:
            raise MalformedPackageError(
                f"{shown} from {fetched.location}: package.json is not valid JSON ({exc})"
            ) from exc
        manifest = manifest if isinstance(manifest, dict) else {}
        got = (manifest.get("name"), manifest.get("version"))
        if spec is None:
            if not all(isinstance(v, str) for v in got):
                raise MalformedPackageError(
                    f"{fetched.location}: package.json has no name and version",
                    details=[
                        "a FHIR package.json names the package and its exact version; nothing was installed"
                    ],
                )
            spec = PackageSpec(str(got[0]), str(got[1]))
        elif got != (spec.name, spec.version):
            raise MalformedPackageError(
                f"{fetched.location} delivered {got[0]!r}#{got[1]!r}, not {spec}",
                details=["nothing was installed"],
            )
        ensure_index(package_dir)  # builds .index.json when missing or unusable
        record = {
            "source": fetched.source,
            "location": fetched.location,
            "verified_with": fetched.verified_with or "none (the source published no hash)",
        }
        (staged / INSTALL_RECORD).write_text(jsonio.dumps(record), encoding="utf-8")
        return self._commit(spec, staged, replace_valid=fetched.source == "file")

    def _install_generated(self, spec: PackageSpec, digest: str) -> InstalledPackage:
        with self._scratch() as work:
            staged = work / "staged"
            package_dir = staged / "package"
            package_dir.mkdir(parents=True)
            for filename, doc in ebm_local.package_files().items():
                (package_dir / filename).write_text(jsonio.dumps(doc), encoding="utf-8")
            record = {
                "source": "generated",
                "location": "evidence_publisher.packages.ebm_local",
                "content_sha256": digest,
            }
            (staged / INSTALL_RECORD).write_text(jsonio.dumps(record), encoding="utf-8")
            return self._commit(spec, staged, replace_valid=True)

    def _commit(self, spec: PackageSpec, staged: Path, *, replace_valid: bool) -> InstalledPackage:
        """Move a complete staged package into place with renames only.

        A complete copy that appeared meanwhile (another process installed it) is kept unless
        ``replace_valid``; a broken copy (no package/package.json) is always replaced.
        """
        target = self.root / spec.dirname
        if not replace_valid and (target / "package" / "package.json").is_file():
            self._packages.pop(spec, None)
            pkg = self.get(spec.name, spec.version)
            assert pkg is not None
            return pkg
        try:
            if target.exists():
                # A broken or outdated copy: move it aside first so the swap is two renames.
                old = staged.parent / "replaced"
                os.rename(target, old)
            os.rename(staged, target)
        except OSError as exc:
            raise CacheWriteError(
                f"cannot move {spec} into the cache at {target} ({exc})",
                details=[f"check that {self.root} is writable (or set {CACHE_ENV})"],
            ) from exc
        self._packages.pop(spec, None)
        self._definitions.clear()
        pkg = self.get(spec.name, spec.version)
        assert pkg is not None
        return pkg

    # ---------------------------------------------------------------- scratch space
    def _scratch(self) -> _Scratch:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            path = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self.root))
        except OSError as exc:
            raise CacheWriteError(
                f"cannot create the FHIR package cache at {self.root} ({exc})",
                details=[f"set {CACHE_ENV} to a writable directory"],
            ) from exc
        return _Scratch(path)

    def _clean_stale_tmp(self) -> None:
        """Remove scratch dirs left by a killed install (old enough not to be in use)."""
        if not self.root.is_dir():
            return
        now = time.time()
        for child in self.root.glob(f"{_TMP_PREFIX}*"):
            try:
                if now - child.stat().st_mtime > _STALE_TMP_SECONDS:
                    shutil.rmtree(child, ignore_errors=True)
            except OSError:
                continue


class _MissingRecord:
    """Optional packages that no source could provide lately (``<root>/.ep-missing.json``)."""

    MAX_AGE = 24 * 3600

    def __init__(self, root: Path) -> None:
        self.path = root / ".ep-missing.json"
        try:
            doc = jsonio.load_file(self.path)
        except (OSError, ValueError):
            doc = {}
        self.entries: dict[str, Any] = doc if isinstance(doc, dict) else {}

    def recent(self, spec: PackageSpec) -> bool:
        entry = self.entries.get(str(spec))
        checked = entry.get("checked") if isinstance(entry, dict) else None
        return isinstance(checked, int | float) and time.time() - checked < self.MAX_AGE

    def add(self, spec: PackageSpec, reason: str) -> None:
        self.entries[str(spec)] = {"checked": int(time.time()), "reason": reason}
        self._save()

    def discard(self, spec: PackageSpec) -> None:
        if self.entries.pop(str(spec), None) is not None:
            self._save()

    def _save(self) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, jsonio.dumps(self.entries))


class _Scratch:
    """A temp dir inside the cache root (same filesystem, so the final rename is atomic)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def default_root() -> Path:
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".fhir" / "packages"


def _unavailable(
    failures: Iterable[tuple[PackageSpec, list[str]]], cache: PackageCache
) -> PackageUnavailableError:
    failures = list(failures)
    names = ", ".join(str(s) for s, _ in failures)
    first = failures[0][0]
    details: list[str] = []
    for spec, reasons in failures:
        for reason in reasons:
            details.append(f"{spec}: {reason}")
    details += [
        "To fix it, do one of:",
        f"  - on a machine with network access run `evidence-publisher packages install "
        f"{' '.join(str(s) for s, _ in failures)}`, then copy its package cache "
        f"(the folders {', '.join(s.dirname for s, _ in failures)} under ~/.fhir/packages or "
        f"$FHIR_PACKAGE_CACHE) into {cache.root}",
        f"  - set {REGISTRY_ENV} to a FHIR package registry this machine can reach "
        f"(currently {cache.registry.base_url if cache.registry else 'off'})",
        f"  - install npm (Node.js) so that `npm pack {first.name}@{first.version}` can fetch "
        "it from the npm registry",
    ]
    return PackageUnavailableError(
        f"FHIR package{'s' if len(failures) > 1 else ''} {names} "
        f"{'are' if len(failures) > 1 else 'is'} not in the cache ({cache.root}) and could not "
        "be fetched",
        details=details,
    )
