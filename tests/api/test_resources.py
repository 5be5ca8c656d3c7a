"""Every /api/v1 resource: the happy path, and refused input that changes nothing.

The API is a face over the rules: these tests check the translation (status, problem shape,
field, JSON shapes shared with the CLI), not the rules themselves (tests/rules does).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api.conftest import Api, assert_problem
from tests.oauth.helpers import access_token, assert_oauth_error, token_by_basic

Unchanged = Callable[[Callable[[], TestResponse]], TestResponse]


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """Region EU with a database, a free and a paid plan, an active tenant."""
    api.ok("POST", "/regions", {"code": "eu", "name": "Europe"}, status=201)
    api.ok("POST", "/regions/EU/databases", {"db_code": "eu-db-1"}, status=201)
    api.ok("POST", "/plans", {"code": "free", "name": "Free", "is_free": True}, status=201)
    api.ok(
        "POST",
        "/plans",
        {
            "code": "pro",
            "name": "Pro",
            "document_units_per_month": 5,
            "max_api_requests_per_minute": 60,
        },
        status=201,
    )
    tenant = api.ok(
        "POST", "/tenants", {"name": "Acme", "owner_email": "Owner@Example.com"}, status=201
    )
    api.ok("POST", f"/tenants/{tenant['id']}/activate")
    return {"tenant_id": tenant["id"]}


@pytest.fixture
def app_created(api: Api, world: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = api.ok(
        "POST",
        f"/tenants/{world['tenant_id']}/apps",
        {"name": "backend", "region": "EU", "allowed_domains": ["https://App.Example.com/"]},
        status=201,
    )
    return created


# --- regions -------------------------------------------------------------------------------
def test_regions_and_databases(api: Api) -> None:
    created = api.ok("POST", "/regions", {"code": "eu", "name": "Europe"}, status=201)
    assert created["code"] == "EU"
    assert created["databases"] == []
    region = api.ok("POST", "/regions/eu/databases", {"db_code": "EU-DB-1"}, status=201)
    assert region["databases"] == [{"db_code": "eu-db-1", "active": True}]

    assert api.ok("POST", "/regions/EU/deactivate")["active"] is False
    assert api.ok("POST", "/regions/EU/activate")["active"] is True
    off = api.ok("POST", "/regions/EU/databases/eu-db-1/deactivate")
    assert off["databases"] == [{"db_code": "eu-db-1", "active": False}]
    on = api.ok("POST", "/regions/EU/databases/eu-db-1/activate")
    assert on["databases"] == [{"db_code": "eu-db-1", "active": True}]
    assert api.ok("GET", "/regions") == [api.ok("GET", "/regions/EU")]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error", "field"),
    [
        ("POST", "/regions", {"code": "EU", "name": "Again"}, 409, "conflict", "code"),
        ("POST", "/regions", {"code": "1x", "name": "Bad"}, 400, "invalid", "code"),
        ("POST", "/regions", {"code": "CA", "name": " "}, 400, "invalid", "name"),
        ("POST", "/regions", {"code": "US"}, 422, "invalid", "name"),
        ("POST", "/regions", {"code": 5, "name": "x"}, 422, "invalid", "code"),
        ("POST", "/regions", {"code": "US", "name": "x", "extra": 1}, 422, "invalid", "extra"),
        ("POST", "/regions", ["not", "an", "object"], 422, "invalid", None),
        ("GET", "/regions/XX", None, 404, "not_found", "region"),
        ("POST", "/regions/XX/activate", None, 404, "not_found", "region"),
        ("POST", "/regions/XX/databases", {"db_code": "x-1"}, 404, "not_found", "region"),
        ("POST", "/regions/EU/databases", {"db_code": "eu-db-1"}, 409, "conflict", "db_code"),
        ("POST", "/regions/EU/databases", {"db_code": "no spaces"}, 400, "invalid", "db_code"),
        ("POST", "/regions/EU/databases", {}, 422, "invalid", "db_code"),
        ("POST", "/regions/EU/databases/nope/activate", None, 404, "not_found", "db_code"),
        ("POST", "/regions/US/databases/eu-db-1/deactivate", None, 404, "not_found", "db_code"),
    ],
)
def test_region_refusals(
    api: Api,
    unchanged: Unchanged,
    method: str,
    path: str,
    body: Any,
    status: int,
    error: str,
    field: str | None,
) -> None:
    api.ok("POST", "/regions", {"code": "EU", "name": "Europe"}, status=201)
    api.ok("POST", "/regions/EU/databases", {"db_code": "eu-db-1"}, status=201)
    api.ok("POST", "/regions", {"code": "US", "name": "United States"}, status=201)

    assert_problem(unchanged(lambda: api(method, path, body)), status, error, field=field)


def test_a_body_that_is_not_json_is_refused(api: Api, unchanged: Unchanged) -> None:
    res = unchanged(
        lambda: api("POST", "/regions", data="{not json", content_type="application/json")
    )
    assert_problem(res, 400, "invalid")
    res = unchanged(lambda: api("POST", "/regions", data="code=EU", content_type="text/plain"))
    assert_problem(res, 422, "invalid")


# --- plans ---------------------------------------------------------------------------------
def test_plans(api: Api) -> None:
    created = api.ok(
        "POST", "/plans", {"code": "Pro", "name": "Pro", "document_units_per_month": 10}, status=201
    )
    assert created == {
        "code": "pro",
        "name": "Pro",
        "is_free": False,
        "document_units_per_month": 10,
        "max_api_requests_per_minute": None,
        "retired": False,
        "created_at": created["created_at"],
    }
    assert api.ok("GET", "/plans/pro") == created
    assert api.ok("POST", "/plans/pro/retire")["retired"] is True
    assert [p["code"] for p in api.ok("GET", "/plans")] == ["pro"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"code": "pro", "name": "Again"}, 409, "code"),
        ({"code": "no spaces", "name": "x"}, 400, "code"),
        (
            {"code": "x", "name": "x", "document_units_per_month": -1},
            422,
            "document_units_per_month",
        ),
        (
            {"code": "x", "name": "x", "max_api_requests_per_minute": "5"},
            422,
            "max_api_requests_per_minute",
        ),
        (
            {"code": "x", "name": "x", "document_units_per_month": 2**31},
            422,
            "document_units_per_month",
        ),
        ({"code": "x", "name": "x", "is_free": "yes"}, 422, "is_free"),
        ({"code": "x", "name": "x", "is_free": 1}, 422, "is_free"),
        ({"name": "x"}, 422, "code"),
    ],
)
def test_plan_refusals(
    api: Api, unchanged: Unchanged, body: dict[str, Any], status: int, field: str
) -> None:
    api.ok("POST", "/plans", {"code": "pro", "name": "Pro"}, status=201)

    res = unchanged(lambda: api("POST", "/plans", body))

    assert_problem(res, status, "conflict" if status == 409 else "invalid", field=field)


def test_unknown_plans_are_404(api: Api, unchanged: Unchanged) -> None:
    assert_problem(unchanged(lambda: api("GET", "/plans/nope")), 404, "not_found")
    assert_problem(unchanged(lambda: api("POST", "/plans/nope/retire")), 404, "not_found")


# --- tenants -------------------------------------------------------------------------------
def test_tenant_lifecycle(api: Api) -> None:
    created = api.ok(
        "POST", "/tenants", {"name": "Acme", "owner_email": "Owner@Example.com"}, status=201
    )
    assert created["status"] == "pending_activation"
    assert created["owners"] == ["owner@example.com"]
    tenant = f"/tenants/{created['id']}"

    assert api.ok("POST", tenant + "/activate")["status"] == "active"
    assert api.ok("POST", tenant + "/suspend")["status"] == "suspended"
    assert api.ok("POST", tenant + "/activate")["status"] == "active"
    limited = api.ok("PUT", tenant + "/app-limit", {"app_limit": 2})
    assert (limited["app_limit"], limited["app_limit_override"]) == (2, 2)
    default = api.ok("PUT", tenant + "/app-limit", {"app_limit": None})
    assert (default["app_limit"], default["app_limit_override"]) == (10, None)
    assert api.ok("GET", tenant) == default
    assert api.ok("GET", "/tenants") == [default]
    outbox = api.ok("GET", "/outbox")
    assert sorted(e["kind"] for e in outbox) == ["activation", "activation", "welcome"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "error", "field"),
    [
        ("POST", "/activate", None, 409, "conflict", None),  # already active
        ("PUT", "/app-limit", {"app_limit": -1}, 422, "invalid", "app_limit"),
        ("PUT", "/app-limit", {"app_limit": 1.5}, 422, "invalid", "app_limit"),
        ("PUT", "/app-limit", {}, 422, "invalid", "app_limit"),
    ],
)
def test_tenant_refusals(
    api: Api,
    world: dict[str, Any],
    unchanged: Unchanged,
    method: str,
    suffix: str,
    body: Any,
    status: int,
    error: str,
    field: str | None,
) -> None:
    path = f"/tenants/{world['tenant_id']}{suffix}"
    assert_problem(unchanged(lambda: api(method, path, body)), status, error, field=field)


def test_tenant_creation_refusals(api: Api, world: dict[str, Any], unchanged: Unchanged) -> None:
    for body, field in (
        ({"name": "Acme", "owner_email": "not-an-address"}, None),
        ({"name": "", "owner_email": "a@example.com"}, "name"),
        ({"name": "Acme"}, "owner_email"),
    ):
        res = unchanged(lambda body=body: api("POST", "/tenants", body))
        assert res.status_code in (400, 422)
        problem = assert_problem(res, res.status_code, "invalid")
        if field is not None:
            assert problem["field"] == field


def test_unknown_and_malformed_tenant_ids_are_404(api: Api, unchanged: Unchanged) -> None:
    for path in (
        f"/tenants/{uuid.uuid4()}",
        "/tenants/not-a-uuid",
        f"/tenants/{uuid.uuid4()}/apps",
    ):
        assert_problem(unchanged(lambda path=path: api("GET", path)), 404, "not_found")
    res = unchanged(lambda: api("POST", f"/tenants/{uuid.uuid4()}/suspend"))
    assert_problem(res, 404, "not_found")


# --- apps ----------------------------------------------------------------------------------
def test_app_creation_shows_the_secret_once(
    api: Api, client: FlaskClient, world: dict[str, Any], app_created: dict[str, Any]
) -> None:
    assert app_created["allowed_domains"] == ["app.example.com"]
    assert (app_created["license_region_code"], app_created["db_code"]) == ("EU", "eu-db-1")
    secret = app_created.pop("client_secret")
    client_id = app_created["client_id"]
    access_token(token_by_basic(client, client_id, secret))

    shown = api.ok("GET", f"/apps/{client_id}")
    listed = api.ok("GET", f"/tenants/{world['tenant_id']}/apps")
    assert shown == app_created
    assert listed == [app_created]
    for document in (shown, listed, api.ok("GET", "/audit-events")):
        assert secret not in str(document)
        assert "client_secret" not in str(document)


def test_app_changes(api: Api, client: FlaskClient, app_created: dict[str, Any]) -> None:
    client_id, old = app_created["client_id"], app_created["client_secret"]
    path = f"/apps/{client_id}"

    issued = api.ok("POST", path + "/secret")
    assert set(issued) == {"client_id", "client_secret"}
    assert_oauth_error(token_by_basic(client, client_id, old), 401, "invalid_client")
    access_token(token_by_basic(client, client_id, issued["client_secret"]))

    assert api.ok("POST", path + "/disable")["enabled"] is False
    assert_oauth_error(
        token_by_basic(client, client_id, issued["client_secret"]), 400, "unauthorized_client"
    )
    assert api.ok("POST", path + "/enable")["enabled"] is True

    domains = api.ok("PUT", path + "/domains", {"allowed_domains": ["http://localhost:3000/"]})
    assert domains["allowed_domains"] == ["localhost:3000"]
    assert api.ok("PUT", path + "/plan", {"plan": "pro"})["plan"] == "pro"
    assert api.ok("PUT", path + "/plan", {"plan": None})["plan"] is None

    storage = {
        "provider": "aws_s3",
        "access_key_id": "AKIA1",
        "secret_access_key": "s3-secret-value",
        "bucket": "docs",
        "region": "eu-west-1",
    }
    saved = api.ok("PUT", path + "/storage", storage)
    assert saved["storage"] == {
        "provider": "aws_s3",
        "access_key_id": "AKIA1",
        "bucket": "docs",
        "endpoint_url": None,
        "region": "eu-west-1",
    }
    # Write-only: never answered, and may be left out to keep the saved one.
    kept = api.ok("PUT", path + "/storage", {**storage, "secret_access_key": None, "bucket": "b2"})
    assert kept["storage"]["bucket"] == "b2"
    for document in (saved, kept, api.ok("GET", path), api.ok("GET", "/audit-events")):
        assert "s3-secret-value" not in str(document)
    assert api.ok("DELETE", path + "/storage")["storage"] is None


@pytest.mark.parametrize(
    ("body", "status", "error", "field"),
    [
        ({"name": "b", "region": "XX"}, 404, "not_found", "region"),
        ({"name": "b", "region": "EU", "db_code": "eu-db-9"}, 409, "conflict", "db_code"),
        (
            {"name": "b", "region": "EU", "allowed_domains": ["*.example.com"]},
            400,
            "invalid",
            "allowed_domains",
        ),
        (
            {"name": "b", "region": "EU", "allowed_domains": ["a.com", "a.com"]},
            400,
            "invalid",
            "allowed_domains",
        ),
        (
            {"name": "b", "region": "EU", "allowed_domains": ["a.com"] * 4},
            422,
            "invalid",
            "allowed_domains",
        ),
        (
            {"name": "b", "region": "EU", "redirect_uris": ["/relative"]},
            400,
            "invalid",
            "redirect_uris",
        ),
        ({"name": "b", "region": "EU", "plan": "nope"}, 404, "not_found", "plan"),
        ({"name": "b", "region": "EU", "plan": "free"}, 409, "conflict", "plan"),  # one free app
        ({"name": "", "region": "EU"}, 400, "invalid", "name"),
        ({"region": "EU"}, 422, "invalid", "name"),
        (
            {"name": "b", "region": "EU", "allowed_domains": "a.com"},
            422,
            "invalid",
            "allowed_domains",
        ),
    ],
)
def test_app_creation_refusals(
    api: Api,
    world: dict[str, Any],
    unchanged: Unchanged,
    body: dict[str, Any],
    status: int,
    error: str,
    field: str,
) -> None:
    path = f"/tenants/{world['tenant_id']}/apps"
    api.ok("POST", path, {"name": "first", "region": "EU", "plan": "free"}, status=201)

    assert_problem(unchanged(lambda: api("POST", path, body)), status, error, field=field)


def test_the_app_limit_is_enforced(api: Api, world: dict[str, Any], unchanged: Unchanged) -> None:
    tenant = f"/tenants/{world['tenant_id']}"
    api.ok("PUT", tenant + "/app-limit", {"app_limit": 1})
    api.ok("POST", tenant + "/apps", {"name": "a", "region": "EU"}, status=201)

    res = unchanged(lambda: api("POST", tenant + "/apps", {"name": "b", "region": "EU"}))

    assert_problem(res, 409, "conflict", field="name")


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "error", "field"),
    [
        ("PUT", "/domains", {"allowed_domains": ["bad_domain"]}, 400, "invalid", "allowed_domains"),
        ("PUT", "/domains", {"allowed_domains": [1]}, 422, "invalid", "allowed_domains.0"),
        ("PUT", "/domains", {}, 422, "invalid", "allowed_domains"),
        ("PUT", "/plan", {"plan": "nope"}, 404, "not_found", "plan"),
        ("PUT", "/plan", {}, 422, "invalid", "plan"),
        (
            "PUT",
            "/storage",
            {"provider": "ftp", "access_key_id": "a", "bucket": "b"},
            422,
            "invalid",
            "provider",
        ),
        (
            "PUT",
            "/storage",
            {"provider": "aws_s3", "access_key_id": "a", "bucket": "b"},
            400,
            "invalid",
            "secret_access_key",
        ),
        (
            "PUT",
            "/storage",
            {
                "provider": "aws_s3",
                "access_key_id": "a",
                "bucket": "b",
                "secret_access_key": "s",
                "endpoint_url": "http://169.254.169.254/",
            },
            400,
            "invalid",
            "endpoint_url",
        ),
    ],
)
def test_app_change_refusals(
    api: Api,
    app_created: dict[str, Any],
    unchanged: Unchanged,
    method: str,
    suffix: str,
    body: Any,
    status: int,
    error: str,
    field: str,
) -> None:
    path = f"/apps/{app_created['client_id']}{suffix}"
    assert_problem(unchanged(lambda: api(method, path, body)), status, error, field=field)


def test_unknown_apps_are_404(api: Api, world: dict[str, Any], unchanged: Unchanged) -> None:
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/secret", None),
        ("POST", "/enable", None),
        ("POST", "/disable", None),
        ("PUT", "/domains", {"allowed_domains": []}),
        ("PUT", "/plan", {"plan": None}),
        ("DELETE", "/storage", None),
    ):
        res = unchanged(lambda m=method, s=suffix, b=body: api(m, f"/apps/{'f' * 24}{s}", b))
        assert_problem(res, 404, "not_found", field="client_id")


# --- keys, outbox, audit -------------------------------------------------------------------
def test_keys_list_and_rotate(api: Api, unchanged: Unchanged) -> None:
    listed = api.ok("GET", "/keys")
    assert sorted(k["state"] for k in listed) == ["current", "next"]
    assert all(k["published"] for k in listed)
    assert all(
        set(k) == {"kid", "alg", "state", "published", "created_at", "activated_at", "retired_at"}
        for k in listed
    )

    # The next key is younger than 10 minutes: refused without force, nothing changes.
    assert_problem(unchanged(lambda: api("POST", "/keys/rotate", {})), 409, "conflict")
    assert_problem(unchanged(lambda: api("POST", "/keys/rotate", {"force": "yes"})), 422, "invalid")

    next_kid = next(k["kid"] for k in listed if k["state"] == "next")
    rotation = api.ok("POST", "/keys/rotate", {"force": True})
    assert rotation["rotated"] is True
    assert rotation["current"]["kid"] == next_kid
    # This process signs with the new key at once, and the API still accepts its tokens.
    assert api.ok("GET", "/keys")[0]["state"] == "next"


def test_outbox_list_filter_and_retry(
    api: Api, world: dict[str, Any], unchanged: Unchanged
) -> None:
    emails = api.ok("GET", "/outbox?status=pending")
    assert len(emails) == 2
    assert "body" not in emails[0]
    assert api.ok("GET", "/outbox?status=failed") == []
    retried = api.ok("POST", f"/outbox/{emails[0]['id']}/retry")
    assert retried["status"] == "pending"
    assert retried["attempts"] == 0

    assert_problem(
        unchanged(lambda: api("GET", "/outbox?status=lost")), 422, "invalid", field="status"
    )
    assert_problem(unchanged(lambda: api("POST", "/outbox/999999/retry")), 404, "not_found")
    assert_problem(unchanged(lambda: api("POST", "/outbox/99999999999/retry")), 404, "not_found")


def test_audit_events_newest_first_with_filters_and_keyset_pages(
    api: Api, world: dict[str, Any], cli_json: Callable[..., Any], unchanged: Unchanged
) -> None:
    for name in ("one", "two", "three"):
        cli_json("admin-client", "create", name)

    page = api.ok("GET", "/audit-events?limit=2")
    ids = [e["id"] for e in page["events"]]
    assert ids == sorted(ids, reverse=True)
    assert page["next_before_id"] == ids[-1]
    rest = api.ok("GET", f"/audit-events?limit=1000&before_id={page['next_before_id']}")
    assert all(e["id"] < ids[-1] for e in rest["events"])
    assert rest["next_before_id"] is None

    three = next(e for e in rest["events"] + page["events"] if e["details"].get("name") == "three")
    only = api.ok("GET", f"/audit-events?target_type=admin_client&target_id={three['target_id']}")
    assert [e["id"] for e in only["events"]] == [three["id"]]
    none = api.ok("GET", f"/audit-events?tenant_id={world['tenant_id']}&target_type=nothing")
    assert none == {"events": [], "next_before_id": None}

    for query, field in (
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("tenant_id=nope", "tenant_id"),
        ("before_id=-1", "before_id"),
    ):
        res = unchanged(lambda q=query: api("GET", f"/audit-events?{q}"))
        assert_problem(res, 422, "invalid", field=field)


def test_unknown_routes_and_methods_answer_problems(api: Api) -> None:
    assert_problem(api("GET", "/nothing-here"), 404, "not_found")
    res = api("DELETE", "/regions")
    assert_problem(res, 405, "method_not_allowed")
    assert res.headers["Allow"] == "GET, HEAD, POST" or "POST" in res.headers["Allow"]
