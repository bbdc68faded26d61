"""Publishing, previewing (``--dry-run``) and verifying a corpus against a FHIR R5 server.

Nothing here prints: progress goes to an optional callback, and every function returns a
:class:`PublishResult` (or raises a PublishError or FhirClientError before anything was sent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evidence_publisher.bundle.errors import BundleError
from evidence_publisher.bundle.references import RELATIVE_REF, iter_references
from evidence_publisher.bundle.transaction import (
    conditional_url,
    entry_full_url,
    local_ref,
    resource_key,
    transaction_bundle,
)
from evidence_publisher.errors import ExitCode
from evidence_publisher.fhirclient import FhirClient, FhirResponse
from evidence_publisher.fhirclient.answers import describe_json, rejected
from evidence_publisher.jsonio import as_array, as_object
from evidence_publisher.publish.capability import ServerInfo, check_capability
from evidence_publisher.publish.chunking import Chunk, chunk_resources
from evidence_publisher.publish.compare import compare
from evidence_publisher.publish.errors import (
    AuthFailedError,
    FhirClientError,
    InvalidPublishInputError,
    InvalidServerResponseError,
    RejectedByServerError,
    ResponseLimitError,
    ServerUnreachableError,
)
from evidence_publisher.publish.outcome import (
    bare_version,
    implicated_resources,
    parse_location,
    storage_code,
)

DEFAULT_CHUNK_SIZE = 250
CREATED_CODES = frozenset(
    {
        "SUCCESSFUL_CREATE",
        "SUCCESSFUL_CREATE_NO_CONDITIONAL_MATCH",
        "SUCCESSFUL_UPDATE_AS_CREATE",
        "SUCCESSFUL_UPDATE_NO_CONDITIONAL_MATCH",
    }
)

# HAPI reuses identical search results for a while (reuse_cached_search_results_millis); a
# lookup must see the current state.
NO_CACHE = {"Cache-Control": "no-cache"}


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # "check", "lookup", "publish"
    done: int  # chunks done
    total: int  # chunks in all


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class PublishOptions:
    chunk_size: int | None = DEFAULT_CHUNK_SIZE  # None: the whole corpus in one transaction
    preread: bool = True  # read versions before writing, to tell updated from unchanged exactly


@dataclass
class ResourceResult:
    ref: str  # local Type/id
    key: str  # url|version or identifier system|value
    action: str
    chunk: int | None = None
    server_id: str | None = None
    version: str | None = None
    differences: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def resource_type(self) -> str:
        return self.ref.split("/", 1)[0]

    def to_json(self) -> dict:
        out: dict[str, Any] = {"resource": self.ref, "key": self.key, "action": self.action}
        for name in ("chunk", "server_id", "version"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.differences:
            out["differences"] = self.differences
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class ChunkResult:
    index: int
    size: int
    status: str  # committed, failed, unknown, not-sent, checked
    oversized: bool = False
    attempts: int = 0
    error: str | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "chunk": self.index,
            "resources": self.size,
            "status": self.status,
            "attempts": self.attempts,
        }
        if self.oversized:
            out["oversized"] = True
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class PublishResult:
    mode: str  # publish, dry-run, verify
    server: str
    server_info: ServerInfo | None = None
    resources: list[ResourceResult] = field(default_factory=list)
    chunks: list[ChunkResult] = field(default_factory=list)
    requests_sent: int = 0
    seconds: float = 0.0
    error: FhirClientError | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for res in self.resources:
            out[res.action] = out.get(res.action, 0) + 1
        return dict(sorted(out.items()))

    @property
    def committed_chunks(self) -> int:
        return sum(1 for c in self.chunks if c.status == "committed")

    @property
    def exit_code(self) -> ExitCode:
        if self.mode == "publish":
            if self.error is None:
                return ExitCode.OK
            return ExitCode.PARTIAL_SUCCESS if self.committed_chunks else self.error.exit_code
        if self.error is not None:
            return self.error.exit_code
        if self.mode == "verify":
            bad = any(r.action != "same" for r in self.resources)
            return ExitCode.VERIFY_DIFFERENCES if bad else ExitCode.OK
        conflict = any(r.action == "conflict" for r in self.resources)
        return ExitCode.REJECTED_BY_SERVER if conflict else ExitCode.OK

    def failure_summary(self) -> str | None:
        """One line saying what failed, the server's reason and what was written, or None."""
        exc = self.error
        if exc is None:
            return None
        failed = next((c for c in self.chunks if c.status in ("failed", "unknown", "not-sent")), None)
        total = len(self.chunks)
        which = f" (chunk {failed.index + 1} of {total})" if failed is not None and total > 1 else ""
        committed = self.committed_chunks
        if committed:
            written = (
                f"{committed} earlier chunk{'s' if committed > 1 else ''} committed, the rest not written"
            )
        elif failed is not None and failed.status == "unknown":
            written = "it may or may not have been written"
        else:
            written = "nothing was written"
        if self.mode != "publish":
            return exc.message
        if isinstance(exc, RejectedByServerError) and failed is not None and failed.status == "failed":
            reason = exc.diagnostics or "the server gave no reason"
            return f"transaction{which} rejected by the server (HTTP {exc.status}): {reason} — {written}"
        if failed is not None and failed.status == "not-sent":
            return f"the pre-read before the transaction failed: {exc.message} — {written}"
        return f"{exc.message} — {written}"

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "mode": self.mode,
            "server": self.server,
            "exit_code": int(self.exit_code),
            "counts": self.counts(),
            "requests_sent": self.requests_sent,
            "seconds": round(self.seconds, 3),
            "chunks": [c.to_json() for c in self.chunks],
            "resources": [r.to_json() for r in self.resources],
        }
        if self.server_info is not None:
            out["fhir_version"] = self.server_info.fhir_version
            out["software"] = self.server_info.software
        if self.error is not None:
            err: dict[str, Any] = {
                "summary": self.failure_summary(),
                "message": self.error.message,
                "details": self.error.details,
                "type": type(self.error).__name__,
            }
            if isinstance(self.error, RejectedByServerError):
                err.update(
                    status=self.error.status, hapi_code=self.error.hapi_code, resources=self.error.resources
                )
            out["error"] = err
        return out


