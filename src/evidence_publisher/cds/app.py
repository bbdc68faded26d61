"""Starlette ASGI app for the CDS Hooks service.

``create_app(config)`` is the factory; ``app_from_env()`` is the import-string factory that
uvicorn workers use (``evidence_publisher.cds.app:app_from_env``, ``factory=True``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from evidence_publisher.cds.auth import JwtVerifier
from evidence_publisher.cds.config import CdsConfig, config_from_env
from evidence_publisher.cds.errors import (
    BodyTooLargeError,
    CdsRequestError,
    ForbiddenOriginError,
    InvalidRequestError,
    PatientDataError,
    UnsupportedMediaTypeError,
)
from evidence_publisher.cds.hook_request import kind
from evidence_publisher.cds.outcome import operation_outcome
from evidence_publisher.cds.replay import (
    MemoryReplayStore,
    RedisReplayStore,
    ReplayStore,
    SqliteReplayStore,
    is_redis_url,
)
from evidence_publisher.cds.service import CdsService
from evidence_publisher.errors import InputLimitError
from evidence_publisher.jsonio import dumps, parse_untrusted
from evidence_publisher.limits import NESTING_DEPTH, current
from evidence_publisher.urlsafety import install_log_redaction

log = logging.getLogger("evidence_publisher.cds")
JSON_TYPES = ("application/json", "application/fhir+json")
CORS_METHODS = ("GET", "POST", "OPTIONS")
CORS_HEADERS = ("Authorization", "Content-Type")


def json_response(
    body: Any, status: int = 200, *, fhir: bool = False, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps(body, indent=None),
        status_code=status,
        headers=headers,
        media_type="application/fhir+json" if fhir else "application/json",
    )


def internal_error(request: Request | None, exc: BaseException) -> Response:
    """500 for a bug: the client gets a reference and nothing internal; the log gets the
    traceback under the same reference."""
    reference = uuid.uuid4().hex[:12]
    where = f"{request.method} {request.url.path}" if request is not None else "request"
    log.error("internal error, reference %s, on %s", reference, where, exc_info=exc)
    return json_response(operation_outcome(f"internal error, reference {reference}", code="exception"), 500)


def error_response(exc: CdsRequestError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="cds-services"'} if exc.status == 401 else None
    return json_response(
        operation_outcome(exc.message, code=exc.issue_code, details=exc.details),
        exc.status,
        headers=headers,
    )


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS handling for the configured origins only (``*`` is refused by the config),
    with the service's methods and headers. A refused preflight is answered like every other error
    of the service: an OperationOutcome, 403, without ``Access-Control-Allow-Origin``."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=[o.rstrip("/") for o in origins],
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin):
            refused = ForbiddenOriginError(
                f"origin {origin!r} is not allowed", details=["add it to cors_origins"]
            )
        else:
            refused = ForbiddenOriginError(
                f"CORS preflight from {origin!r} asks for a method or header the service does not accept",
                details=[f"methods: {', '.join(CORS_METHODS)}; headers: {', '.join(CORS_HEADERS)}"],
            )
        return error_response(refused)


def make_replay_store(config: CdsConfig) -> ReplayStore:
    if not config.replay_store:
        return MemoryReplayStore()
    if is_redis_url(config.replay_store):
        store = RedisReplayStore(config.replay_store)
        store.check()
        return store
    return SqliteReplayStore(config.replay_store)


def create_app(
    config: CdsConfig,
    *,
    service: CdsService | None = None,
    session: requests.Session | None = None,
) -> Starlette:
    config.validate()
    install_log_redaction()
    svc = service or CdsService.from_config(config, session=session)
    verifier = JwtVerifier(config, make_replay_store(config), session=session) if config.auth else None
    if verifier is None:
        log.warning("AUTHENTICATION IS DISABLED (--no-auth): any caller can use this service")
    base = config.public_base_url

    async def authenticate(request: Request) -> None:
        if verifier is None:
            return
        audience = f"{base}{request.url.path}"
        client = await run_in_threadpool(verifier.verify, request.headers.get("authorization"), audience)
        request.state.client = client

    max_depth = current(NESTING_DEPTH)  # read once: workers inherit it through the environment

    async def read_json(request: Request) -> Any:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in JSON_TYPES:
            shown = repr(ctype[:60]) if ctype else "missing"
            raise UnsupportedMediaTypeError(f"Content-Type {shown} is not accepted; send application/json")
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLargeError(
                f"request body of {declared} bytes exceeds {limit} bytes",
                details=["the service's max_body_bytes setting (or --max-body-bytes) raises the limit"],
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError(
                    f"request body exceeds {limit} bytes",
                    details=["the service's max_body_bytes setting (or --max-body-bytes) raises the limit"],
                )
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            parsed = parse_untrusted(raw, "request body", max_bytes=limit, max_depth=max_depth)
        except InputLimitError as exc:
            if exc.limit is not NESTING_DEPTH:
                raise BodyTooLargeError(f"request body exceeds {limit} bytes") from None
            raise InvalidRequestError(
                f"request body is nested more than {max_depth} levels deep",
                details=[f"the operator can raise the limit with {exc.limit.how_to_raise}"],
            ) from None
        except UnicodeDecodeError:
            raise InvalidRequestError("request body is not UTF-8 encoded JSON") from None
        except ValueError as exc:
            where = getattr(exc, "lineno", None), getattr(exc, "colno", None)
            at = f" (line {where[0]}, column {where[1]})" if where[0] is not None else ""
            raise InvalidRequestError(f"request body is not valid JSON{at}") from None
        if parsed.duplicate_keys:
            paths = ", ".join(parsed.duplicate_keys[:5])
            raise InvalidRequestError(
                f"request body has a duplicate JSON key at {paths}",
                details=["JSON readers disagree on which value of a repeated key counts; send each key once"],
            )
        return parsed.value

    def handler(fn: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except CdsRequestError as exc:
                log.info("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc.message)
                return error_response(exc)
            except PatientDataError as exc:
                return error_response(InvalidRequestError(exc.message, details=exc.details))
            except Exception as exc:  # a bug: never a traceback or an internal message to the client
                return internal_error(request, exc)

        return wrapped

    @handler
    async def discovery(request: Request) -> Response:
        await authenticate(request)
        return json_response(svc.discovery())

    @handler
    async def call_service(request: Request) -> Response:
        await authenticate(request)
        service_id = request.path_params["service_id"]
        svc.endpoint(service_id)
        body = await read_json(request)
        if isinstance(body, dict) and body.get("fhirAuthorization") is not None:
            # may fetch from fhirServer (blocking I/O): keep it off the event loop
            result = await run_in_threadpool(svc.call, service_id, body)
        else:
            result = svc.call(service_id, body)
        return json_response(result)

    @handler
    async def feedback(request: Request) -> Response:
        await authenticate(request)
        service_id = request.path_params["service_id"]
        svc.endpoint(service_id)
        count = svc.feedback(service_id, await read_json(request))
        return json_response({"accepted": count})

    @handler
    async def apply(request: Request) -> Response:
        await authenticate(request)
        body = await read_json(request)
        plan, patient, practitioner = _apply_params(body, request.path_params.get("plan_id"))
        return json_response(svc.apply(plan, patient, practitioner), fhir=True)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        err = CdsRequestError(
            f"{request.method} {request.url.path}: "
            f"{exc.detail if isinstance(exc, HTTPException) else 'server error'}"
        )
        err.status = status
        err.issue_code = {404: "not-found", 405: "not-supported"}.get(status, "processing")
        return error_response(err)

    async def server_error(request: Request, exc: Exception) -> Response:
        return internal_error(request, exc)

    app = Starlette(
        routes=[
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/{service_id}", call_service, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
            Route("/PlanDefinition/$apply", apply, methods=["POST"]),
            Route("/PlanDefinition/{plan_id}/$apply", apply, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.service = svc
    app.add_middleware(CorsMiddleware, origins=config.cors_origins)
    return app


def _param(params: list[Any], name: str) -> dict[str, Any] | None:
    return next((p for p in params if isinstance(p, dict) and p.get("name") == name), None)


def _apply_params(body: Any, plan_id: str | None) -> tuple[str, Any, str | None]:
    """Parameters(url|planDefinition|canonical, subject, data, practitioner) or plain JSON
    ``{"planDefinition": url, "patient": Patient|Bundle, "practitioner"?: ref}``."""
    if not isinstance(body, dict):
        raise InvalidRequestError(
            f"$apply body must be a FHIR Parameters resource or a JSON object, got {kind(body)}"
        )
    if body.get("resourceType") == "Parameters":
        params = body.get("parameter")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise InvalidRequestError(f"Parameters.parameter must be an array, got {kind(params)}")
        plan_p = next((p for n in ("url", "planDefinition", "canonical") if (p := _param(params, n))), None)
        plan = None
        if plan_p:
            plan = next(
                (plan_p[k] for k in ("valueUri", "valueCanonical", "valueUrl", "valueString") if k in plan_p),
                None,
            )
        data = (_param(params, "data") or {}).get("resource")
        prac = _param(params, "practitioner") or {}
        reference = prac.get("valueReference")
        practitioner = prac.get("valueString") or (
            reference.get("reference") if isinstance(reference, dict) else reference
        )
    else:
        plan, data, practitioner = (
            body.get("planDefinition"),
            body.get("patient"),
            body.get("practitioner"),
        )
    plan = plan_id or plan
    if not isinstance(plan, str) or not plan:
        raise InvalidRequestError("$apply needs the PlanDefinition (url parameter or path id)")
    if data is None:
        raise InvalidRequestError("$apply needs the patient's data ('data' Bundle parameter)")
    if practitioner is not None and not isinstance(practitioner, str):
        raise InvalidRequestError(f"practitioner must be a reference string, got {kind(practitioner)}")
    return plan, data, practitioner


def app_from_env() -> Starlette:
    """Factory for uvicorn workers: reads the config JSON from the environment."""
    return create_app(config_from_env())
