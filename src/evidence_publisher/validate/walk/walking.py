"""What the checks of the walk may ask of the walker, as a ``Protocol``.

The checks (``extensions``, ``invariants``, ``primitives``, ``profiles``) hand nodes back to the
walker and to each other. Typing them with ``walker.Walker`` itself would make each check and the
walker import one another; they are typed with ``Walking`` instead, which ``Walker`` satisfies.
"""

from __future__ import annotations

from typing import Any, Protocol

from evidence_publisher.validate.model import Constraint, ElementDef, ModelRegistry, TypeModel
from evidence_publisher.validate.walk.bindings import Bindings
from evidence_publisher.validate.walk.context import Node

Entry = tuple[ElementDef, str | None]  # a row of TypeModel.children: element, type (None: its only one)


class InvariantChecks(Protocol):
    def primitive(self, node: Node, value: Any, ext: Any) -> None: ...

    def ext1(self, node: Node, data: dict) -> None: ...

    def constraints_for(
        self, elem: ElementDef, tcode: str, type_model: TypeModel | None
    ) -> tuple[Constraint, ...]: ...


class ExtensionChecks(Protocol):
    def check(self, node: Node, data: dict) -> None: ...


class Walking(Protocol):
    """The walker as its checks see it."""

    # read-only properties, so that the walker's attributes of the concrete classes match them
    @property
    def registry(self) -> ModelRegistry: ...

    @property
    def differential(self) -> list[tuple[str, str, bool, Any, Any, Any]] | None: ...

    @property
    def differential_kinds(self) -> frozenset[str]: ...

    @property
    def bindings(self) -> Bindings: ...

    @property
    def invariants(self) -> InvariantChecks: ...

    @property
    def extensions(self) -> ExtensionChecks: ...

    def member_of(self, value: Any, url: str) -> bool | None: ...

    def node_ids(self, node: Node | None) -> frozenset[str]: ...

    def walk_object(self, node: Node, data: dict, *, is_resource: bool = False) -> None: ...

    def walk_property(
        self, parent: Node, key: str, value: Any, ext: Any, entry: Entry, counts: dict[str, int]
    ) -> None: ...

    def walk_item(self, node: Node, value: Any, ext: Any) -> None: ...

    def cardinality(self, node: Node, table: dict[str, Entry], counts: dict[str, int]) -> None: ...