# ---------------------------------------------------------------------------------------------
def check_corpus(resources: list[dict]) -> None:
    """Every resource needs a type, a local id and a unique natural key; raise otherwise."""
    if not resources:
        raise InvalidPublishInputError(
            "there are no resources to publish", details=["build first: evidence-publisher build MAPPINGS"]
        )
    problems: list[str] = []
    seen: dict[str, str] = {}
    refs = {local_ref(r) for r in resources if r.get("resourceType") and r.get("id")}
    seen_refs: set[str] = set()
    for res in resources:
        if not res.get("resourceType") or not res.get("id"):
            problems.append(f"a resource without resourceType or id: {str(res)[:80]!r}")
            continue
        if local_ref(res) in seen_refs:
            problems.append(f"two resources are {local_ref(res)}; local ids must be unique per type")
        seen_refs.add(local_ref(res))
        problems += _dangling(res, refs)
        try:
            key = resource_key(res)
        except BundleError as exc:
            problems.append(exc.message)
            continue
        if key in seen:
            problems.append(
                f"{local_ref(res)} and {seen[key]} share the key {key!r}; the server "
                "would merge them into one resource"
            )
        seen[key] = local_ref(res)
    if problems:
        raise InvalidPublishInputError(
            f"{len(problems)} resource(s) cannot be published idempotently",
            details=problems,
        )


def _dangling(resource: dict, refs: set[str]) -> list[str]:
    """References to ``Type/id`` that is not in the corpus. HAPI checks a reference only on a
    path that a search parameter indexes (``Composition.subject``, ``Group.member.entity``);
    elsewhere (``Evidence.variableDefinition.observed``, ``ArtifactAssessment.artifactReference``)
    it stores a dangling reference without a word, so the publisher refuses it first."""
    out = []
    for path, ref in iter_references(resource):
        target = ref["reference"]
        if RELATIVE_REF.match(target) and target not in refs:
            out.append(
                f"{local_ref(resource)} {path} references {target}, which is not among the "
                "resources to publish; publish the whole build (a FHIR server may store the "
                "reference dangling: HAPI checks references only on searchable paths)"
            )
    return out


def _check_server(client: FhirClient, resources: list[dict], *, need_transaction: bool) -> ServerInfo:
    types = {r["resourceType"] for r in resources}
    params: dict[str, set[str]] = {}
    for res in resources:
        query = conditional_url(res).split("?", 1)[1]
        names = {pair.split("=", 1)[0] for pair in query.split("&")}
        params.setdefault(res["resourceType"], set()).update(names)
    return check_capability(client.metadata(), types, need_transaction=need_transaction, search_params=params)


