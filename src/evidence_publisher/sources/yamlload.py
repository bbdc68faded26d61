"""YAML with provenance: every value keeps the line and column it was written at.

The document is built straight from the parser's events (libyaml's when PyYAML has it), with an
explicit stack instead of recursion, so input cost stays bounded:

- aliases are shared, not copied, and each one counts the nodes it stands for against
  ``limits.YAML_NODES``: a "billion laughs" alias bomb stops after the limit, in bounded memory;
- nesting deeper than ``limits.NESTING_DEPTH`` and strings longer than ``limits.STRING_CHARS``
  stop the file with an ``input-limit`` issue at the line where the limit was passed.

Values: decimal integers become ``int``; decimals become ``Decimal`` built from the text as
written (``858.0`` stays ``858.0``); ``true``/``yes``/``no`` ... become ``bool`` and ``null``/``~``
``None``, and for all of these the text as written is kept in ``raw`` so an error can say what YAML
made of it. Plain scalars that YAML 1.1 would read as octal, hexadecimal, binary or sexagesimal
numbers (``012``, ``0x1A``, ``1:30``), timestamps and ``.inf``/``.nan`` stay text as written.
Keys are always the text as written. Duplicate keys, unsupported tags and control characters
(written as escapes in double-quoted strings) are issues.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from evidence_publisher.errors import SourceLocation
from evidence_publisher.limits import NESTING_DEPTH, STRING_CHARS, YAML_NODES, Limit, current
from evidence_publisher.sources.issues import (
    MAX_PER_FILE,
    DuplicateKey,
    InputLimit,
    InvalidValue,
    Issue,
    MoreProblems,
    YamlSyntax,
    field_name,
)
from evidence_publisher.sources.textfile import (
    CONTROL,
    TextFileError,
    control_characters,
    control_issue,
    decode_text,
    read_text,
)

Path_ = tuple[str | int, ...]
Mark = tuple[int, int]  # 1-based line and column

_Loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
_RESOLVER = yaml.resolver.Resolver()
_TAG = "tag:yaml.org,2002:"
_DECIMAL_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)\Z")
_PLAIN_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "merge", "value")}
_COLLECTION_TAGS = {f"{_TAG}seq", f"{_TAG}map"}
PROGRESS_EVERY = 20_000  # events between two progress calls
_LIBYAML_DEPTH = 1000  # libyaml refuses deeper flow nesting itself


class LocatedDocument:
    """Parsed YAML data plus a map from value path to where it was written.

    ``raw`` keeps the text as written of plain scalars that YAML typed as something other than
    text (``yes`` -> True, ``12`` -> 12), for error messages.
    """

    def __init__(
        self,
        file: str,
        data: Any,
        locations: dict[Path_, Mark],
        raw: dict[Path_, str] | None = None,
    ) -> None:
        self.file = file
        self.data = data
        self.locations = locations  # path -> (line, column), both 1-based
        self.raw = raw or {}

    def locate(self, path: Path_) -> SourceLocation:
        """The location of ``path``, or of its nearest written ancestor."""
        p = tuple(path)
        while p:
            if p in self.locations:
                return SourceLocation(self.file, *self.locations[p])
            p = p[:-1]
        return SourceLocation(self.file, *self.locations.get((), (1, 1)))


def load_located(
    path: Path, display_name: str, progress: Callable[[int, int], None] | None = None
) -> tuple[LocatedDocument | None, list[Issue]]:
    """Read and build one mapping file; ``None`` (with the issues) when it cannot be read."""
    return _build_text(lambda: read_text(path, display_name), display_name, progress)


def load_located_bytes(
    data: bytes, display_name: str, progress: Callable[[int, int], None] | None = None
) -> tuple[LocatedDocument | None, list[Issue]]:
    """``load_located`` of a file's bytes already read (within the size limit)."""
    return _build_text(lambda: decode_text(data, display_name), display_name, progress)


def _build_text(
    read: Callable[[], str], display_name: str, progress: Callable[[int, int], None] | None
) -> tuple[LocatedDocument | None, list[Issue]]:
    try:
        text = read()
    except TextFileError as problem:
        return None, [problem.issue]
    bad = control_characters(text, display_name)
    if bad:
        return None, bad
    return parse_located(text, display_name, progress)


