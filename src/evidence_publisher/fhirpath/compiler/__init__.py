"""FHIRPath compiled to Python closures, answering what fhirpathpy answers.

fhirpathpy (the reference engine) interprets its parse tree on every call; on the R5 examples
that interpretation would be most of the validator's time. This subpackage walks the same parse
tree once per expression and returns a closure. Its semantics are fhirpathpy's own, including
its choices where the FHIRPath specification leaves room (string comparison of date strings,
first-item equality, truthiness inside ``where``): a faster engine that answered differently
would change what the validator reports.

Modules follow the specification's chapters: paths (§3, §5.8), existence (§5.1), filtering
(§5.2-5.4), conversion (§5.5, §5.9), strings (§5.6), operators (§6.1-6.2, §6.4-6.6), types
(§6.3), fhir (FHIR's additions); core holds the shared representation and compile the walk.

Two signals hand an evaluation to fhirpathpy (expressions.py counts both, fallbacks.py):

* ``Unsupported`` at compile time: a function or operator outside the compiled set.
* ``Fallback`` at run time: date/time and Quantity arithmetic, a non-boolean operand of a
  logical operator, anything where fhirpathpy would raise or convert.
"""

from evidence_publisher.fhirpath.compiler.compile import compile_tree
from evidence_publisher.fhirpath.compiler.core import Coll, Env, Fallback, Fn, Unsupported

__all__ = ["Coll", "Env", "Fallback", "Fn", "Unsupported", "compile_tree", "plain"]


def plain(coll: Coll) -> list:
    """The values of a result, as fhirpathpy returns them (it drops bare primitive extensions)."""
    return [v for v, _ in coll if not (isinstance(v, dict) and list(v) == ["extension"])]