def lookup(
    client: FhirClient,
    resources: list[dict],
    info: ServerInfo,
    *,
    batch_size: int,
    elements: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, list[dict]]:
    """Search every resource by its key (``url``+``version``, else ``identifier``); returns
    local ``Type/id`` -> the matching server resources. One batch request per ``batch_size``
    resources when the server supports batch, else one GET per resource."""
    found: dict[str, list[dict]] = {}
    suffix = f"&_elements={elements}" if elements else ""
    for start in range(0, len(resources), max(batch_size, 1)):
        group = resources[start : start + max(batch_size, 1)]
        urls = [conditional_url(r) + suffix for r in group]
        if info.supports_batch:
            bundle = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": u}} for u in urls],
            }
            answer = client.send_bundle(bundle, headers=NO_CACHE).body
            label = f"POST {client.base_url} (a batch of {len(group)} searches)"
            if answer.get("resourceType") != "Bundle":
                raise InvalidServerResponseError(
                    f"{label}: the server answered with {describe_json(answer)}, not a batch-response Bundle"
                )
            entries = as_array(answer.get("entry"))
            if len(entries) != len(group) or not all(isinstance(e, dict) for e in entries):
                raise InvalidServerResponseError(
                    f"{label}: the batch-response has {len(entries)} entries for {len(group)} "
                    "searches, or entries that are not objects",
                )
            for res, url, entry in zip(group, urls, entries, strict=True):
                response = as_object(entry.get("response"))
                status = str(response.get("status", ""))
                if not status.startswith("200"):
                    code = int(status[:3]) if status[:3].isdigit() else 0
                    err = rejected(f"GET {url}", code, response.get("outcome"))
                    err.resources = [local_ref(res)]
                    raise err
                found[local_ref(res)] = _search_matches(entry.get("resource"))
        else:
            for res, url in zip(group, urls, strict=True):
                found[local_ref(res)] = _search_matches(client.search(url, headers=NO_CACHE))
        if on_batch is not None:
            on_batch(len(group))
    return found


def _search_matches(bundle: Any) -> list[dict]:
    if not isinstance(bundle, dict):
        return []
    return [
        e["resource"]
        for e in as_array(bundle.get("entry"))
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and as_object(e.get("search")).get("mode", "match") == "match"
    ]


def _version(res: dict) -> str | None:
    version = as_object(res.get("meta")).get("versionId")
    return version if isinstance(version, str) else None


# ---------------------------------------------------------------------------------------------
def publish(
    resources: list[dict],
    client: FhirClient,
    options: PublishOptions | None = None,
    progress: ProgressCallback | None = None,
) -> PublishResult:
    """Upsert ``resources`` in dependency-closed transaction chunks; see docs/publishing.md."""
    options = options or PublishOptions()
    started = time.monotonic()
    check_corpus(resources)
    info = _check_server(client, resources, need_transaction=True)
    chunks = chunk_resources(resources, options.chunk_size)
    result = PublishResult("publish", client.base_url, info)
    _emit(progress, "publish", 0, len(chunks))
    for n, chunk in enumerate(chunks):
        try:
            chunk_result, outcomes = _publish_chunk(client, chunk, info, options)
        except FhirClientError as exc:
            _record_failure(result, chunk, chunks[n + 1 :], exc)
            break
        result.chunks.append(chunk_result)
        result.resources.extend(outcomes)
        _emit(progress, "publish", n + 1, len(chunks))
    result.requests_sent = client.stats.requests_sent
    result.seconds = time.monotonic() - started
    return result


