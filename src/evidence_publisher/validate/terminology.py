"""Value set membership from the official expansions (CodeSystem content as a fallback)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evidence_publisher.constants import FEVIR_EBM_CODES, SEVCO, SYNTHESIS_TYPE
from evidence_publisher.validate.definitions import DefinitionSource

# Code systems defined only by the EBM implementation guide / FEvIR: not terminology errors.
IG_ONLY_SYSTEMS = frozenset(
    {
        SEVCO,
        "https://fevir.net/resources/CodeSystem/27834",  # RJCS
        FEVIR_EBM_CODES,
    }
)
IG_ONLY_PREFIXES = ("https://fevir.net/resources/",)

# (value set or system, code) pairs the IG fixes although the released terminology lacks them.
WHITELIST = frozenset({(SYNTHESIS_TYPE, "NotApplicable")})


def is_ig_only(system: object) -> bool:
    return isinstance(system, str) and (system in IG_ONLY_SYSTEMS or system.startswith(IG_ONLY_PREFIXES))


@dataclass(slots=True)
class ValueSetIndex:
    url: str
    codes: set[tuple[str, str]] = field(default_factory=set)
    bare_codes: set[str] = field(default_factory=set)
    # systems that are included without an enumeration we can see: membership is unknown
    open_systems: set[str] = field(default_factory=set)
    # True when nothing could be enumerated at all (e.g. SNOMED filters, unknown value set)
    unknown: bool = False

    def contains(self, system: str | None, code: str) -> bool | None:
        """True/False when decidable, None when membership cannot be determined."""
        if not isinstance(code, str) or not isinstance(system, str | None):
            return None  # malformed; the structural checks report it
        if system is None:
            if code in self.bare_codes:
                return True
            return None if self.unknown or self.open_systems else False
        if (system, code) in self.codes or (system, code) in WHITELIST:
            return True
        if self.unknown or system in self.open_systems or is_ig_only(system):
            return None
        return False


class Terminology:
    def __init__(self, definitions: DefinitionSource) -> None:
        self.definitions = definitions
        self._vs: dict[str, ValueSetIndex] = {}
        self._cs: dict[str, tuple[set[str], bool] | None] = {}

    def value_set(self, url: str) -> ValueSetIndex:
        url = url.split("|", 1)[0]
        idx = self._vs.get(url)
        if idx is None:
            idx = ValueSetIndex(url)
            self._vs[url] = idx  # guards against include-valueSet cycles
            self._build(idx, set())
        return idx

    def _code_system(self, system: str) -> tuple[set[str], bool] | None:
        if system in self._cs:
            return self._cs[system]
        cs = self.definitions.code_system(system)
        result = None
        if cs is not None:
            codes: set[str] = set()

            def walk(concepts: list[dict]) -> None:
                for c in concepts:
                    if "code" in c:
                        codes.add(c["code"])
                    walk(c.get("concept", ()))

            walk(cs.get("concept", ()))
            result = (codes, cs.get("content") == "complete")
        self._cs[system] = result
        return result

    def _build(self, idx: ValueSetIndex, seen: set[str]) -> None:
        vs = self.definitions.value_set(idx.url)
        if vs is None:
            idx.unknown = True
            return
        expansion = vs.get("expansion")
        compose = vs.get("compose")
        if expansion and not _truncated(expansion):
            self._add_contains(idx, expansion.get("contains", ()))
            # a grammar-based system (BCP-13 mime types, BCP-47 languages, UCUM ...) included
            # whole cannot be enumerated: its expansion lists only examples
            for inc in (compose or {}).get("include", ()):
                system = inc.get("system")
                if system and not inc.get("concept"):
                    cs = self._code_system(system)
                    if cs is None or not cs[1] or inc.get("filter"):
                        idx.open_systems.add(system)
            return
        if not compose:
            idx.unknown = True
            return
        for inc in compose.get("include", ()):
            system = inc.get("system")
            for vs_url in inc.get("valueSet", ()):
                if system:  # intersection semantics: too rare to model, treat as open
                    idx.open_systems.add(system)
                    continue
                sub = self.value_set(vs_url)
                idx.codes |= sub.codes
                idx.bare_codes |= sub.bare_codes
                idx.open_systems |= sub.open_systems
                idx.unknown = idx.unknown or sub.unknown
            if not system:
                continue
            if inc.get("concept"):
                for c in inc["concept"]:
                    idx.codes.add((system, c["code"]))
                    idx.bare_codes.add(c["code"])
                continue
            cs = None if inc.get("filter") else self._code_system(system)
            if cs is None or not cs[1]:
                idx.open_systems.add(system)
                continue
            for code in cs[0]:
                idx.codes.add((system, code))
                idx.bare_codes.add(code)
        # Exclusions are ignored: they only ever make the check more lenient.

    def _add_contains(self, idx: ValueSetIndex, contains: list[dict]) -> None:
        for c in contains:
            if "code" in c and "system" in c:
                idx.codes.add((c["system"], c["code"]))
                idx.bare_codes.add(c["code"])
            self._add_contains(idx, c.get("contains", ()))


def _truncated(expansion: dict) -> bool:
    total = expansion.get("total")
    if total is None:
        return False
    count = 0
    stack = list(expansion.get("contains", ()))
    while stack:
        c = stack.pop()
        count += 1
        stack.extend(c.get("contains", ()))
    return count < total
