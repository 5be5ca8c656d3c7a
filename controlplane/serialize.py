"""The JSON shape of each object, shared by the CLI's ``--json`` and the admin API.

Never includes a secret: the plaintext client secret is added only by the verbs that issue
one, and the storage secret access key is write-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controlplane.models import (
    AdminClient,
    App,
    AuditEvent,
    LicenseRegion,
    OutboxEmail,
    Plan,
    SigningKey,
    Tenant,
)
from controlplane.rules.tenants import effective_app_limit


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def region(r: LicenseRegion) -> dict[str, Any]:
    return {
        "code": r.code,
        "name": r.name,
        "active": r.active,
        "databases": [{"db_code": d.db_code, "active": d.active} for d in r.databases],
        "created_at": _time(r.created_at),
    }


def plan(p: Plan) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "is_free": p.is_free,
        "document_units_per_month": p.document_units_per_month,
        "max_api_requests_per_minute": p.max_api_requests_per_minute,
        "retired": p.retired,
        "created_at": _time(p.created_at),
    }


def tenant(t: Tenant, *, default_app_limit: int) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "name": t.name,
        "status": t.status,
        "app_limit": effective_app_limit(t, default_app_limit),
        "app_limit_override": t.app_limit,
        "owners": sorted(m.user.email for m in t.memberships if m.role == "owner"),
        "created_at": _time(t.created_at),
    }


def app(a: App, *, client_secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(a.id),
        "client_id": a.client_id,
    }
    if client_secret is not None:
        out["client_secret"] = client_secret
    out.update(
        {
            "tenant_id": str(a.tenant_id),
            "name": a.name,
            "license_region_code": a.region.code if a.region is not None else None,
            "db_code": a.db_code,
            "allowed_domains": list(a.allowed_domains),
            "redirect_uris": list(a.redirect_uris),
            "post_logout_redirect_uris": list(a.post_logout_redirect_uris),
            "enabled": a.enabled,
            "plan": a.plan.code if a.plan is not None else None,
            "storage": (
                {
                    "provider": a.storage.provider,
                    "access_key_id": a.storage.access_key_id,
                    "bucket": a.storage.bucket,
                    "endpoint_url": a.storage.endpoint_url,
                    "region": a.storage.region,
                }
                if a.storage is not None
                else None
            ),
            "created_at": _time(a.created_at),
        }
    )
    return out


def email(e: OutboxEmail) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "to": e.to_address,
        "subject": e.subject,
        "status": e.status,
        "attempts": e.attempts,
        "next_attempt_at": _time(e.next_attempt_at),
        "last_error": e.last_error,
        "created_at": _time(e.created_at),
        "sent_at": _time(e.sent_at),
    }


def signing_key(k: SigningKey, *, published: bool) -> dict[str, Any]:
    """Public facts about a key; never its private part."""
    return {
        "kid": k.kid,
        "alg": k.alg,
        "state": k.state,
        "published": published,
        "created_at": _time(k.created_at),
        "activated_at": _time(k.activated_at),
        "retired_at": _time(k.retired_at),
    }


def admin_client(c: AdminClient) -> dict[str, Any]:
    """An admin API client; never its secret (only ``create`` and ``regenerate`` show one)."""
    return {
        "client_id": c.client_id,
        "name": c.name,
        "enabled": c.enabled,
        "created_at": _time(c.created_at),
    }


def audit_event(e: AuditEvent) -> dict[str, Any]:
    """One audit event as recorded (its details never hold a secret: see rules.audit)."""
    return {
        "id": e.id,
        "at": _time(e.at),
        "actor": e.actor,
        "address": e.address,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "tenant_id": str(e.tenant_id) if e.tenant_id is not None else None,
        "details": dict(e.details or {}),
    }
