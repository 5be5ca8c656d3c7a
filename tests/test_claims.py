"""SPEC §2 access-token claims, built by :func:`controlplane.claims.build` (a pure function)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from controlplane import claims
from controlplane.models import App, LicenseRegion, Plan, Tenant
from controlplane.rules import apps

ISSUER = "https://auth.example.com"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
TENANT_ID = uuid.UUID("6f1c2d9e-8a41-4c3b-9f0e-2b7d5a1c3e44")
APP_ID = uuid.UUID("0b8e7f6a-5d4c-4b3a-8291-a0b1c2d3e4f5")
CLIENT_ID = "0123456789abcdef01234567"


def make(
    *,
    domains: list[str] | None = None,
    plan: Plan | None = None,
    region: str = "EU",
    db_code: str = "eu-db-1",
) -> App:
    """An app as the token path loads it, without a database (claims.build is pure)."""
    return App(
        id=APP_ID,
        tenant_id=TENANT_ID,
        tenant=Tenant(id=TENANT_ID, name="Acme", status="active"),
        client_id=CLIENT_ID,
        region=LicenseRegion(code=region, name="Europe"),
        db_code=db_code,
        allowed_domains=list(domains or []),
        enabled=True,
        plan=plan,
    )


def make_plan(
    *,
    document_units_per_month: int | None = None,
    max_api_requests_per_minute: int | None = None,
    retired: bool = False,
) -> Plan:
    return Plan(
        code="pro",
        name="Pro",
        is_free=False,
        document_units_per_month=document_units_per_month,
        max_api_requests_per_minute=max_api_requests_per_minute,
        retired=retired,
    )


def build(app: App, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": "api",
        "issued_at": NOW,
        "lifetime": 900,
        "jti": "jti-1",
    }
    arguments.update(overrides)
    return claims.build(app, **arguments)


def test_a_token_carries_every_claim_of_the_spec_table() -> None:
    """SPEC §2's table, claim by claim, for an app with three domains and a usable plan."""
    plan = make_plan(document_units_per_month=10_000, max_api_requests_per_minute=600)
    app = make(domains=["app.example.com", "localhost:3000", "xn--bcher-kva.example"], plan=plan)

    assert build(app) == {
        "iss": ISSUER,
        "aud": "api",
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "jti-1",
        "tenantid": str(TENANT_ID),
        "appId": str(APP_ID),
        "licenseRegionCode": "EU",
        "dbCode": "eu-db-1",
        "allowed_domain_1": "app.example.com",
        "allowed_domain_2": "localhost:3000",
        "allowed_domain_3": "xn--bcher-kva.example",
        "limits": {"documentUnitsPerMonth": 10_000, "maxApiRequestsPerMinute": 600},
    }


def test_claims_are_plain_json() -> None:
    built = build(make(domains=["app.example.com"], plan=make_plan()))
    assert json.loads(json.dumps(built)) == built


@pytest.mark.parametrize("lifetime", [60, 900, 86_400])
def test_sub_is_the_client_id_and_exp_is_iat_plus_the_lifetime(lifetime: int) -> None:
    """SPEC §2: `sub` = `client_id`; `exp` = `iat` + lifetime."""
    built = build(make(), lifetime=lifetime, issued_at=NOW + 7)

    assert built["sub"] == built["client_id"] == CLIENT_ID
    assert built["iat"] == NOW + 7
    assert built["exp"] == NOW + 7 + lifetime


def test_the_audience_and_jti_are_the_callers() -> None:
    built = build(make(), audience="https://api.example.com", jti="abc")
    assert (built["aud"], built["jti"]) == ("https://api.example.com", "abc")


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_only_the_allowed_domains_that_exist_are_claimed_in_order(count: int) -> None:
    """SPEC §2: `allowed_domain_1..3`: the app's normalized domains, only those that exist."""
    domains = ["one.example.com", "two.example.com", "localhost:8080"][:count]

    built = build(make(domains=domains))

    claimed = {k: v for k, v in built.items() if k.startswith("allowed_domain")}
    assert claimed == {f"allowed_domain_{n}": d for n, d in enumerate(domains, start=1)}
    assert None not in claimed.values()


def test_no_plan_means_no_limits_claim() -> None:
    """SPEC §1 Plans: no plan: tokens are issued without a `limits` claim."""
    assert "limits" not in build(make(plan=None))


def test_a_plan_without_limits_gives_an_empty_limits_claim() -> None:
    """SPEC §1 Plans: usable plan: `limits` added (`{}` when the plan sets neither limit)."""
    assert build(make(plan=make_plan()))["limits"] == {}


@pytest.mark.parametrize(
    ("units", "rpm", "expected"),
    [
        (500, None, {"documentUnitsPerMonth": 500}),
        (None, 60, {"maxApiRequestsPerMinute": 60}),
        (0, 0, {"documentUnitsPerMonth": 0, "maxApiRequestsPerMinute": 0}),
    ],
    ids=["units-only", "rpm-only", "zero-is-a-limit"],
)
def test_the_limits_claim_carries_only_the_limits_the_plan_sets(
    units: int | None, rpm: int | None, expected: dict[str, int]
) -> None:
    """SPEC §2: `limits`: keys with no value left out."""
    plan = make_plan(document_units_per_month=units, max_api_requests_per_minute=rpm)

    limits = build(make(plan=plan))["limits"]

    assert limits == expected
    assert all(isinstance(v, int) for v in limits.values())


def test_a_retired_plan_gives_no_limits_claim() -> None:
    """A retired plan is not usable (its tokens are refused before claims are built)."""
    plan = make_plan(document_units_per_month=5, retired=True)
    assert "limits" not in build(make(plan=plan))


def test_registered_claims_cannot_be_overwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    """claims.py: the registered claims are set last so no custom value can overwrite them."""
    hostile = {
        "iss": "https://evil.example",
        "aud": "everything",
        "sub": "admin",
        "client_id": "admin",
        "iat": 0,
        "exp": 2**40,
        "jti": "replayed",
        "tenantid": str(TENANT_ID),
    }
    monkeypatch.setattr(claims, "tenant_claims", lambda app: dict(hostile))

    built = build(make())

    assert built == {
        "iss": ISSUER,
        "aud": "api",
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "jti-1",
        "tenantid": str(TENANT_ID),
    }


def test_claims_of_an_app_loaded_by_the_token_path(
    session: Session,
    make_app: Callable[..., tuple[App, str]],
    make_plan: Callable[..., Plan],
) -> None:
    """The same claims from a real app: created through the rules, loaded in one query."""
    plan = make_plan("pro", max_api_requests_per_minute=120)
    created, _ = make_app(domains=["https://app.example.com/", "http://localhost:3000/"], plan=plan)
    client_id = created.client_id
    session.expunge_all()

    loaded = apps.for_token(session, client_id)
    assert loaded is not None
    built = build(loaded)

    assert built["sub"] == built["client_id"] == client_id
    assert built["tenantid"] == str(loaded.tenant_id)
    assert built["appId"] == str(loaded.app_id)
    assert (built["licenseRegionCode"], built["dbCode"]) == ("EU", "eu-db-1")
    assert (built["allowed_domain_1"], built["allowed_domain_2"]) == (
        "app.example.com",
        "localhost:3000",
    )
    assert "allowed_domain_3" not in built
    assert built["limits"] == {"maxApiRequestsPerMinute": 120}
