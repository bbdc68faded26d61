"""packages stage: the FHIR package cache (install, index, look up definitions).

Typical use::

    cache = PackageCache.default()
    cache.ensure(progress=print_line)          # installs the pinned defaults when missing
    defs = cache.definitions()
    sd = defs.structure_definition("Evidence")
"""

from evidence_publisher.packages.cache import CACHE_ENV, PackageCache, default_root
from evidence_publisher.packages.definitions import Definitions
from evidence_publisher.packages.errors import (
    CacheWriteError,
    InvalidPackageSpecError,
    MalformedPackageError,
    PackageInputError,
    PackageIntegrityError,
    PackageUnavailableError,
    UnsafeArchiveError,
)
from evidence_publisher.packages.installed import InstalledPackage
from evidence_publisher.packages.sources import DEFAULT_REGISTRY, REGISTRY_ENV
from evidence_publisher.packages.spec import (
    DEFAULT_PACKAGES,
    EXTENSIONS_R5,
    EXTENSIONS_R5_BALLOT,
    LOCAL_EBM_PACKAGE,
    OPTIONAL_DEFAULTS,
    R5_CORE,
    R5_EXAMPLES,
    R5_EXPANSIONS,
    STAND_INS,
    TERMINOLOGY_R5,
    PackageSpec,
    default_packages,
    foreign_core_names,
    is_prerelease,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_PACKAGES",
    "DEFAULT_REGISTRY",
    "EXTENSIONS_R5",
    "EXTENSIONS_R5_BALLOT",
    "LOCAL_EBM_PACKAGE",
    "OPTIONAL_DEFAULTS",
    "R5_CORE",
    "R5_EXAMPLES",
    "R5_EXPANSIONS",
    "REGISTRY_ENV",
    "STAND_INS",
    "TERMINOLOGY_R5",
    "CacheWriteError",
    "Definitions",
    "InstalledPackage",
    "InvalidPackageSpecError",
    "MalformedPackageError",
    "PackageCache",
    "PackageInputError",
    "PackageIntegrityError",
    "PackageSpec",
    "PackageUnavailableError",
    "UnsafeArchiveError",
    "default_packages",
    "default_root",
    "foreign_core_names",
    "is_prerelease",
]