def _emit(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(ProgressEvent(stage, done, total))


def _publish_chunk(
    client: FhirClient, chunk: Chunk, info: ServerInfo, options: PublishOptions
) -> tuple[ChunkResult, list[ResourceResult]]:
    bundle = transaction_bundle(chunk.resources)
    by_full_url = {entry_full_url(r): r for r in chunk.resources}
    before = None
    if options.preread:
        try:
            before = lookup(
                client, chunk.resources, info, batch_size=len(chunk.resources), elements="identifier"
            )
        except FhirClientError as exc:
            exc.before_send = True
            raise
    try:
        response = client.send_bundle(bundle)
        entries = _transaction_entries(response, len(bundle["entry"]), client.base_url)
    except (InvalidServerResponseError, ResponseLimitError) as exc:
        exc.maybe_committed = True  # the server got the transaction
        raise
    outcomes = []
    for sent, got in zip(bundle["entry"], entries, strict=True):
        res = by_full_url[sent["fullUrl"]]
        outcomes.append(
            _classify(res, as_object(got.get("response")), chunk.index, before, response.maybe_applied_before)
        )
    return ChunkResult(
        chunk.index, len(chunk.resources), "committed", chunk.oversized, response.attempts
    ), outcomes


def _transaction_entries(response: FhirResponse, sent: int, base: str) -> list[dict]:
    """The entries of a transaction-response, or InvalidServerResponseError saying what came instead."""
    label = f"POST {base} (a transaction of {sent} entries)"
    body = response.body
    if body.get("resourceType") != "Bundle":
        raise InvalidServerResponseError(
            f"{label}: the server answered with HTTP {response.status} but the body is "
            f"{describe_json(body)}, not a transaction-response Bundle"
        )
    kind = body.get("type")
    entries = as_array(body.get("entry"))
    if kind != "transaction-response":
        shown = repr(kind[:64]) if isinstance(kind, str) else "no type"
        raise InvalidServerResponseError(
            f"{label}: the server answered with a Bundle of type {shown}, not a transaction-response; "
            "it may not have processed the request as one atomic transaction",
        )
    if len(entries) != sent or not all(isinstance(e, dict) for e in entries):
        raise InvalidServerResponseError(
            f"{label}: the transaction-response has {len(entries)} entries (or entries that are not "
            f"objects) for {sent} sent",
        )
    return entries


def _classify(
    res: dict, response: dict, chunk: int, before: dict[str, list[dict]] | None, maybe_applied_before: bool
) -> ResourceResult:
    ref = local_ref(res)
    out = ResourceResult(ref, resource_key(res), "updated", chunk)
    status = str(response.get("status", ""))
    location = response.get("location")
    if isinstance(location, str) and location:
        try:
            _, out.server_id, out.version = parse_location(location)
        except ValueError:
            out.note = "the server's location for it is unreadable"
    out.version = out.version or bare_version(response.get("etag"))
    code = storage_code(response)
    prior = before.get(ref, []) if before is not None else None
    if prior:
        same = any(p.get("id") == out.server_id and _version(p) == out.version for p in prior)
        out.action = "unchanged" if same else "updated"
        return out
    if prior is not None and maybe_applied_before:
        out.action = "created"  # absent before; our own earlier attempt created it
        return out
    # No pre-read, or it found nothing (possibly a stale server-side search cache): the status
    # and the storage code decide; a 200 means the resource existed after all.
    if code is not None:
        if code.endswith("NO_CHANGE"):
            out.action = "unchanged"
        elif code in CREATED_CODES:
            out.action = "created"
    elif status.startswith("201"):
        out.action = "created"
    elif out.version == "1":
        out.action = "unchanged"  # an update would have made version 2 or later
    else:
        out.note = (
            "the server sent no storage code; without a pre-read, unchanged and updated cannot be told apart"
        )
    if maybe_applied_before and out.action == "unchanged":
        out.note = "an earlier attempt whose response was lost may have created or updated it"
    return out


def _record_failure(result: PublishResult, chunk: Chunk, rest: list[Chunk], exc: FhirClientError) -> None:
    refs = [local_ref(r) for r in chunk.resources]
    if exc.before_send:
        status, action, named = "not-sent", "not-sent", []
        note_default = "the pre-read failed, so this chunk was not sent"
    elif isinstance(exc, RejectedByServerError):
        bundle_entries = [
            (local_ref(r), entry_full_url(r), conditional_url(r)) for r in _bundle_order(chunk.resources)
        ]
        named = exc.resources or implicated_resources(exc.diagnostics, exc.outcome, bundle_entries)
        exc.resources = named
        if named:
            exc.details = [f"resource(s): {', '.join(named)}", *exc.details]
        status, action = "failed", "failed"
        note_default = "rolled back: the transaction failed as a whole"
    elif isinstance(exc, ServerUnreachableError):
        status, action = "unknown", "unknown"
        named = []
        note_default = "no answer: this chunk may or may not be committed; re-run publish (it is idempotent)"
    elif exc.maybe_committed:
        status, action, named = "unknown", "unknown", []
        note_default = (
            "the server's answer is unusable: this chunk may or may not be committed; check with verify"
        )
    elif isinstance(exc, AuthFailedError):
        status, action, named = "failed", "failed", []
        note_default = "not written: authentication failed"
    else:
        status, action, named = "failed", "failed", []
        note_default = "not written"
    exc.message = f"chunk {chunk.index + 1} of {chunk.index + 1 + len(rest)}: {exc.message}"
    result.error = exc
    result.chunks.append(ChunkResult(chunk.index, len(refs), status, chunk.oversized, error=exc.message))
    for res in chunk.resources:
        ref = local_ref(res)
        note = exc.diagnostics if (ref in named and isinstance(exc, RejectedByServerError)) else note_default
        result.resources.append(ResourceResult(ref, resource_key(res), action, chunk.index, note=note))
    for later in rest:
        result.chunks.append(ChunkResult(later.index, len(later.resources), "not-sent", later.oversized))
        for res in later.resources:
            result.resources.append(
                ResourceResult(local_ref(res), resource_key(res), "not-sent", later.index)
            )


def _reference_mapping(
    server_ref: dict[str, str], duplicated: dict[str, set[str]], server_copy: dict
) -> Callable[[str], str | None]:
    """Local ``Type/id`` -> the server reference it should be. A target the server holds twice
    (reported as a duplicate itself) counts as matched by a reference to either copy."""
    present = {ref["reference"] for _, ref in iter_references(server_copy)}

    def mapping(local: str) -> str | None:
        if local in server_ref:
            return server_ref[local]
        return next((c for c in sorted(duplicated.get(local, ())) if c in present), None)

    return mapping


def _bundle_order(resources: list[dict]) -> list[dict]:
    by_full_url = {entry_full_url(r): r for r in resources}
    return [by_full_url[e["fullUrl"]] for e in transaction_bundle(resources)["entry"]]


# ---------------------------------------------------------------------------------------------
def preview(
    resources: list[dict],
    client: FhirClient,
    options: PublishOptions | None = None,
    progress: ProgressCallback | None = None,
) -> PublishResult:
    """``--dry-run``: what publish would create, update or leave alone. Only reads."""
    return _read_and_compare("dry-run", resources, client, options, progress)


def verify(
    resources: list[dict],
    client: FhirClient,
    options: PublishOptions | None = None,
    progress: ProgressCallback | None = None,
) -> PublishResult:
    """Read every resource back (by its key) and report differences from the local copy."""
    return _read_and_compare("verify", resources, client, options, progress)


def _read_and_compare(
    mode: str,
    resources: list[dict],
    client: FhirClient,
    options: PublishOptions | None,
    progress: ProgressCallback | None,
) -> PublishResult:
    options = options or PublishOptions()
    started = time.monotonic()
    check_corpus(resources)
    info = _check_server(client, resources, need_transaction=(mode == "dry-run"))
    result = PublishResult(mode, client.base_url, info)
    batch = options.chunk_size or len(resources)
    total_batches = -(-len(resources) // batch)
    batches_done = 0

    def on_batch(_resources_in_batch: int) -> None:
        nonlocal batches_done
        batches_done += 1
        _emit(progress, "lookup", batches_done, total_batches)

    try:
        found = lookup(client, resources, info, batch_size=batch, on_batch=on_batch)
    except FhirClientError as exc:
        result.error = exc
        result.requests_sent = client.stats.requests_sent
        result.seconds = time.monotonic() - started
        return result
    server_ref = {
        ref: f"{m[0].get('resourceType')}/{m[0]['id']}"
        for ref, m in found.items()
        if len(m) == 1 and isinstance(m[0].get("id"), str)
    }
    duplicated = {
        ref: {f"{m.get('resourceType')}/{m.get('id')}" for m in found_matches}
        for ref, found_matches in found.items()
        if len(found_matches) > 1
    }
    for res in resources:
        ref = local_ref(res)
        matches = found.get(ref, [])
        out = ResourceResult(ref, resource_key(res), "", None)
        if not matches:
            out.action = "would-create" if mode == "dry-run" else "missing"
        elif len(matches) > 1:
            out.action = "conflict" if mode == "dry-run" else "duplicate"
            ids = ", ".join(f"{m.get('resourceType')}/{m.get('id')}" for m in matches)
            out.note = (
                f"{len(matches)} server resources match {conditional_url(res)} ({ids}); a "
                "conditional update would be rejected (HAPI-2207 in a transaction, HAPI-0988 "
                "alone); remove the duplicates"
            )
        else:
            match = matches[0]
            out.server_id = match.get("id") if isinstance(match.get("id"), str) else None
            out.version = _version(match)
            out.differences = compare(res, match, _reference_mapping(server_ref, duplicated, match))
            if mode == "dry-run":
                out.action = "would-update" if out.differences else "unchanged"
            else:
                out.action = "different" if out.differences else "same"
        result.resources.append(out)
    result.chunks.append(ChunkResult(0, len(resources), "checked", attempts=total_batches))
    result.requests_sent = client.stats.requests_sent
    result.seconds = time.monotonic() - started
    return result
