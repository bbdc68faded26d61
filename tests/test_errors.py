"""The error rules of docs/errors.md, checked against the code.

Every error class is named ``...Error``, lives in an ``errors`` module, is raised somewhere and
appears in the documented tree; every other exception class is a documented internal signal;
exit codes are defined once, in ``ExitCode``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import evidence_publisher
from evidence_publisher.errors import EvidencePublisherError, ExitCode

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "evidence_publisher"
DOC = ROOT / "docs" / "errors.md"
PREFIX = "evidence_publisher."


def _import_everything() -> None:
    for info in pkgutil.walk_packages(evidence_publisher.__path__, PREFIX):
        importlib.import_module(info.name)


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def error_classes() -> list[type[EvidencePublisherError]]:
    _import_everything()
    return [c for c in _subclasses(EvidencePublisherError) if c.__module__.startswith(PREFIX)]


def tree_text() -> str:
    """The hierarchy as docs/errors.md shows it: class (module) EXIT_CODE, indented by depth."""
    _import_everything()
    lines: list[str] = []

    def add(cls: type[EvidencePublisherError], depth: int) -> None:
        module = cls.__module__.removeprefix(PREFIX)
        lines.append(f"{'    ' * depth}{cls.__name__} ({module}) {cls.exit_code.name}")
        for sub in sorted(cls.__subclasses__(), key=lambda s: (s.__module__, s.__name__)):
            add(sub, depth + 1)

    add(EvidencePublisherError, 0)
    return "\n".join(lines)


def _doc_block(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split(f"<!-- {marker} -->", 1)[1].split("\n\n", 1)[0]


def _source_trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))}


def test_the_documented_tree_is_the_code() -> None:
    block = _doc_block("error-tree")
    documented = block.split("```text\n", 1)[1].split("\n```", 1)[0]
    assert documented == tree_text(), f"update the tree in docs/errors.md to:\n{tree_text()}"


def test_error_names_end_in_error_and_live_in_an_errors_module() -> None:
    wrong = [
        f"{c.__module__}.{c.__name__}"
        for c in error_classes()
        if not c.__name__.endswith("Error") or c.__module__.rsplit(".", 1)[-1] != "errors"
    ]
    assert wrong == []


def test_every_error_class_is_raised_somewhere() -> None:
    """Constructed in src (``raise X(...)`` or built and raised by a caller), or a base of others."""
    constructed: set[str] = set()
    for tree in _source_trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                constructed.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    never = [c.__name__ for c in error_classes() if c.__name__ not in constructed and not c.__subclasses__()]
    assert never == [], "remove these classes, or raise them where their failure happens"


def test_other_exceptions_are_documented_internal_signals() -> None:
    """An exception class that is not an ``EvidencePublisherError`` must be listed as a signal."""
    table = _doc_block("internal-signals")
    documented = {(m[2], m[1]) for m in re.finditer(r"^\| `(\w+)` \| `([\w.]+)` \|", table, re.M)}
    _import_everything()
    found = {
        (c.__module__.removeprefix(PREFIX), c.__name__)
        for c in _subclasses(BaseException)
        if c.__module__.startswith(PREFIX) and not issubclass(c, EvidencePublisherError)
    }
    assert found == documented, "keep the internal-signals table of docs/errors.md in step"


def test_exit_codes_are_defined_once() -> None:
    values = [int(c) for c in ExitCode.__members__.values()]
    assert len(values) == len(set(values)), "an exit code value is used by two names"
    literal_codes = []
    for path, tree in _source_trees().items():
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [getattr(t, "id", getattr(t, "attr", "")) for t in targets]
                target = node.value if "exit_code" in names else None
            elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "exit", "os._exit"):
                target = node.args[0] if node.args else None
            if isinstance(target, ast.Constant) and isinstance(target.value, int):
                literal_codes.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert literal_codes == [], "use an ExitCode member"


def test_cli_returns_no_bare_numbers() -> None:
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    bare = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Constant)
        and type(node.value.value) is int
    ]
    assert bare == []


def test_every_exit_code_is_used() -> None:
    used = {
        node.attr
        for path, tree in _source_trees().items()
        if path.name != "errors.py" or path.parent != SRC
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "ExitCode"
    }
    assert sorted(set(ExitCode.__members__) - used) == []
