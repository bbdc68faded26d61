"""An in-memory stand-in for a HAPI FHIR JPA server (R5), for pytest-httpserver.

It reproduces the publishing-path behaviours listed in docs/publishing.md, "HAPI behaviours we rely
on" (transaction-response shape, storage response codes, conditional create/update with 0/1/2
matches, unchanged content keeping its version, atomic rollback, ``urn:uuid`` resolution including
canonical/uri rewriting, referential integrity, the HAPI error codes) and can inject faults HAPI
never produces itself (429/503 with Retry-After, a dropped connection, a response slower than the
client's read timeout).

Use it with ``httpserver.expect_request(re.compile(".*")).respond_with_handler(standin.handle)``
(see ``conftest.py``); ``bench/bench_publish.py`` runs the same class in a subprocess.

Approximations (documented, not hidden):
- ids are server-assigned sequential numbers across all types (HAPI's default strategy);
- search supports ``_id``, ``url``, ``version``, ``identifier``, ``status``, ``name``, ``title``,
  ``type`` (exact match; ``type`` on a code or a CodeableConcept's codings), ``_elements`` and
  ``_count`` (no paging: every match is returned);
- which strings count as ``uri``/``canonical`` for placeholder rewriting is decided without a
  schema: every string value equal to a placeholder, except inside an ``identifier``;
- error codes not confirmed against HAPI source are marked "code unverified".
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from werkzeug import Request, Response

from evidence_publisher import jsonio

XHTML_NS = "http://www.w3.org/1999/xhtml"
STORAGE_CODE_SYSTEM = "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code"
FHIR_JSON = "application/fhir+json;charset=utf-8"
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CANONICAL = {
    "url",
    "version",
    "identifier",
    "status",
    "name",
    "title",
    "date",
    "description",
    "publisher",
    "context",
    "context-type",
    "jurisdiction",
    "derived-from",
    "effective",
}
SEARCH_PARAMS: dict[str, set[str]] = {
    "Citation": _CANONICAL | {"classification", "classifier"},
    "Evidence": _CANONICAL,
    "EvidenceVariable": _CANONICAL,
    "PlanDefinition": _CANONICAL | {"type", "definition", "depends-on", "topic"},
    "ActivityDefinition": _CANONICAL | {"kind", "topic"},
    "Library": _CANONICAL | {"type", "topic"},
    "Composition": _CANONICAL | {"type", "subject", "author"},
    "ArtifactAssessment": {"date", "identifier"},  # R5: no url/version, no artifact parameter
    "Group": {"identifier", "type", "code", "name", "member", "characteristic", "managing-entity"},
    # R5 ResearchStudy has url/version elements but no url/version search parameters
    "ResearchStudy": {"identifier", "status", "title", "name", "date", "phase", "condition", "study-design"},
    "Patient": {"identifier", "name", "birthdate", "gender"},
    "Organization": {"identifier", "name"},
}
COMMON_PARAMS = {"_id", "_lastUpdated", "_elements", "_count", "_summary", "_sort", "_total"}
IMPLEMENTED_PARAMS = {"_id", "url", "version", "identifier", "status", "name", "title", "type"}
READ_ONLY_PARAMS = {"_elements", "_count", "_summary", "_sort", "_total"}
# Reference paths that an R5 search parameter of type reference indexes (hl7.fhir.r5.core 5.0.0
# SearchParameter expressions, for the types above). HAPI checks referential integrity and
# refuses external references only there; any other reference is stored as sent.
INDEXED_REFERENCE_PATHS = frozenset(
    {
        "Composition.subject",
        "Composition.author",
        "Composition.attester.party",
        "Composition.encounter",
        "Composition.event.detail.reference",
        "Composition.relatesTo.resourceReference",
        "Composition.section.entry",
        "Group.member.entity",
        "Group.managingEntity",
        "Group.characteristic.valueReference",
        "Patient.generalPractitioner",
        "Patient.managingOrganization",
        "Patient.link.other",
        "Organization.partOf",
        "Organization.endpoint",
    }
)
PLACEHOLDER = re.compile(r"^urn:(uuid|oid):")
_URL_PLACEHOLDER = re.compile(r"urn(?::|%3A)(?:uuid|oid)(?::|%3A)[A-Za-z0-9.\-]+")
RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_VERB_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 3, "GET": 4, "HEAD": 4}


class HapiError(Exception):
    """An error HAPI answers with an OperationOutcome (diagnostics ``HAPI-NNNN: msg``)."""

    def __init__(self, status: int, code: int, message: str, issue_code: str = "processing"):
        super().__init__(f"HAPI-{code:04d}: {message}")
        self.status = status
        self.diagnostics = f"HAPI-{code:04d}: {message}"
        self.issue_code = issue_code


@dataclass
class Fault:
    """One injected fault. ``kind``: ``status`` (answer ``status`` with ``retry_after``, process
    nothing), ``drop`` (close the connection before processing), ``drop_after_commit`` (process,
    then close the connection so the response is lost), ``slow`` (process, then wait ``delay``
    seconds before answering)."""

    kind: str
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    method: str | None = None
    path: str | None = None  # regex matched against the path below the base

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return not (self.path and not re.search(self.path, path))


def outcome_error(diagnostics: str, issue_code: str = "processing") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><pre>{diagnostics}</pre></div>',
        },
        "issue": [{"severity": "error", "code": issue_code, "diagnostics": diagnostics}],
    }


def _storage_outcome(code: str, diagnostics: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "details": {"coding": [{"system": STORAGE_CODE_SYSTEM, "code": code}]},
                "diagnostics": diagnostics,
            }
        ],
    }


def _strip_server_fields(res: dict) -> dict:
    out = {k: v for k, v in res.items() if k != "id"}
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated", "source")}
        if meta:
            out["meta"] = meta
        else:
            out.pop("meta")
    return out


def _xhtml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _xhtml_write(elem: ElementTree.Element, root: bool = False) -> str:
    tag = elem.tag.rsplit("}", 1)[-1]
    attrs = [(k.rsplit("}", 1)[-1], v) for k, v in elem.attrib.items()]
    if root:
        attrs.insert(0, ("xmlns", XHTML_NS))
    # HAPI keeps attributes in a hash map: their order is not the order sent
    attrs = attrs[:1] + attrs[:0:-1] if root else attrs[::-1]
    head = tag + "".join(f' {k}="{_xhtml_escape(v)}"' for k, v in attrs)
    inner = _xhtml_escape(elem.text or "") + "".join(
        _xhtml_write(child) + _xhtml_escape(child.tail or "") for child in elem
    )
    return f"<{head}>{inner}</{tag}>" if inner else f"<{head}/>"


def hapi_narrative(div: str) -> str:
    """``div`` as HAPI stores it: parsed and written again, so character references come back
    as the characters (``&#x27;`` -> ``'``), ``&quot;`` stays, and attribute order changes."""
    try:
        return _xhtml_write(ElementTree.fromstring(div), root=True)
    except ElementTree.ParseError:
        return div


def _as_stored(res: dict) -> dict:
    """``res`` as HAPI keeps it: the narrative re-serialised (``hapi_narrative``), and
    ``meta.profile``, ``meta.tag`` and ``meta.security`` as sorted sets (seen on HAPI 8.8.0:
    a read returns them sorted, and a reordered re-send is no change)."""
    text = res.get("text")
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        res = {**res, "text": {**text, "div": hapi_narrative(text["div"])}}
    meta = res.get("meta")
    if isinstance(meta, dict):
        meta = dict(meta)
        if isinstance(meta.get("profile"), list):
            meta["profile"] = sorted(set(meta["profile"]))
        for key in ("tag", "security"):
            if isinstance(meta.get(key), list):
                meta[key] = sorted(meta[key], key=lambda c: (c.get("system", ""), c.get("code", "")))
        res = {**res, "meta": meta}
    return res


def _canon(res: dict) -> str:
    return jsonio.dumps(_strip_server_fields(res), indent=None)


def _index_keys(res: dict) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = {("_id", res.get("id", ""))}
    for field in ("url", "version", "status", "name", "title"):
        value = res.get(field)
        if isinstance(value, str):
            keys.add((field, value))
    kind = res.get("type")  # a code (Group) or a CodeableConcept (PlanDefinition, Library, ...)
    if isinstance(kind, str):
        keys.add(("type", kind))
    elif isinstance(kind, dict):
        for coding in kind.get("coding", []) or []:
            if coding.get("code"):
                keys.add(("type", coding["code"]))
                keys.add(("type", f"{coding.get('system', '')}|{coding['code']}"))
    for ident in res.get("identifier", []) or []:
        if not isinstance(ident, dict):
            continue
        system, value = ident.get("system", ""), ident.get("value")
        if value is None:
            continue
        keys.add(("identifier", f"{system}|{value}"))
        keys.add(("identifier:value", value))
    return keys


def _param_keys(name: str, raw: str) -> list[tuple[str, str]]:
    """The index keys any of which satisfies ``name=raw`` (a comma is OR)."""
    keys = []
    for value in raw.split(","):
        if name == "identifier":
            keys.append(("identifier", value) if "|" in value else ("identifier:value", value))
        else:
            keys.append((name, value))
    return keys


def _walk_strings(
    node: Any, fn: Callable[[str, str], str | None], key: str = "", in_identifier: bool = False
) -> Any:
    """Copy ``node``, replacing each string ``s`` under key ``k`` by ``fn(k, s)`` when not None."""
    if isinstance(node, dict):
        return {k: _walk_strings(v, fn, k, in_identifier or k == "identifier") for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_strings(v, fn, key, in_identifier) for v in node]
    if isinstance(node, str) and not (in_identifier and key != "reference"):
        new = fn(key, node)
        return node if new is None else new
    return node


def _iter_references(node: Any, path: str):
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield path, ref
        for k, v in node.items():
            if k not in ("reference", "contained"):
                yield from _iter_references(v, f"{path}.{k}")
    elif isinstance(node, list):
        for item in node:
            yield from _iter_references(item, path)


class _Txn:
    """Writes staged by one transaction (or one REST call); visible to its own later reads.

    Staged resources have their own search index, so a transaction of n conditional writes
    costs O(n) index lookups rather than O(n^2) scans."""

    def __init__(self, server: HapiStandIn):
        self.server = server
        self.writes: dict[tuple[str, str], dict] = {}
        self._ids: dict[str, set[str]] = {}
        self._index: dict[str, dict[tuple[str, str], set[str]]] = {}

    def stage(self, rtype: str, rid: str, res: dict) -> None:
        index = self._index.setdefault(rtype, {})
        old = self.writes.get((rtype, rid))
        if old is not None:
            for key in _index_keys(old):
                index.get(key, set()).discard(rid)
        self.writes[(rtype, rid)] = res
        self._ids.setdefault(rtype, set()).add(rid)
        for key in _index_keys(res):
            index.setdefault(key, set()).add(rid)

    def current(self, rtype: str, rid: str) -> dict | None:
        staged = self.writes.get((rtype, rid))
        if staged is not None:
            return staged
        versions = self.server.resources.get(rtype, {}).get(rid)
        return versions[-1] if versions else None

    def exists(self, rtype: str, rid: str) -> bool:
        return self.current(rtype, rid) is not None

    def search(self, rtype: str, params: list[tuple[str, str]]) -> list[str]:
        ids = set(self.server.search_ids(rtype, params))
        staged = self._ids.get(rtype)
        if staged:
            ids -= staged
            found = _match(self._index.get(rtype, {}), params)
            ids |= staged if found is None else found
        return sorted(ids, key=_id_sort_key)


def _match(index: dict[tuple[str, str], set[str]], params: list[tuple[str, str]]) -> set[str] | None:
    """Ids in ``index`` matching every parameter; None when no parameter filters."""
    result: set[str] | None = None
    for name, raw in params:
        if name in READ_ONLY_PARAMS:
            continue
        found: set[str] = set()
        for key in _param_keys(name, raw):
            found |= index.get(key, set())
        result = found if result is None else result & found
    return result


def _id_sort_key(rid: str) -> tuple[int, str]:
    return (0, f"{int(rid):020d}") if rid.isdigit() else (1, rid)


class HapiStandIn:
    def __init__(
        self,
        base_path: str = "/fhir",
        *,
        fhir_version: str = "5.0.0",
        resource_types: list[str] | None = None,
        missing_interactions: set[str] | None = None,
        emit_outcome: bool = True,
        clock: Callable[[], datetime] | None = None,
        auth_check: Callable[[Request], bool] | None = None,
        extra_routes: dict[str, Callable[[Request], Response]] | None = None,
        search_cache_seconds: float = 60.0,
        honour_no_cache: bool = True,
    ) -> None:
        self.base_path = base_path.rstrip("/")
        self.fhir_version = fhir_version
        self.resource_types = sorted(resource_types or SEARCH_PARAMS)
        self.missing_interactions = missing_interactions or set()
        self.emit_outcome = emit_outcome
        self.clock = clock or (lambda: datetime.now(UTC))
        self.auth_check = auth_check
        self.extra_routes = extra_routes or {}
        self.resources: dict[str, dict[str, list[dict]]] = {}
        self._canon: dict[tuple[str, str], str] = {}
        self._index: dict[str, dict[tuple[str, str], set[str]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.faults: deque[Fault] = deque()
        self.requests: list[tuple[str, str]] = []  # (method, full path with query)
        self.commits = 0
        # HAPI reuses the result of an identical search for reuse_cached_search_results_millis
        # (60 s by default) unless the request says Cache-Control: no-cache / no-store.
        self.search_cache_seconds = search_cache_seconds
        self.honour_no_cache = honour_no_cache
        self._search_cache: dict[tuple, tuple[float, list[str]]] = {}

    # ---------------------------------------------------------------- test helpers
    def inject(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    def all_current(self, rtype: str | None = None) -> list[dict]:
        types = [rtype] if rtype else sorted(self.resources)
        return [v[-1] for t in types for _, v in sorted(self.resources.get(t, {}).items())]

    def history(self, rtype: str, rid: str) -> list[dict]:
        return list(self.resources.get(rtype, {}).get(rid, []))

    def count(self) -> int:
        return sum(len(v) for v in self.resources.values())

    def seed(self, resource: dict) -> dict:
        """Store ``resource`` directly (no checks), as if created earlier; returns the copy."""
        with self._lock:
            txn = _Txn(self)
            rid = resource.get("id") or self._new_id()
            stored = self._stage(txn, resource["resourceType"], rid, resource)
            self._commit(txn)
            return stored

    # ---------------------------------------------------------------- store
    def _new_id(self) -> str:
        return str(next(self._ids))

    def search_ids(self, rtype: str, params: list[tuple[str, str]]) -> list[str]:
        result = _match(self._index.get(rtype, {}), params)
        if result is None:
            result = set(self.resources.get(rtype, {}))
        return sorted(result, key=_id_sort_key)

    def _stage(self, txn: _Txn, rtype: str, rid: str, body: dict) -> dict:
        """Stage ``body`` as the new current version of ``rtype/rid``; unchanged content keeps
        the current version (``suppressUpdatesWithNoChange``). Returns the stored resource."""
        previous = txn.current(rtype, rid)
        new = _as_stored({**body, "resourceType": rtype, "id": rid})
        if previous is not None:
            committed = (rtype, rid) not in txn.writes
            before = self._canon.get((rtype, rid)) if committed else None
            if (before or _canon(previous)) == _canon(new):
                return previous
        version = int(previous["meta"]["versionId"]) + 1 if previous else 1
        meta = {k: v for k, v in (new.get("meta") or {}).items() if k != "source"}
        now = self.clock()
        meta["versionId"] = str(version)
        meta["lastUpdated"] = now.isoformat(timespec="milliseconds")
        new["meta"] = meta
        txn.stage(rtype, rid, new)
        return new

    def _commit(self, txn: _Txn) -> None:
        for (rtype, rid), res in txn.writes.items():
            versions = self.resources.setdefault(rtype, {}).setdefault(rid, [])
            index = self._index.setdefault(rtype, {})
            if versions:
                for key in _index_keys(versions[-1]):
                    index.get(key, set()).discard(rid)
            versions.append(res)
            self._canon[(rtype, rid)] = _canon(res)
            for key in _index_keys(res):
                index.setdefault(key, set()).add(rid)
        if txn.writes:
            self.commits += 1

    # ---------------------------------------------------------------- HTTP entry point
    def handle(self, request: Request) -> Response:
        path = request.path
        self.requests.append((request.method, request.full_path.rstrip("?")))
        route = self.extra_routes.get(path)
        if route is not None:
            return route(request)
        if not path.startswith(self.base_path):
            return self._error_response(HapiError(404, 302, f"Unknown path {path!r}"))
        sub = path[len(self.base_path) :].strip("/")
        fault = self._take_fault(request.method, sub)
        if fault is not None and fault.kind == "status":
            resp = self._error_response(
                HapiError(fault.status, 0, "injected fault (HAPI never sends this itself)"),
            )
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = fault.retry_after
            return resp
        if fault is not None and fault.kind == "drop":
            return self._drop(request)
        if self.auth_check is not None and not self.auth_check(request):
            resp = self._error_response(HapiError(401, 0, "Unauthorized"))
            resp.headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
            return resp
        with self._lock:
            try:
                resp = self._route(request, sub)
            except HapiError as exc:
                resp = self._error_response(exc)
        if fault is not None and fault.kind == "drop_after_commit":
            return self._drop(request)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        return resp

    def _take_fault(self, method: str, sub: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.matches(method, sub):
                    del self.faults[i]
                    return fault
        return None

    @staticmethod
    def _drop(request: Request) -> Response:
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            # Send a TCP reset rather than a clean FIN so the client sees a dropped connection.
            linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # on, 0 s
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            sock.shutdown(socket.SHUT_RDWR)
        return Response(b"", status=500)

    def _json(self, body: Any, status: int = 200, headers: dict | None = None) -> Response:
        resp = Response(jsonio.dumps(body, indent=None), status=status, content_type=FHIR_JSON)
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def _error_response(self, exc: HapiError) -> Response:
        return self._json(outcome_error(exc.diagnostics, exc.issue_code), exc.status)

    def _base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/") + self.base_path

    # ---------------------------------------------------------------- routing
    def _route(self, request: Request, sub: str) -> Response:
        parts = [p for p in sub.split("/") if p]
        method = request.method
        query = parse_qsl(request.query_string.decode(), keep_blank_values=True)
        if not parts:
            if method != "POST":
                raise HapiError(400, 0, f"{method} on the server base is not supported")
            return self._post_bundle(request)
        if parts == ["metadata"]:
            return self._json(self.capability_statement(request))
        rtype = parts[0]
        if rtype not in self.resource_types and not (rtype == "Bundle" and method == "POST"):
            raise HapiError(
                404,
                302,
                f"Unknown resource type '{rtype}' - Server knows how to handle: "
                f"{self.resource_types}",  # code unverified
            )
        if len(parts) == 1:
            if method == "GET":
                return self._json(self._search_bundle(request, _Txn(self), rtype, query))
            if method == "POST":
                if rtype == "Bundle":
                    return self._post_to_bundle_endpoint(request)
                return self._rest_create(request, rtype)
            if method == "PUT":
                return self._rest_write(request, rtype, None, query)
        if len(parts) == 2 and parts[1] == "$validate" and method == "POST":
            return self._validate(request, rtype)
        if len(parts) == 2:
            if method == "GET":
                res = self._read(_Txn(self), rtype, parts[1])
                return self._json(res, headers=self._rest_headers(request, res))
            if method == "PUT":
                return self._rest_write(request, rtype, parts[1], query)
        if len(parts) == 3 and parts[2] == "_history" and method == "GET":
            return self._json(self._history_bundle(request, rtype, parts[1]))
        if len(parts) == 4 and parts[2] == "_history" and method == "GET":
            versions = self.resources.get(rtype, {}).get(parts[1])
            if not versions or not parts[3].isdigit() or not 1 <= int(parts[3]) <= len(versions):
                raise HapiError(
                    404, 979, f'Version "{parts[3]}" is not valid for resource {rtype}/{parts[1]}'
                )  # code unverified
            return self._json(versions[int(parts[3]) - 1])
        raise HapiError(400, 0, f"{method} {sub!r} is not supported by the stand-in")

    def capability_statement(self, request: Request | None = None) -> dict:
        interactions = ["read", "vread", "update", "create", "search-type", "history-instance"]
        resources = []
        for rtype in self.resource_types:
            inter = [i for i in interactions if f"{rtype}:{i}" not in self.missing_interactions]
            resources.append(
                {
                    "type": rtype,
                    "interaction": [{"code": i} for i in inter],
                    "searchParam": [{"name": n, "type": "token"} for n in sorted(SEARCH_PARAMS[rtype])],
                }
            )
        system = [
            i
            # HAPI serves batch Bundles with its transaction method and lists only 'transaction'
            for i in ("transaction", "history-system")
            if i not in self.missing_interactions
        ]
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": self.fhir_version,
            "format": ["application/fhir+xml", "application/fhir+json"],
            "software": {"name": "HAPI FHIR stand-in", "version": "8.x"},
            "rest": [{"mode": "server", "resource": resources, "interaction": [{"code": i} for i in system]}],
        }

    def _read(self, txn: _Txn, rtype: str, rid: str) -> dict:
        res = txn.current(rtype, rid)
        if res is None:
            raise HapiError(404, 2001, f"Resource {rtype}/{rid} is not known")
        return res

    def _rest_headers(self, request: Request, res: dict | None) -> dict:
        loc = (
            f"{self._base_url(request)}/{res['resourceType']}/{res['id']}/_history/{res['meta']['versionId']}"
        )
        modified = datetime.fromisoformat(res["meta"]["lastUpdated"])
        return {
            "Location": loc,
            "Content-Location": loc,
            "ETag": f'W/"{res["meta"]["versionId"]}"',
            "Last-Modified": format_datetime(modified, usegmt=True),
        }

    # ---------------------------------------------------------------- search / history
    def _check_params(self, rtype: str, query: list[tuple[str, str]]) -> None:
        valid = SEARCH_PARAMS.get(rtype, set()) | COMMON_PARAMS
        for name, _ in query:
            base = name.split(":")[0]
            if base not in valid:
                raise HapiError(
                    400,
                    1223,
                    f'Unknown search parameter "{base}" for resource type "{rtype}". '
                    f"Valid search parameters for this search are: {sorted(valid)}",
                )
            if base not in IMPLEMENTED_PARAMS and base not in READ_ONLY_PARAMS:
                raise AssertionError(f"stand-in: search parameter {base!r} is not implemented")

    def _cached_search(
        self, request: Request | None, txn: _Txn, rtype: str, query: list[tuple[str, str]]
    ) -> list[str]:
        control = request.headers.get("Cache-Control", "") if request is not None else ""
        bypass = self.honour_no_cache and ("no-cache" in control or "no-store" in control)
        key = (rtype, tuple(sorted(query)))
        now = time.monotonic()
        if self.search_cache_seconds > 0 and not bypass and not txn.writes:
            hit = self._search_cache.get(key)
            if hit is not None and now - hit[0] < self.search_cache_seconds:
                return [rid for rid in hit[1] if txn.exists(rtype, rid)]
        ids = txn.search(rtype, query)
        if self.search_cache_seconds > 0 and "no-store" not in control:
            self._search_cache[key] = (now, ids)
        return ids

    def _search_bundle(
        self, request: Request | None, txn: _Txn, rtype: str, query: list[tuple[str, str]]
    ) -> dict:
        self._check_params(rtype, query)
        ids = self._cached_search(request, txn, rtype, query)
        elements = next((v for n, v in query if n == "_elements"), None)
        base = self._base_url(request) if request is not None else ""
        entries = []
        for rid in ids:
            res = txn.current(rtype, rid)
            if elements:
                keep = set(elements.split(",")) | {"resourceType", "id", "meta"}
                res = {k: v for k, v in res.items() if k in keep}
                res["meta"] = {
                    **res["meta"],
                    "tag": [
                        *res["meta"].get("tag", []),
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                            "code": "SUBSETTED",
                        },
                    ],
                }
            entries.append({"fullUrl": f"{base}/{rtype}/{rid}", "resource": res, "search": {"mode": "match"}})
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "link": [{"relation": "self", "url": f"{base}/{rtype}"}],
        }
        if entries:
            bundle["entry"] = entries
        return bundle

    def _history_bundle(self, request: Request, rtype: str, rid: str) -> dict:
        versions = self.resources.get(rtype, {}).get(rid)
        if not versions:
            raise HapiError(404, 2001, f"Resource {rtype}/{rid} is not known")
        base = self._base_url(request)
        entries = [
            {
                "fullUrl": f"{base}/{rtype}/{rid}",
                "resource": v,
                "request": {"method": "POST" if v["meta"]["versionId"] == "1" else "PUT", "url": rtype},
                "response": {"status": "201 Created" if v["meta"]["versionId"] == "1" else "200 OK"},
            }
            for v in reversed(versions)
        ]
        return {"resourceType": "Bundle", "type": "history", "total": len(entries), "entry": entries}

    # ---------------------------------------------------------------- writes (shared)
    def _resolve_write(
        self,
        txn: _Txn,
        method: str,
        url: str,
        body: dict | None,
        if_none_exist: str | None,
        in_transaction: bool,
    ) -> tuple[str, str, str]:
        """Decide the target of a write: returns ``(rtype, id, kind)`` where kind is one of
        create / create-match / update-as-create / update / cond-create / cond-update."""
        if body is None:
            raise HapiError(400, 543, f"Missing required resource in Bundle.entry for {url!r}")
        path, _, qs = url.partition("?")
        rtype = path.strip("/").split("/")[0]
        if body.get("resourceType") != rtype:
            raise HapiError(
                400, 0, f"Resource type {body.get('resourceType')!r} does not match the URL {url!r}"
            )
        if method == "POST":
            if if_none_exist:
                cond = if_none_exist.split("?", 1)[1] if "?" in if_none_exist else if_none_exist
                params = parse_qsl(cond, keep_blank_values=True)
                self._check_params(rtype, params)
                ids = txn.search(rtype, params)
                if len(ids) > 1:
                    raise HapiError(
                        412,
                        958,
                        f'Failed to CREATE {rtype} with match URL "{if_none_exist}" because this '
                        f"search matched {len(ids)} resources",
                    )
                if ids:
                    return rtype, ids[0], "create-match"
            return rtype, self._new_id(), "create"
        if method != "PUT":
            raise HapiError(400, 529, f"Unable to handle method {method!r} in a Bundle entry")
        if qs:
            params = parse_qsl(qs, keep_blank_values=True)
            self._check_params(rtype, params)
            ids = txn.search(rtype, params)
            if len(ids) > 1 and in_transaction:
                # HAPI 8 resolves a transaction's match URLs before writing (seen on 8.8.0)
                raise HapiError(
                    412, 2207, f'Invalid match URL "{url}" - Multiple resources match this search'
                )
            if len(ids) > 1:
                raise HapiError(
                    412,
                    988,
                    f'Failed to UPDATE {rtype} with match URL "{url}" because this search matched '
                    f"{len(ids)} resources",
                )
            if ids:
                if body.get("id") and body["id"] != ids[0]:
                    raise HapiError(
                        400,
                        2279,
                        f'Failed to UPDATE resource with match URL "{url}" '
                        "because the matching resource does not match the provided ID",
                    )
                return rtype, ids[0], "cond-update"
            if body.get("id"):
                self._check_client_id(txn, rtype, body["id"])
                return rtype, body["id"], "cond-create"
            return rtype, self._new_id(), "cond-create"
        parts = path.strip("/").split("/")
        if len(parts) != 2 or not parts[1]:
            raise HapiError(400, 545, "Unable to perform PUT, no URL provided.")
        rid = parts[1]
        if not in_transaction:
            if not body.get("id"):
                raise HapiError(
                    400,
                    419,
                    "Can not update resource, resource body must contain "
                    "an ID element for update (PUT) operation",
                )
            if body["id"] != rid:
                raise HapiError(
                    400,
                    420,
                    f'Can not update resource, resource body ID "{body["id"]}" does not match URL ID "{rid}"',
                )  # code unverified
        self._check_client_id(txn, rtype, rid)
        return rtype, rid, "update" if txn.exists(rtype, rid) else "update-as-create"

    @staticmethod
    def _check_client_id(txn: _Txn, rtype: str, rid: str) -> None:
        if rid.isdigit() and not txn.exists(rtype, rid):
            raise HapiError(
                400,
                960,
                f"Can not create resource with ID[{rid}], no resource with "
                "this ID exists and clients may only assign IDs which contain at least "
                "one non-numeric character",
            )

    @staticmethod
    def _check_if_match(txn: _Txn, rtype: str, rid: str, if_match: str | None) -> None:
        if not if_match:
            return
        wanted = if_match.removeprefix("W/").strip('"')
        current = txn.current(rtype, rid)
        if current is None or current["meta"]["versionId"] != wanted:
            raise HapiError(
                409,
                989,
                f"Trying to update {rtype}/{rid}/_history/{wanted} but this is not the current version",
            )

    def _check_references(self, txn: _Txn, res: dict | None) -> None:
        """Referential integrity and the external-reference refusal, on the paths HAPI checks:
        only those a reference search parameter indexes (``INDEXED_REFERENCE_PATHS``)."""
        rtype = res["resourceType"]
        for path, ref in _iter_references(res, rtype):
            if ref.startswith("#") or PLACEHOLDER.match(ref) or path not in INDEXED_REFERENCE_PATHS:
                continue
            if re.match(r"^https?://", ref):
                raise HapiError(
                    400,
                    507,
                    f'Resource contains external reference to URL "{ref}" '
                    "but this server is not configured to allow external references",
                )
            m = RELATIVE.match(ref.split("/_history/")[0])
            if m and not txn.exists(m.group(1), m.group(2)):
                raise HapiError(
                    400, 1094, f"Resource {m.group(1)}/{m.group(2)} not found, specified in path: {path}"
                )

    def _entry_response(self, stored: dict, status: int, code: str, verb: str, representation: bool) -> dict:
        ref = f"{stored['resourceType']}/{stored['id']}/_history/{stored['meta']['versionId']}"
        response = {
            "status": f"{status} {REASONS[status]}",
            "location": ref,
            "etag": stored["meta"]["versionId"],
            "lastModified": stored["meta"]["lastUpdated"],
        }
        if self.emit_outcome:
            response["outcome"] = _storage_outcome(code, f'Successfully {verb} resource "{ref}". Took 1ms.')
        entry: dict = {"response": response}
        if representation:
            entry["resource"] = stored
        return entry

    @staticmethod
    def _storage_code(kind: str, changed: bool) -> tuple[int, str, str]:
        if kind == "create":
            return 201, "SUCCESSFUL_CREATE", "created"
        if kind == "create-match":
            return 200, "SUCCESSFUL_CREATE_WITH_CONDITIONAL_MATCH", "matched"
        if kind == "cond-create":
            return 201, "SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH", "created"
        if kind == "update-as-create":
            return 201, "SUCCESSFUL_UPDATE_AS_CREATE", "created"
        if kind == "cond-update":
            code = "SUCCESSFUL_UPDATE_WITH_CONDITIONAL_MATCH" + ("" if changed else "_NO_CHANGE")
            return 200, code, "updated" if changed else "checked (no change)"
        code = "SUCCESSFUL_UPDATE" + ("" if changed else "_NO_CHANGE")
        return 200, code, "updated" if changed else "checked (no change)"

    def _satisfies(self, txn: _Txn, rtype: str, rid: str, match_url: str) -> bool:
        qs = match_url.split("?", 1)[1] if "?" in match_url else match_url
        return rid in txn.search(rtype, parse_qsl(qs, keep_blank_values=True))

    # ---------------------------------------------------------------- REST create / update
    def _parse_body(self, request: Request) -> dict:
        try:
            body = jsonio.loads(request.get_data())
        except ValueError as exc:
            raise HapiError(400, 1861, f"Failed to parse JSON encoded FHIR content: {exc}") from exc
        if not isinstance(body, dict) or "resourceType" not in body:
            raise HapiError(400, 450, "Failed to parse request body as a FHIR resource")
        return body

    def _rest_create(self, request: Request, rtype: str) -> Response:
        body = self._parse_body(request)
        if_none_exist = request.headers.get("If-None-Exist")
        return self._rest_commit(request, "POST", rtype, body, if_none_exist, None)

    def _rest_write(
        self, request: Request, rtype: str, rid: str | None, query: list[tuple[str, str]]
    ) -> Response:
        body = self._parse_body(request)
        url = f"{rtype}/{rid}" if rid else f"{rtype}?{request.query_string.decode()}"
        return self._rest_commit(request, "PUT", url, body, None, request.headers.get("If-Match"))

    def _rest_commit(
        self,
        request: Request,
        method: str,
        url: str,
        body: dict,
        if_none_exist: str | None,
        if_match: str | None,
    ) -> Response:
        txn = _Txn(self)
        rtype, rid, kind = self._resolve_write(txn, method, url, body, if_none_exist, False)
        self._check_if_match(txn, rtype, rid, if_match)
        if kind == "create-match":
            stored, changed = txn.current(rtype, rid), False
        else:
            self._check_references(txn, body)
            before = txn.current(rtype, rid)
            stored = self._stage(txn, rtype, rid, body)
            changed = stored is not before
            cond = if_none_exist or (url if "?" in url else None)
            if cond and not self._satisfies(txn, rtype, rid, cond):
                raise HapiError(
                    400,
                    929,
                    "Failed to process conditional create. The supplied "
                    "resource did not satisfy the conditional URL.",
                )
        self._commit(txn)
        status, code, verb = self._storage_code(kind, changed)
        headers = self._rest_headers(request, stored)
        prefer = request.headers.get("Prefer", "return=representation")
        if "return=minimal" in prefer:
            resp = Response(b"", status=status)
            for k, v in headers.items():
                resp.headers[k] = v
            return resp
        if "return=OperationOutcome" in prefer:
            ref = f"{rtype}/{rid}/_history/{stored['meta']['versionId']}"
            return self._json(
                _storage_outcome(code, f'Successfully {verb} resource "{ref}".'), status, headers
            )
        return self._json(stored, status, headers)

    def _validate(self, request: Request, rtype: str) -> Response:
        body = self._parse_body(request)
        if body.get("resourceType") == "Parameters":
            body = next(
                (p.get("resource") for p in body.get("parameter", []) if p.get("name") == "resource"), {}
            )
        issues = []
        if body.get("resourceType") != rtype:
            issues.append(f"Resource type {body.get('resourceType')!r} is not {rtype}")
        if rtype in SEARCH_PARAMS and "status" in SEARCH_PARAMS[rtype] and not body.get("status"):
            issues.append(f"{rtype}.status: minimum required = 1, but only found 0")
        oo = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": i} for i in issues]
            or [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": "No issues detected during validation",
                }
            ],
        }
        return self._json(oo)  # HAPI >= 6.6 answers 200 whether or not the resource is valid

    # ---------------------------------------------------------------- Bundles
    def _post_to_bundle_endpoint(self, request: Request) -> Response:
        body = self._parse_body(request)
        btype = body.get("type") or "(missing)"
        if btype not in ("collection", "document", "message"):
            raise HapiError(
                422,
                522,
                f"Unable to store a Bundle resource on this server with a "
                f"Bundle.type value of: {btype}. Note that if you are trying to "
                "perform a FHIR 'transaction' or 'batch' operation you should POST the "
                "Bundle resource to the Base URL of the server, not to the '/Bundle' "
                "endpoint.",
            )
        return self._rest_commit(request, "POST", "Bundle", body, None, None)

    def _post_bundle(self, request: Request) -> Response:
        body = self._parse_body(request)
        if body.get("resourceType") != "Bundle":
            raise HapiError(400, 0, "Body of a POST to the server base must be a Bundle")
        btype = body.get("type") or "transaction"  # HAPI treats a missing type as transaction
        representation = "return=representation" in request.headers.get("Prefer", "")
        if btype == "transaction":
            return self._json(self._transaction(request, body, representation))
        if btype == "batch":
            return self._json(self._batch(request, body, representation))
        raise HapiError(400, 527, f"Unable to process transaction where incoming Bundle.type = {btype}")

    def _batch(self, request: Request, bundle: dict, representation: bool) -> dict:
        out = []
        for entry in bundle.get("entry", []) or []:
            try:
                sub = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
                resolved = self._transaction(request, sub, representation, batch=True)
                out.append(resolved["entry"][0])
            except HapiError as exc:
                out.append(
                    {
                        "response": {
                            "status": f"{exc.status} {REASONS.get(exc.status, '')}".strip(),
                            "outcome": outcome_error(exc.diagnostics, "exception"),
                        }
                    }
                )
        return {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": out,
            "link": [{"relation": "self", "url": self._base_url(request)}],
        }

    def _transaction(self, request: Request, bundle: dict, representation: bool, batch: bool = False) -> dict:
        entries = bundle.get("entry", []) or []
        txn = _Txn(self)
        # fullUrl checks (HAPI-0533 / HAPI-0534)
        seen: set[str] = set()
        for entry in entries:
            full = entry.get("fullUrl")
            if not full:
                continue
            if full.startswith("urn:") and not PLACEHOLDER.match(full):
                raise HapiError(
                    400,
                    533,
                    f"Invalid placeholder ID found: {full} - Must be of the "
                    "form 'urn:uuid:[uuid]' or 'urn:oid:[oid]'",
                )
            if full in seen:
                raise HapiError(400, 534, f"Transaction bundle contains multiple resources with ID: {full}")
            seen.add(full)

        placeholders: dict[str, str] = {}  # fullUrl -> Type/id
        targets: dict[int, tuple[str, str, str]] = {}
        consolidated: dict[int, int] = {}  # duplicate conditional entry -> first entry (HAPI #8183)
        first_by_cond: dict[tuple[str, str], int] = {}

        def subst(url: str | None) -> str | None:
            if not url or ("urn:" not in url and "urn%3A" not in url):
                return url
            return _URL_PLACEHOLDER.sub(
                lambda m: placeholders.get(m.group(0).replace("%3A", ":"), m.group(0)), url
            )

        def has_placeholder(url: str | None) -> bool:
            return url is not None and ("urn:uuid" in url or "urn%3Auuid" in url)

        order = sorted(
            range(len(entries)),
            key=lambda i: (
                _VERB_ORDER.get(entries[i].get("request", {}).get("method", ""), 9),
                has_placeholder(entries[i].get("request", {}).get("url"))
                or has_placeholder(entries[i].get("request", {}).get("ifNoneExist")),
                i,
            ),
        )
        writes = [i for i in order if entries[i].get("request", {}).get("method") in ("POST", "PUT")]
        for i in writes:
            req = entries[i].get("request", {})
            method, url = req.get("method"), req.get("url")
            if not url:
                raise HapiError(400, 545, "Unable to perform PUT, no URL provided.")
            cond_key = (method, req.get("ifNoneExist") or url)
            if "?" in (req.get("ifNoneExist") or url) and cond_key in first_by_cond:
                consolidated[i] = first_by_cond[cond_key]
                if entries[i].get("fullUrl"):
                    t = targets[first_by_cond[cond_key]]
                    placeholders[entries[i]["fullUrl"]] = f"{t[0]}/{t[1]}"
                continue
            first_by_cond[cond_key] = i
            body = entries[i].get("resource")
            rtype, rid, kind = self._resolve_write(
                txn, method, subst(url) or url, body, subst(req.get("ifNoneExist")), True
            )
            targets[i] = (rtype, rid, kind)
            full = entries[i].get("fullUrl")
            if full and PLACEHOLDER.match(full):
                placeholders[full] = f"{rtype}/{rid}"

        def rewrite(key: str, value: str) -> str | None:
            if not PLACEHOLDER.match(value):
                return None
            if value in placeholders:
                return placeholders[value]
            if key == "reference":
                raise _Unresolved(key, value)
            return None

        results: dict[int, dict] = {}
        for i in writes:
            if i in consolidated:
                continue
            rtype, rid, kind = targets[i]
            req = entries[i]["request"]
            try:
                body = _walk_strings(entries[i]["resource"], rewrite)
            except _Unresolved as exc:
                raise HapiError(
                    400,
                    541,
                    f"Unable to satisfy placeholder ID {exc.value} found in "
                    f"element named '{exc.key}' within resource of type: "
                    f"{rtype}",
                ) from None
            self._check_if_match(txn, rtype, rid, req.get("ifMatch"))
            if kind == "create-match":
                stored, changed = txn.current(rtype, rid), False
            else:
                before = txn.current(rtype, rid)
                stored = self._stage(txn, rtype, rid, body)
                changed = stored is not before
            targets[i] = (rtype, rid, kind)
            results[i] = {"stored": stored, "changed": changed}
        # referential integrity and conditional-URL checks run once every write is staged
        for i in writes:
            if i in consolidated:
                continue
            rtype, rid, kind = targets[i]
            self._check_references(txn, txn.current(rtype, rid))
            req = entries[i]["request"]
            cond = subst(req.get("ifNoneExist")) or (subst(req["url"]) if "?" in req["url"] else None)
            if not cond:
                continue
            matching = txn.search(rtype, parse_qsl(cond.split("?", 1)[-1], keep_blank_values=True))
            if kind != "create-match" and rid not in matching:
                raise HapiError(
                    412,
                    539,
                    f'Invalid conditional URL "{cond}". The given resource is not matched by this URL.',
                )
            if len(matching) > 1:
                raise HapiError(
                    400,
                    542,
                    "Unable to process Transaction - Request would cause "
                    f'multiple resources to match URL: "{cond}". Does transaction '
                    "request contain duplicates?",
                )
        out_entries: list[dict] = []
        for i, entry in enumerate(entries):
            req = entry.get("request", {})
            method = req.get("method")
            if i in consolidated:
                i = consolidated[i]  # HAPI answers with the merged entry's result
            if i in results:
                rtype, rid, kind = targets[i]
                status, code, verb = self._storage_code(kind, results[i]["changed"])
                out_entries.append(
                    self._entry_response(results[i]["stored"], status, code, verb, representation)
                )
            elif method in ("GET", "HEAD"):
                out_entries.append(self._get_entry(request, txn, req.get("url", "")))
            else:
                raise HapiError(400, 529, f"Unable to handle method {method!r} in a Bundle entry")
        self._commit(txn)
        return {
            "resourceType": "Bundle",
            "type": "batch-response" if batch else "transaction-response",
            "entry": out_entries,
            "link": [{"relation": "self", "url": self._base_url(request)}],
        }

    def _get_entry(self, request: Request, txn: _Txn, url: str) -> dict:
        path, _, qs = url.partition("?")
        parts = [p for p in path.split("/") if p]
        if len(parts) == 1 and parts[0] in self.resource_types:
            bundle = self._search_bundle(request, txn, parts[0], parse_qsl(qs, keep_blank_values=True))
            return {"resource": bundle, "response": {"status": "200 OK"}}
        if len(parts) == 2 and parts[0] in self.resource_types:
            res = self._read(txn, parts[0], parts[1])
            return {
                "resource": res,
                "response": {"status": "200 OK", "etag": f'W/"{res["meta"]["versionId"]}"'},
            }
        raise HapiError(400, 0, f"Unsupported GET in a Bundle: {url!r}")


class _Unresolved(Exception):
    def __init__(self, key: str, value: str):
        super().__init__(value)
        self.key, self.value = key, value
