"""The claims of an access token (SPEC §2 table), built in one pure function.

This is the only place that maps the model's names to the claim names resource servers read
(``db_code`` → ``dbCode`` and so on). The registered claims are set last so no custom value
can ever overwrite ``iss``, ``aud``, ``sub``, ``exp``, ``iat`` or ``jti``.
"""

from __future__ import annotations

from typing import Any

from controlplane.models import App
from controlplane.rules.apps import TokenSubject

MAX_DOMAINS = 3


def limits(subject: TokenSubject) -> dict[str, int]:
    """The ``limits`` claim of a usable plan: only the limits the plan sets (``{}`` for none)."""
    out: dict[str, int] = {}
    if subject.document_units_per_month is not None:
        out["documentUnitsPerMonth"] = subject.document_units_per_month
    if subject.max_api_requests_per_minute is not None:
        out["maxApiRequestsPerMinute"] = subject.max_api_requests_per_minute
    return out


def tenant_claims(app: TokenSubject | App) -> dict[str, Any]:
    """Claims that describe the app's tenant, placement and plan."""
    s = app if isinstance(app, TokenSubject) else TokenSubject.of(app)
    claims: dict[str, Any] = {
        "tenantid": str(s.tenant_id),
        "appId": str(s.app_id),
        "licenseRegionCode": s.region_code,
        "dbCode": s.db_code,
    }
    for position, domain in enumerate(s.allowed_domains[:MAX_DOMAINS], start=1):
        claims[f"allowed_domain_{position}"] = domain
    if s.plan_code is not None and not s.plan_retired:
        claims["limits"] = limits(s)
    return claims


def build(
    app: TokenSubject | App, *, issuer: str, audience: str, issued_at: int, lifetime: int, jti: str
) -> dict[str, Any]:
    """All claims of the token ``app`` would get at ``issued_at`` (seconds since the epoch)."""
    claims = tenant_claims(app)
    claims.update(
        iss=issuer,
        aud=audience,
        sub=app.client_id,
        client_id=app.client_id,
        iat=issued_at,
        exp=issued_at + lifetime,
        jti=jti,
    )
    return claims


ADMIN_API_PATH = "/api/v1"
ADMIN_SCOPE = "admin"


def admin_audience(issuer: str) -> str:
    """The ``aud`` of admin API tokens (SPEC §3 Admin API): the API's own URL."""
    return issuer + ADMIN_API_PATH


def build_admin(
    client_id: str, *, issuer: str, issued_at: int, lifetime: int, jti: str
) -> dict[str, Any]:
    """An admin client's token claims: registered claims and ``scope``, no tenant claims."""
    return {
        "iss": issuer,
        "aud": admin_audience(issuer),
        "sub": client_id,
        "client_id": client_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti,
        "scope": ADMIN_SCOPE,
    }