def parse_located(
    text: str, display_name: str, progress: Callable[[int, int], None] | None = None
) -> tuple[LocatedDocument | None, list[Issue]]:
    """Build ``text`` into data with locations; ``None`` when the YAML cannot be read at all.

    ``progress`` is called now and then with the characters parsed so far and the total.
    """
    builder = _Builder(display_name)
    total = len(text)
    on_event = None if progress is None else (lambda done: progress(done, total))
    try:
        data = builder.run(yaml.parse(text, Loader=_Loader), on_event)
    except _Stop as stop:
        return None, [*builder.all_issues(), stop.issue]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(display_name, *((mark.line + 1, mark.column + 1) if mark else (0, 0)))
        problem = exc.problem or exc.context or str(exc)
        if "maximum nesting depth" in problem:
            # libyaml's scanner looks ahead and stops at its own depth (1,000) before our count does
            return None, [builder.depth_issue(loc)]
        return None, [
            YamlSyntax(
                loc,
                "",
                f"YAML syntax error: {problem}",
                "fix the YAML syntax at this position (indentation, quoting, a missing colon)",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [YamlSyntax(SourceLocation(display_name), "", f"YAML error: {exc}", "fix the YAML")]
    return LocatedDocument(display_name, data, builder.locations, builder.raw), builder.all_issues()


class _Stop(Exception):
    """The file cannot be built any further (a limit, or a structural YAML error)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(str(issue))
        self.issue = issue


_NO_KEY = object()


class _Frame:
    """An open sequence or mapping."""

    __slots__ = ("anchor", "is_map", "key", "key_mark", "nodes", "path", "value")

    def __init__(self, value: list | dict, path: Path_, anchor: str | None) -> None:
        self.value = value
        self.is_map = isinstance(value, dict)
        self.path = path
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_mark: Mark = (0, 0)
        self.nodes = 1  # nodes of this collection, itself included (what an alias to it costs)

    def child_path(self) -> Path_:
        if self.is_map:
            return (*self.path, self.key if isinstance(self.key, str) else "?")
        return (*self.path, len(self.value))


def _mark(event: yaml.Event) -> Mark:
    at = event.start_mark
    return (at.line + 1, at.column + 1) if at is not None else (0, 0)  # the parser always sets it


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.locations: dict[Path_, Mark] = {}
        self.raw: dict[Path_, str] = {}
        self.issues: list[Issue] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, node count)
        self.open_anchors: set[str] = set()
        self.max_nodes = current(YAML_NODES)
        self.max_depth = current(NESTING_DEPTH)
        self.max_chars = current(STRING_CHARS)
        self.nodes = 0
        self.hidden = 0
        self.last_hidden = SourceLocation(file)
        self.stack: list[_Frame] = []
        self.root: list[Any] = []

    def _add(self, issue: Issue) -> None:
        # kept bounded: a file of a million repeated keys must not hold a million issues
        if len(self.issues) < MAX_PER_FILE:
            self.issues.append(issue)
        else:
            self.hidden += 1
            self.last_hidden = issue.location

    def all_issues(self) -> list[Issue]:
        if not self.hidden:
            return self.issues
        return [*self.issues, MoreProblems.of(self.last_hidden, self.hidden)]

    def _at(self, event: yaml.Event) -> SourceLocation:
        return SourceLocation(self.file, *_mark(event))

    def _limit(self, event: yaml.Event, limit: Limit, found: str) -> _Stop:
        return _Stop(
            InputLimit(
                self._at(event),
                "",
                f"{found}, over the {limit.name} limit of {current(limit):,} {limit.unit}",
                f"simplify the file, or if it is genuine raise the limit with {limit.how_to_raise}",
            )
        )

    def depth_issue(self, at: SourceLocation) -> Issue:
        return InputLimit(
            at,
            "",
            f"nesting of more than {min(self.max_depth, _LIBYAML_DEPTH):,} levels, over the "
            f"{NESTING_DEPTH.name} limit of {self.max_depth:,} {NESTING_DEPTH.unit}"
            + (f" (libyaml stops at {_LIBYAML_DEPTH:,})" if self.max_depth > _LIBYAML_DEPTH else ""),
            f"simplify the file, or if it is genuine raise the limit with {NESTING_DEPTH.how_to_raise}",
        )

    def _count(self, event: yaml.Event, n: int) -> None:
        self.nodes += n
        if self.nodes > self.max_nodes:
            what = "aliases expand to more than" if isinstance(event, yaml.AliasEvent) else "more than"
            raise self._limit(event, YAML_NODES, f"{what} {self.max_nodes:,} YAML nodes")

    def _child_path(self) -> Path_:
        return self.stack[-1].child_path() if self.stack else ()

    def run(self, events: Any, progress: Callable[[int], None] | None) -> Any:
        documents = 0
        for n, event in enumerate(events):
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self._count(event, 1)
                self._attach(self._scalar(event), _mark(event), 1)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._start(event)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = self.stack.pop()
                if frame.anchor:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (frame.value, frame.nodes)
                self._attach(frame.value, self.locations[frame.path], frame.nodes)
            elif kind is yaml.AliasEvent:
                self._alias(event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Stop(
                        YamlSyntax(
                            self._at(event),
                            "",
                            "a second YAML document starts here; a mapping file holds one document",
                            "remove the '---' line and what follows, or move it to its own file",
                        )
                    )
            if progress is not None and n % PROGRESS_EVERY == 0 and n:
                progress(event.start_mark.index)
        return self.root[0] if self.root else None

    def _start(self, event: yaml.CollectionStartEvent) -> None:
        self._count(event, 1)
        if len(self.stack) >= self.max_depth:
            raise self._limit(event, NESTING_DEPTH, f"nesting of more than {self.max_depth} levels")
        self._check_tag(event, _COLLECTION_TAGS)
        path = self._child_path()
        self.locations[path] = _mark(event)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        value: dict | list = {} if type(event) is yaml.MappingStartEvent else []
        self.stack.append(_Frame(value, path, event.anchor))

    def _alias(self, event: yaml.AliasEvent) -> None:
        anchor = event.anchor
        if anchor not in self.anchors:
            problem = (
                f"alias *{anchor} refers to the collection that contains it"
                if anchor in self.open_anchors
                else f"alias *{anchor} refers to no anchor &{anchor} written before it"
            )
            raise _Stop(YamlSyntax(self._at(event), "", problem, f"define &{anchor} before using *{anchor}"))
        value, nodes = self.anchors[anchor]
        self._count(event, nodes)
        self._attach(value, _mark(event), nodes)

    def _attach(self, value: Any, mark: Mark, nodes: int) -> None:
        """Put a finished value into the open collection (as a key, a mapping value or an item)."""
        if not self.stack:
            self.root.append(value)
            self.locations[()] = mark
            return
        parent = self.stack[-1]
        parent.nodes += nodes
        if isinstance(parent.value, list):
            self.locations[(*parent.path, len(parent.value))] = mark
            parent.value.append(value)
            return
        if parent.key is _NO_KEY:
            if not isinstance(value, str):
                self._add(
                    InvalidValue(
                        SourceLocation(self.file, *mark),
                        field_name(parent.path),
                        "a key must be plain text (not a list, a mapping or an alias)",
                        "write the key as text",
                    )
                )
                value = "?"
            parent.key, parent.key_mark = value, mark
            return
        key, key_mark = parent.key, parent.key_mark
        parent.key = _NO_KEY
        path = (*parent.path, key)
        if key in parent.value:
            self._add(
                DuplicateKey(
                    SourceLocation(self.file, *key_mark),
                    field_name(path),
                    f"key {key!r} appears twice in the same mapping; YAML keeps only one",
                    "remove or rename one of the two entries",
                )
            )
        elif key == "<<":
            self._add(
                InvalidValue(
                    SourceLocation(self.file, *key_mark),
                    field_name(path),
                    "YAML merge keys (<<) are not supported in mapping files",
                    "write the keys out",
                )
            )
        parent.value[key] = value
        self.locations[path] = key_mark

    def _check_tag(self, event: Any, allowed: set[str]) -> None:
        tag = event.tag
        if tag is None or tag == "!" or tag in allowed:
            return
        self._add(
            InvalidValue(
                self._at(event),
                field_name(self._child_path()),
                f"the YAML tag {tag.replace(_TAG, '!!')} is not supported in mapping files",
                "remove the tag; write plain values (quote text that looks like a number)",
            )
        )

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        text = event.value
        if len(text) > self.max_chars:
            raise self._limit(event, STRING_CHARS, f"a string of {len(text):,} characters")
        if event.style == '"':
            bad = CONTROL.search(text)
            if bad:
                self._add(
                    control_issue(self._at(event), field_name(self._child_path()), bad.group(), escaped=True)
                )
        stack = self.stack
        if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
            self._check_tag(event, _PLAIN_TAGS)
            return text  # keys are text as written
        if event.tag is None or event.tag == "!":
            if event.style or not event.implicit[0]:
                return text  # quoted or block scalar
            # types-PyYAML leaves Resolver.resolve unannotated
            tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        else:
            self._check_tag(event, _PLAIN_TAGS)
            tag = event.tag
        if tag == _STR:
            return text
        value = _typed(tag, text)
        if not isinstance(value, str):
            self.raw[self._child_path()] = text
        return value


_STR = f"{_TAG}str"


def _typed(tag: str, text: str) -> Any:
    """The value of a scalar with this (resolved) tag; text where a conversion would guess."""
    if tag == f"{_TAG}int":
        return int(text.replace("_", "")) if _DECIMAL_INT.match(text) else text
    if tag == f"{_TAG}float":
        if ":" in text:
            return text  # sexagesimal (YAML 1.1)
        try:
            value = Decimal(text.replace("_", ""))
        except InvalidOperation:
            return text
        return value if value.is_finite() else text
    if tag == f"{_TAG}bool":
        return text.lower() in ("yes", "true", "on")
    if tag == f"{_TAG}null":
        return None
    return text
