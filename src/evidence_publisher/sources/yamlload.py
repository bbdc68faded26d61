"""YAML with provenance: every value keeps the line and column it was written at.

Floats become ``Decimal`` built from the text as written (``858.0`` stays ``858.0``); dates and
timestamps stay strings; duplicate keys are errors (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from evidence_publisher.errors import SourceLocation
from evidence_publisher.sources.issues import DuplicateKey, Issue, YamlSyntax, field_name

Path_ = tuple[str | int, ...]

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


class LocatedDocument:
    """Parsed YAML data plus a map from value path to where it was written."""

    def __init__(self, file: str, data: Any, locations: dict[Path_, SourceLocation]) -> None:
        self.file = file
        self.data = data
        self.locations = locations

    def locate(self, path: Path_) -> SourceLocation:
        """The location of ``path``, or of its nearest written ancestor."""
        p = tuple(path)
        while p:
            if p in self.locations:
                return self.locations[p]
            p = p[:-1]
        return self.locations.get((), SourceLocation(self.file, 1, 1))


def load_located(path: Path, display_name: str) -> tuple[LocatedDocument | None, list[Issue]]:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = (
            SourceLocation(display_name, mark.line + 1, mark.column + 1)
            if mark
            else SourceLocation(display_name)
        )
        return None, [
            YamlSyntax(
                loc,
                "",
                f"YAML syntax error: {exc.problem or exc}",
                "fix the YAML syntax at this position (indentation, quoting, a missing colon)",
            )
        ]
    locations: dict[Path_, SourceLocation] = {}
    issues: list[Issue] = []
    builder = _Builder(display_name, locations, issues)
    data = builder.build(node, ()) if node is not None else None
    return LocatedDocument(display_name, data, locations), issues


class _Builder:
    def __init__(self, file: str, locations: dict[Path_, SourceLocation], issues: list[Issue]):
        self.file = file
        self.locations = locations
        self.issues = issues
        self._loader = yaml.SafeLoader("")

    def _loc(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.locations[path] = self._loc(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.build_scalar(key_node)
                key = key if isinstance(key, str) else str(key)
                if key in out:
                    self.issues.append(
                        DuplicateKey(
                            self._loc(key_node),
                            field_name((*path, key)),
                            f"key {key!r} appears twice in the same mapping; YAML keeps only one",
                            "remove or rename one of the two entries",
                        )
                    )
                out[key] = self.build(value_node, (*path, key))
                self.locations[(*path, key)] = self._loc(key_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.build_scalar(node)

    def build_scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return str(node.value)
        tag = node.tag
        if node.style in ("'", '"', "|", ">"):
            return node.value
        if tag == _INT:
            return self._loader.construct_yaml_int(node)
        if tag == _FLOAT:
            try:
                value = Decimal(node.value.replace("_", ""))
            except InvalidOperation:
                return node.value  # .inf / .nan: leave as text, the schema rejects it
            return value if value.is_finite() else node.value
        if tag == _BOOL:
            return self._loader.construct_yaml_bool(node)
        if tag == _NULL:
            return None
        return node.value  # str, and timestamps kept as written
