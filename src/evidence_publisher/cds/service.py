"""The CDS Hooks service logic, independent of HTTP: discovery, hook calls, feedback, $apply."""

from __future__ import annotations

import logging
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
    UnknownServiceError,
)
from evidence_publisher.cds.evaluate import evaluate
from evidence_publisher.cds.feedback import validate_feedback
from evidence_publisher.cds.knowledge import (
    KnowledgeBase,
    load_from_path,
    load_from_server,
    without_experimental,
)
from evidence_publisher.cds.patient_data import FhirAccess, gather, prefetch_templates
from evidence_publisher.cds.recommendation import Recommendation, compile_all

log = logging.getLogger("evidence_publisher.cds")


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
                f"no CDS service with id {service_id!r}",
                details=["GET /cds-services lists the services"],
            )
        return ep

    def _access(self, body: dict[str, Any]) -> FhirAccess | None:
        server, auth = body.get("fhirServer"), body.get("fhirAuthorization")
        if auth is None:
            if server is not None and not isinstance(server, str):
                raise InvalidRequestError("fhirServer must be a URL string")
            return None
        if not isinstance(server, str) or not server:
            raise InvalidRequestError("fhirAuthorization given without fhirServer (cds-r-1)")
        if not (
            server.startswith("https://")
            or (self.config.allow_http_fhir_server and server.startswith("http://"))
        ):
            raise InvalidRequestError(f"fhirServer {server!r} must be an https URL")
        if (
            not isinstance(auth, dict)
            or not isinstance(auth.get("access_token"), str)
            or not auth["access_token"]
        ):
            raise InvalidRequestError("fhirAuthorization.access_token must be a non-empty string")
        if str(auth.get("token_type", "")).lower() != "bearer":
            raise InvalidRequestError("fhirAuthorization.token_type must be 'Bearer'")
        return FhirAccess(
            server=server,
            token=auth["access_token"],
            timeout=self.config.http_timeout_seconds,
            session=self.session,
        )

    def call(self, service_id: str, body: Any) -> dict[str, Any]:
        ep = self.endpoint(service_id)
        if not isinstance(body, dict):
            raise InvalidRequestError("the request body must be a JSON object")
        missing = [k for k in ("hook", "hookInstance", "context") if not body.get(k)]
        if missing:
            raise InvalidRequestError(f"request is missing {missing!r}")
        if body["hook"] != ep.hook:
            raise InvalidRequestError(f"service {ep.id!r} answers hook {ep.hook!r}, not {body['hook']!r}")
        context = body["context"]
        if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
            raise InvalidRequestError("context.patientId is required (a string)")
        prefetch = body.get("prefetch")
        if prefetch is not None and not isinstance(prefetch, dict):
            raise InvalidRequestError("prefetch must be an object")
        access = self._access(body)
        patient_id = context["patientId"]
        resources = gather(ep.rec, patient_id, prefetch, access)
        result = evaluate(ep.rec, resources)
        cards: list[dict[str, Any]] = []
        if result.applies:
            user = context.get("userId") if isinstance(context.get("userId"), str) else None
            cards.append(
                build_card(
                    ep.rec,
                    patient_id=patient_id,
                    user_id=user,
                    override_reasons=self.config.override_reasons,
                    suggest=not _already_drafted(ep.rec, context),
                    new_uuid=self.new_uuid,
                )
            )
        log.info(
            "hook=%s service=%s hookInstance=%s applies=%s cards=%d",
            ep.hook,
            ep.id,
            str(body["hookInstance"])[:64],
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
        raise UnknownServiceError(f"no recommendation PlanDefinition {plan!r} is loaded", details=details)

    def apply(self, plan: str, patient_doc: Any, practitioner: str | None = None) -> dict[str, Any]:
        rec = self.find_plan(plan)
        patient_id, resources = split_patient_data(patient_doc)
        bundle, _ = apply_recommendation(
            rec, patient_id, resources, practitioner=practitioner, new_uuid=self.new_uuid
        )
        return bundle


def _already_drafted(rec: Recommendation, context: dict[str, Any]) -> bool:
    """order-select: do not suggest the order again when it is already among the draft orders."""
    drafts = context.get("draftOrders")
    if rec.activity is None or not isinstance(drafts, dict):
        return False
    url = rec.activity.get("url")
    for entry in drafts.get("entry") or []:
        res = (entry or {}).get("resource") or {}
        if any(str(c).partition("|")[0] == url for c in res.get("instantiatesCanonical") or []):
            return True
    return False
