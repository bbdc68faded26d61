"""Applicability conditions on the validator's FHIRPath compiler.

fhirpathpy interprets its parse tree on every call (about 1-2 ms per condition here), which alone
would cap the service near 300 calls/s per core. Conditions therefore run as closures compiled
once by ``validate.fhirpath_compiler``, the engine the validator uses for invariants, which
answers what fhirpathpy answers. ``compile_fast`` returns None for an expression outside the
compiled set, and the closure raises ``Fallback`` where only fhirpathpy can decide; in both cases
the service evaluates with fhirpathpy, the reference. tests/cds/test_cds_fast_fhirpath.py checks
that both agree on the patient bundles the service builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence_publisher.validate.fhirpath_compiler import Env, Fallback, compile_expression, plain, run

__all__ = ["Fallback", "compile_fast"]


def compile_fast(expression: str) -> Callable[[dict[str, Any]], list[Any]] | None:
    """Compile ``expression`` for a context resource, or None when outside the compiled set.

    The returned function takes the context resource (here the patient Bundle), which is also
    ``%resource``/``%rootResource``/``%context``, and may raise ``Fallback``.
    """
    fn = compile_expression(expression)
    if fn is None:
        return None

    def condition(resource: dict[str, Any]) -> list[Any]:
        # fhirpathpy receives the Bundle as a plain dict, not as a typed node
        root = [(resource, None)]
        return plain(run(fn, Env(root, root, root), root))

    return condition
