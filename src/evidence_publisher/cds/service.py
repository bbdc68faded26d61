"""The CDS Hooks service logic, independent of HTTP: discovery, hook calls, feedback, $apply."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from evidence_publisher.cds.apply import apply_recommendation, split_patient_data
from evidence_publisher.cds.cards import _uuid4, build_card
from evidence_publisher.cds.config import CdsConfig
from evidence_publisher.cds.errors import (
    InvalidRequestError,
    KnowledgeLoadError,
    PatientDataError,
    PlanNotFoundError,
    UnknownServiceError,
)
from evidence_publisher.cds.evaluate import evaluate_data
from evidence_publisher.cds.feedback import validate_feedback
from evidence_publisher.cds.hook_request import HookRequest, parse_hook_request, shown
from evidence_publisher.cds.knowledge import (
    KnowledgeBase,
    load_from_path,
    load_from_server,
    without_experimental,
)
from evidence_publisher.cds.patient_data import FhirAccess, gather, prefetch_templates
from evidence_publisher.cds.recommendation import Recommendation, compile_all

log = logging.getLogger("evidence_publisher.cds")
HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what a bearer token may hold in a header value


@dataclass(frozen=True)
class Endpoint:
    id: str
    hook: str
    rec: Recommendation


def load_knowledge(config: CdsConfig, session: requests.Session | None = None) -> KnowledgeBase:
    if config.fhir_server:
        return load_from_server(config.fhir_server, timeout=config.http_timeout_seconds, session=session)
    if config.source is None:
        raise KnowledgeLoadError("no knowledge source configured")
    return load_from_path(config.source)


class CdsService:
    def __init__(
        self,
        config: CdsConfig,
        recommendations: list[Recommendation],
        *,
        session: requests.Session | None = None,
        new_uuid: Callable[[], str] = _uuid4,
        skipped_experimental: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.recommendations = recommendations
        self.skipped_experimental = skipped_experimental
        self.session = session
        self.new_uuid = new_uuid
        self.endpoints: dict[str, Endpoint] = {}
        for rec in recommendations:
            for hook in rec.hooks:
                sid = rec.service_id(hook)
                if sid in self.endpoints:
                    raise KnowledgeLoadError(f"two services would share the id {sid!r}")
                self.endpoints[sid] = Endpoint(sid, hook, rec)
        self._discovery = {
            "services": [
                {
                    "hook": ep.hook,
                    "id": ep.id,
                    "title": ep.rec.title,
                    "description": " ".join(ep.rec.description.split()),
                    "prefetch": prefetch_templates(ep.rec),
                }
                for ep in self.endpoints.values()
            ]
        }

    @classmethod
    def from_config(cls, config: CdsConfig, session: requests.Session | None = None) -> CdsService:
        kb = load_knowledge(config, session)
        skipped: list[str] = []
        if not config.serve_experimental:
            kb, skipped = without_experimental(kb)
            if skipped:
                log.warning(
                    "skipped %d experimental recommendation rule(s) (serve them with "
                    "serve_experimental: true or --serve-experimental): %s",
                    len(skipped),
                    ", ".join(skipped),
                )
        return cls(config, compile_all(kb), session=session, skipped_experimental=tuple(skipped))

    def discovery(self) -> dict[str, Any]:
        return self._discovery

    def endpoint(self, service_id: str) -> Endpoint:
        ep = self.endpoints.get(service_id)
        if ep is None:
            raise UnknownServiceError(
                f"no CDS service with id {shown(service_id)}",
                details=["GET /cds-services lists the services"],
            )
        return ep

    def _access(self, req: HookRequest) -> FhirAccess | None:
        server, auth = req.fhir_server, req.fhir_authorization
        if auth is None:
            return None
        if not server:
            raise InvalidRequestError("fhirAuthorization given without fhirServer (cds-r-1)")
        if not (
            server.startswith("https://")
            or (self.config.allow_http_fhir_server and server.startswith("http://"))
        ):
            raise InvalidRequestError("fhirServer must be an https URL")
        if (
            not isinstance(auth, dict)
            or not isinstance(auth.get("access_token"), str)
            or not auth["access_token"]
        ):
            raise InvalidRequestError("fhirAuthorization.access_token must be a non-empty string")
        if not isinstance(auth.get("token_type"), str) or auth["token_type"].lower() != "bearer":
            raise InvalidRequestError("fhirAuthorization.token_type must be 'Bearer'")
        if not HEADER_SAFE.fullmatch(auth["access_token"]):
            raise InvalidRequestError(
                "fhirAuthorization.access_token cannot be sent in an HTTP header: it holds a space, "
                "a control character or a non-ASCII character"
            )
        return FhirAccess(
            server=server,
            token=auth["access_token"],
            timeout=self.config.http_timeout_seconds,
            session=self.session,
        )

    def call(self, service_id: str, body: Any) -> dict[str, Any]:
        ep = self.endpoint(service_id)
        req = parse_hook_request(body, ep.hook, ep.id)
        access = self._access(req)
        sourced = gather(ep.rec, req.patient_id, req.prefetch, access)
        result = evaluate_data(ep.rec, sourced, InvalidRequestError)
        cards: list[dict[str, Any]] = []
        if result.applies:
            cards.append(
                build_card(
                    ep.rec,
                    patient_id=req.patient_id,
                    user_id=req.user_id,
                    override_reasons=self.config.override_reasons,
                    suggest=not _already_drafted(ep.rec, req.context),
                    new_uuid=self.new_uuid,
                )
            )
        log.info(
            "hook=%s service=%s hookInstance=%r applies=%s cards=%d",
            ep.hook,
            ep.id,
            req.hook_instance[:64],
            result.applies,
            len(cards),
        )
        return {"cards": cards}

    def feedback(self, service_id: str, body: Any) -> int:
        ep = self.endpoint(service_id)
        items = validate_feedback(body)
        for item in items:
            log.info(
                "feedback service=%s card=%s outcome=%s",
                ep.id,
                str(item["card"])[:64],
                item["outcome"],
            )
        return len(items)

    def find_plan(self, plan: str) -> Recommendation:
        url, _, version = plan.partition("|")
        for rec in self.recommendations:
            if (
                rec.id == plan
                or (rec.url == url and (not version or rec.version == version))
                or f"PlanDefinition/{rec.id}" == plan
            ):
                return rec
        details = [f"loaded: {[r.canonical for r in self.recommendations]}"]
        if self.skipped_experimental:
            details.append(
                f"experimental rules were skipped: {list(self.skipped_experimental)} "
                "(allow them with serve_experimental: true, --serve-experimental or --allow-experimental)"
            )
        raise PlanNotFoundError(f"no recommendation PlanDefinition {shown(plan)} is loaded", details=details)

    def apply(
        self, plan: str, patient_doc: Any, practitioner: str | None = None, origin: str = "patient data"
    ) -> dict[str, Any]:
        rec = self.find_plan(plan)
        patient_id, resources = split_patient_data(patient_doc, origin)
        evaluation = evaluate_data(rec, [(origin, r) for r in resources], PatientDataError)
        bundle, _ = apply_recommendation(
            rec,
            patient_id,
            resources,
            practitioner=practitioner,
            new_uuid=self.new_uuid,
            evaluation=evaluation,
        )
        return bundle


def _already_drafted(rec: Recommendation, context: dict[str, Any]) -> bool:
    """order-select: do not suggest the order again when it is already among the draft orders."""
    drafts = context.get("draftOrders")  # shape checked by hook_request.check_resource
    if rec.activity is None or not isinstance(drafts, dict):
        return False
    url = rec.activity.get("url")
    for entry in drafts.get("entry") or []:
        res = entry.get("resource") or {}
        canonicals = res.get("instantiatesCanonical")
        if isinstance(canonicals, list) and any(
            isinstance(c, str) and c.partition("|")[0] == url for c in canonicals
        ):
            return True
    return False
