"""The tenant's app pages (SPEC §1 App creation, Plans; §3 Dashboard; issue #5).

Create an app (secret shown once), the app page (token check, claims preview, quickstart),
regenerate, enable / disable, domains and plan; refusals beside their field with 400 and
nothing saved; owners and admins change, plain members view.
"""

from __future__ import annotations

import html
import json
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session
from werkzeug.test import TestResponse

from controlplane.extensions import db
from controlplane.models import App, LicenseRegion, Plan, Tenant
from controlplane.rules import apps as app_rules
from controlplane.rules import plans, regions, tenants
from tests.admin.conftest import Person
from tests.admin.helpers import (
    PASSWORD,
    add_member,
    all_errors,
    all_rows,
    errors_beside,
    flashes,
    page_csrf_token,
    sign_in,
)
from tests.admin.helpers import submit as submit_form

ISSUER = "http://localhost:8000"
TOKEN_URL = ISSUER + "/connect/token"
VIEW_ONLY = {"tenant.apps", "tenant.show"}


# --- helpers ----------------------------------------------------------------------------
_ONCE = re.compile(r'<input id="once" name="once" type="hidden" value="([^"]+)">')


def once_of(client: FlaskClient, path: str) -> str:
    """The one-time nonce the form on ``path`` carries (a new one on every GET)."""
    found = _ONCE.search(client.get(path).text)
    assert found is not None, f"no once field on {path}"
    return html.unescape(found.group(1))


def _once_in(res: TestResponse) -> str:
    found = _ONCE.search(res.text)
    assert found is not None
    return html.unescape(found.group(1))


def submit(
    client: FlaskClient,
    path: str,
    data: dict[str, Any],
    *,
    page: str | None = None,
    **kwargs: Any,
) -> TestResponse:
    """As a browser sends the form of ``page``: with its CSRF token and, if any, its nonce."""
    form = dict(data)
    if path == "/apps/new" or path.endswith("/regenerate"):
        form.setdefault("once", once_of(client, page or path))
    return submit_form(client, path, form, page=page, **kwargs)


def create_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "web",
        "region": "EU",
        "domains": ["https://App.Example.com/", "", ""],
        "redirect_uris": "https://app.example.com/callback\r\n\r\n",
        "post_logout_redirect_uris": "",
        "plan": "",
    }
    form.update(overrides)
    return form


def shown(res: TestResponse, element_id: str) -> str:
    found = re.search(rf'<code id="{element_id}"[^>]*>(.*?)</code>', res.text, re.S)
    assert found is not None, f"no #{element_id} on the page"
    return html.unescape(found.group(1))


def token(client: FlaskClient, client_id: str, secret: str) -> TestResponse:
    return client.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )


def get_app(client_id: str) -> App:
    db.session.remove()
    return app_rules.get(db.session(), client_id)


@pytest.fixture
def region(make_region: Callable[..., LicenseRegion]) -> LicenseRegion:
    return make_region("EU", databases=("eu-db-1",))


@pytest.fixture
def owner(make_person: Callable[..., Person], region: LicenseRegion) -> Person:
    return make_person(active=True)


@pytest.fixture
def signed_in(client: FlaskClient, owner: Person) -> FlaskClient:
    sign_in(client, owner.email)
    return client


@pytest.fixture
def owned_app(
    owner: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> tuple[App, str]:
    return make_app(tenant_of(owner.tenant_id), name="web")


# --- create -----------------------------------------------------------------------------
def test_the_apps_list_links_to_create_and_to_each_app(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    page = signed_in.get("/apps").text

    assert 'href="/apps/new"' in page
    assert f'href="/apps/{owned_app[0].client_id}"' in page


def test_the_create_form_offers_active_regions_and_usable_plans(
    signed_in: FlaskClient,
    make_region: Callable[..., LicenseRegion],
    make_plan: Callable[..., Plan],
    session: scoped_session[Any],
) -> None:
    make_region("US", databases=("us-db-1",))
    regions.set_active(session, regions.get(session, "US"), False)
    make_plan("pro")
    make_plan("old")
    plans.retire(session, plans.get(session, "old"))
    session.commit()

    page = signed_in.get("/apps/new")

    assert page.status_code == 200
    assert '<option value="EU">' in page.text
    assert 'value="US"' not in page.text
    assert '<option value="pro">' in page.text
    assert 'value="old"' not in page.text
    assert page.text.count('name="domains"') == 3


def test_an_owner_creates_an_app_and_sees_its_secret_once(signed_in: FlaskClient) -> None:
    res = submit(signed_in, "/apps/new", create_form())

    assert res.status_code == 201, res.text
    assert res.headers["Cache-Control"] == "no-store"
    assert "will not be shown again" in res.text
    client_id, secret = shown(res, "client-id"), shown(res, "client-secret")
    assert f'data-copy="{secret}"' in res.text
    assert "/static/copy.js" in res.text
    created = get_app(client_id)
    assert created.name == "web"
    assert created.allowed_domains == ["app.example.com"]
    assert created.redirect_uris == ["https://app.example.com/callback"]
    assert created.post_logout_redirect_uris == []
    assert created.region.code == "EU"
    assert created.db_code == "eu-db-1"
    assert created.plan is None
    # The secret works, and no later page shows it again.
    assert token(signed_in, client_id, secret).status_code == 200
    for path in (f"/apps/{client_id}", "/apps", f"/apps/{client_id}", "/apps"):
        page = signed_in.get(path)
        assert page.status_code == 200
        assert secret not in page.text, path


def test_an_app_is_created_with_three_domains_uris_and_a_plan(
    signed_in: FlaskClient, make_plan: Callable[..., Plan]
) -> None:
    make_plan("pro", document_units_per_month=1000)

    res = submit(
        signed_in,
        "/apps/new",
        create_form(
            domains=["a.example.com", "http://localhost:3000/", "B.example.org"],
            post_logout_redirect_uris="https://a.example.com/bye\nhttps://a.example.com/later",
            plan="pro",
        ),
    )

    assert res.status_code == 201, res.text
    created = get_app(shown(res, "client-id"))
    assert created.allowed_domains == ["a.example.com", "localhost:3000", "b.example.org"]
    assert created.post_logout_redirect_uris == [
        "https://a.example.com/bye",
        "https://a.example.com/later",
    ]
    assert created.plan is not None
    assert created.plan.code == "pro"


def refused_create(
    client: FlaskClient, form: dict[str, Any], field: str, message: str
) -> TestResponse:
    before = all_rows()
    res = submit(client, "/apps/new", form)
    assert res.status_code == 400, res.text
    assert any(message in error for error in errors_beside(res, field)), (
        errors_beside(res, field),
        res.text,
    )
    assert all_rows() == before
    return res


@pytest.mark.parametrize(
    ("domains", "beside", "message"),
    [
        (["*.example.com"], "domains-1", "*"),
        (["https://app.example.com/path"], "domains-1", "path"),
        (["nodot"], "domains-1", ""),
        (["app.example.com", "APP.example.com"], "domains-2", "same domain"),
        (
            ["a.example.com", "b.example.com", "c.example.com", "d.example.com"],
            "domains",  # the list, not one of its domains
            "at most 3",
        ),
    ],
    ids=["wildcard", "path", "no-dot", "duplicate", "fourth-domain"],
)
def test_a_bad_domain_is_refused_beside_the_domains(
    signed_in: FlaskClient, domains: list[str], beside: str, message: str
) -> None:
    res = refused_create(signed_in, create_form(domains=domains), beside, message)

    # What was typed comes back, so it can be corrected.
    assert html.escape(domains[0]) in res.text


def test_a_bad_redirect_uri_is_refused_beside_its_field(signed_in: FlaskClient) -> None:
    refused_create(signed_in, create_form(redirect_uris="/relative"), "redirect_uris", "")


def test_a_missing_name_is_refused(signed_in: FlaskClient) -> None:
    refused_create(signed_in, create_form(name=""), "name", "")


def test_an_inactive_region_is_refused(
    signed_in: FlaskClient,
    make_region: Callable[..., LicenseRegion],
    session: scoped_session[Any],
) -> None:
    """Deactivated between showing the form and submitting it: the rule says no."""
    make_region("US", databases=("us-db-1",))
    regions.set_active(session, regions.get(session, "US"), False)
    session.commit()

    refused_create(signed_in, create_form(region="US"), "region", "is not active")


def test_the_app_limit_is_refused_beside_the_name(
    signed_in: FlaskClient,
    owner: Person,
    owned_app: tuple[App, str],
    session: scoped_session[Any],
) -> None:
    tenants.set_app_limit(session, tenants.get(session, owner.tenant_id), 1)
    session.commit()

    refused_create(signed_in, create_form(name="second"), "name", "limit of 1 apps")


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_MAX_APPS_PER_TENANT": "1"}])
def test_the_configured_default_app_limit_applies(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    refused_create(signed_in, create_form(name="second"), "name", "limit of 1 apps")


def test_a_second_free_plan_is_refused_beside_the_plan(
    signed_in: FlaskClient,
    owner: Person,
    make_plan: Callable[..., Plan],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    free = make_plan("free", is_free=True)
    make_app(tenant_of(owner.tenant_id), name="first", plan=free)

    refused_create(signed_in, create_form(plan="free"), "plan", "already has a free plan")


def test_a_retired_plan_is_refused_beside_the_plan(
    signed_in: FlaskClient, make_plan: Callable[..., Plan], session: scoped_session[Any]
) -> None:
    make_plan("old")
    plans.retire(session, plans.get(session, "old"))
    session.commit()

    refused_create(signed_in, create_form(plan="old"), "plan", "retired")


def test_creating_without_the_csrf_token_is_refused(signed_in: FlaskClient) -> None:
    before = all_rows()

    res = submit(signed_in, "/apps/new", create_form(), csrf=False)

    assert res.status_code == 400
    assert "The CSRF token is missing." in res.text
    assert all_rows() == before


# --- the app page -----------------------------------------------------------------------
def test_the_app_page_shows_settings_token_check_claims_and_quickstart(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    app_, secret = owned_app

    res = signed_in.get(f"/apps/{app_.client_id}")

    assert res.status_code == 200
    assert secret not in res.text
    assert app_.client_id in res.text
    assert "eu-db-1" in res.text
    assert "This app gets a token right now." in res.text
    preview = json.loads(shown(res, "claims-json"))
    assert preview["tenantid"] == str(app_.tenant_id)
    assert preview["appId"] == str(app_.id)
    assert preview["licenseRegionCode"] == "EU"
    assert preview["dbCode"] == "eu-db-1"
    assert preview["iss"] == ISSUER
    assert preview["sub"] == preview["client_id"] == app_.client_id
    assert preview["exp"] - preview["iat"] == 900
    assert "limits" not in preview
    for key in ("curl", "python", "node"):
        snippet = shown(res, f"snippet-{key}")
        assert app_.client_id in snippet
        assert TOKEN_URL in snippet
        assert "CLIENT_SECRET" in snippet
    assert '-u "' + app_.client_id + ':$CLIENT_SECRET"' in shown(res, "snippet-curl")
    verify = shown(res, "snippet-verify")
    assert ISSUER + "/.well-known/jwks" in verify
    assert "PyJWKClient" in verify


def test_the_claims_preview_matches_a_real_token(
    signed_in: FlaskClient,
    owner: Person,
    make_plan: Callable[..., Plan],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    plan = make_plan("pro", max_api_requests_per_minute=60)
    app_, secret = make_app(
        tenant_of(owner.tenant_id), plan=plan, domains=["a.example.com", "b.example.com"]
    )

    preview = json.loads(shown(signed_in.get(f"/apps/{app_.client_id}"), "claims-json"))
    issued = token(signed_in, app_.client_id, secret)
    assert issued.status_code == 200, issued.text
    claims = jwt.decode(issued.json["access_token"], options={"verify_signature": False})  # type: ignore[index]

    assert preview["limits"] == {"maxApiRequestsPerMinute": 60}
    assert set(preview) == set(claims)
    for name in set(claims) - {"iat", "exp", "jti"}:
        assert preview[name] == claims[name], name


def test_the_python_quickstart_and_verify_snippets_work(
    signed_in: FlaskClient,
    owned_app: tuple[App, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The snippets as shown, run against this app.

    Only the network calls of requests and PyJWT are answered by the test client.
    """
    app_, secret = owned_app
    page = signed_in.get(f"/apps/{app_.client_id}")
    monkeypatch.setenv("CLIENT_SECRET", secret)

    def post(url: str, *, data: dict[str, str], auth: tuple[str, str], timeout: int) -> Any:
        assert url.startswith(ISSUER)
        res = signed_in.post(url.removeprefix(ISSUER), data=data, auth=auth)
        return types.SimpleNamespace(
            raise_for_status=lambda: None if res.status_code == 200 else pytest.fail(res.text),
            json=lambda: res.json,
        )

    fake_requests = types.ModuleType("requests")
    fake_requests.post = post  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "requests", fake_requests)
    got: dict[str, Any] = {}
    exec(shown(page, "snippet-python"), got)  # noqa: S102 - our own page's snippet
    access_token = got["access_token"]

    def fetch_data(self: jwt.PyJWKClient) -> Any:
        assert self.uri == ISSUER + "/.well-known/jwks"
        return signed_in.get("/.well-known/jwks").json

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch_data)
    exec(shown(page, "snippet-verify"), got)  # noqa: S102
    claims = got["verify"](access_token)

    assert claims["client_id"] == app_.client_id


def test_the_token_check_names_the_rule_that_blocks(
    client: FlaskClient,
    make_person: Callable[..., Person],
    region: LicenseRegion,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    pending = make_person()  # not activated
    app_, _ = make_app(tenant_of(pending.tenant_id))
    sign_in(client, pending.email)

    page = client.get(f"/apps/{app_.client_id}").text

    assert "would <strong>not</strong> get a token right now" in page
    assert "<strong>tenant is not active</strong>" in page
    assert "awaits activation" in page


# --- regenerate -------------------------------------------------------------------------
def test_regenerate_needs_the_confirmation(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    app_, secret = owned_app
    path = f"/apps/{app_.client_id}"
    before = all_rows()

    res = submit(signed_in, path + "/regenerate", {}, page=path)

    assert res.status_code == 400
    assert errors_beside(res, "confirm") == ["Tick the box to confirm."]
    assert all_rows() == before
    assert token(signed_in, app_.client_id, secret).status_code == 200


def test_regenerate_shows_the_new_secret_once_and_the_old_one_stops_working(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    app_, old = owned_app
    path = f"/apps/{app_.client_id}"

    res = submit(signed_in, path + "/regenerate", {"confirm": "y"}, page=path)

    assert res.status_code == 200, res.text
    assert res.headers["Cache-Control"] == "no-store"
    assert "will not be shown again" in res.text
    new = shown(res, "client-secret")
    assert new != old
    assert shown(res, "client-id") == app_.client_id
    refused = token(signed_in, app_.client_id, old)
    assert refused.status_code == 401
    assert refused.json is not None
    assert refused.json["error"] == "invalid_client"
    assert token(signed_in, app_.client_id, new).status_code == 200
    assert new not in signed_in.get(path).text
    assert new not in signed_in.get("/apps").text


# --- enable / disable -------------------------------------------------------------------
def test_disable_then_enable(signed_in: FlaskClient, owned_app: tuple[App, str]) -> None:
    app_, secret = owned_app
    path = f"/apps/{app_.client_id}"

    res = submit(signed_in, path + "/disable", {}, page=path)

    assert res.status_code == 303
    assert res.headers["Location"] == path
    page = signed_in.get(path)
    assert "App disabled: it gets no tokens." in flashes(page)
    assert "<strong>app is disabled</strong>" in page.text
    assert token(signed_in, app_.client_id, secret).status_code == 400
    assert get_app(app_.client_id).enabled is False

    res = submit(signed_in, path + "/enable", {}, page=path)

    assert res.status_code == 303
    assert get_app(app_.client_id).enabled is True
    assert token(signed_in, app_.client_id, secret).status_code == 200


# --- domains ----------------------------------------------------------------------------
def test_domains_are_shown_and_saved_normalized(
    signed_in: FlaskClient,
    owner: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    app_, _ = make_app(tenant_of(owner.tenant_id), domains=["old.example.com"])
    path = f"/apps/{app_.client_id}/domains"

    page = signed_in.get(path)
    assert page.status_code == 200
    assert 'value="old.example.com"' in page.text

    res = submit(signed_in, path, {"domains": ["https://New.Example.com/", "", "localhost:8080"]})

    assert res.status_code == 303
    assert get_app(app_.client_id).allowed_domains == ["new.example.com", "localhost:8080"]

    res = submit(signed_in, path, {"domains": ["", "", ""]})

    assert res.status_code == 303
    assert get_app(app_.client_id).allowed_domains == []


@pytest.mark.parametrize(
    ("domains", "beside", "message"),
    [
        (["https://*.example.com"], "domains-1", "*"),
        (
            ["a.example.com", "b.example.com", "c.example.com", "d.example.com"],
            "domains",
            "at most 3",
        ),
    ],
    ids=["wildcard", "fourth-domain"],
)
def test_bad_domains_are_refused_and_nothing_is_saved(
    signed_in: FlaskClient,
    owned_app: tuple[App, str],
    domains: list[str],
    beside: str,
    message: str,
) -> None:
    path = f"/apps/{owned_app[0].client_id}/domains"
    before = all_rows()

    res = submit(signed_in, path, {"domains": domains})

    assert res.status_code == 400
    assert any(message in error for error in errors_beside(res, beside))
    assert all_rows() == before


_DOMAIN_INPUT = re.compile(r'<input type="text" id="(domains-\d)"[^>]*>')


def invalid_inputs(res: TestResponse) -> list[str]:
    """The ids of the domain inputs marked invalid (``aria-invalid``)."""
    return [
        m.group(1) for m in _DOMAIN_INPUT.finditer(res.text) if 'aria-invalid="true"' in m.group(0)
    ]


@pytest.mark.parametrize(
    ("domains", "refused", "message"),
    [
        (["good.example.com", "*.example.com", "fine.example.org"], "domains-2", "wildcards"),
        (["good.example.com", "", "https://bad.example.com/path"], "domains-3", "paths"),
        (["bad..example.com", "good.example.com", ""], "domains-1", "empty label"),
        (["", "a.example.com", "https://A.example.com/"], "domains-3", "same domain"),
    ],
    ids=["second", "third-after-a-blank", "first", "duplicate"],
)
def test_only_the_input_holding_the_refused_domain_carries_the_error(
    signed_in: FlaskClient,
    owned_app: tuple[App, str],
    domains: list[str],
    refused: str,
    message: str,
) -> None:
    path = f"/apps/{owned_app[0].client_id}/domains"

    res = submit(signed_in, path, {"domains": domains})

    assert res.status_code == 400
    # The refused input alone is marked invalid and described by the rule's message.
    assert invalid_inputs(res) == [refused]
    assert f'aria-describedby="{refused}-help"' in res.text
    [error] = all_errors(res)
    assert message in error
    assert errors_beside(res, refused) == [error]
    assert errors_beside(res, "domains") == []
    assert 'class="field domains has-error"' not in res.text
    assert res.text.count('class="domain has-error"') == 1
    # Every value comes back in the input it was typed in, blanks included.
    values = re.findall(
        r'<input type="text" id="domains-\d" name="domains" value="([^"]*)"', res.text
    )
    assert [html.unescape(v) for v in values] == domains


def test_a_refused_list_marks_every_domain_input(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    """More than three (a hand-made request): no single input is at fault, the list is."""
    path = f"/apps/{owned_app[0].client_id}/domains"
    domains = ["a.example.com", "b.example.com", "c.example.com", "d.example.com"]

    res = submit(signed_in, path, {"domains": domains})

    assert res.status_code == 400
    assert invalid_inputs(res) == ["domains-1", "domains-2", "domains-3", "domains-4"]
    assert 'class="field domains has-error"' in res.text
    assert any("at most 3" in error for error in errors_beside(res, "domains"))


# --- plan -------------------------------------------------------------------------------
def test_a_plan_is_assigned_and_removed(
    signed_in: FlaskClient, owned_app: tuple[App, str], make_plan: Callable[..., Plan]
) -> None:
    make_plan("pro", document_units_per_month=5)
    app_, _ = owned_app
    path = f"/apps/{app_.client_id}/plan"

    assert signed_in.get(path).status_code == 200
    res = submit(signed_in, path, {"plan": "pro"})

    assert res.status_code == 303
    assert get_app(app_.client_id).plan.code == "pro"  # type: ignore[union-attr]
    preview = json.loads(shown(signed_in.get(f"/apps/{app_.client_id}"), "claims-json"))
    assert preview["limits"] == {"documentUnitsPerMonth": 5}

    res = submit(signed_in, path, {"plan": ""})

    assert res.status_code == 303
    assert get_app(app_.client_id).plan is None


def test_a_second_free_plan_is_refused_on_the_plan_page(
    signed_in: FlaskClient,
    owner: Person,
    make_plan: Callable[..., Plan],
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> None:
    free = make_plan("free", is_free=True)
    make_app(tenant_of(owner.tenant_id), name="first", plan=free)
    second, _ = make_app(tenant_of(owner.tenant_id), name="second")
    before = all_rows()

    res = submit(signed_in, f"/apps/{second.client_id}/plan", {"plan": "free"})

    assert res.status_code == 400
    assert any("already has a free plan" in e for e in errors_beside(res, "plan"))
    assert all_rows() == before


# --- roles ------------------------------------------------------------------------------
def change_requests(app: Flask, client_id: str) -> list[tuple[str, str]]:
    """(method, path) of every tenant route except the two that only show."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] != "tenant" or rule.endpoint in VIEW_ONLY:
            continue
        path = rule.build({"client_id": client_id} if "client_id" in rule.arguments else {})
        assert path is not None
        for method in ("GET", "POST"):
            if method in (rule.methods or ()):
                found.append((method, path[1]))
    return found


def test_a_plain_member_views_but_gets_403_on_every_change(
    app: Flask,
    client: FlaskClient,
    owner: Person,
    owned_app: tuple[App, str],
    make_plan: Callable[..., Plan],
) -> None:
    make_plan("pro")
    app_, secret = owned_app
    add_member(owner.tenant_id, "mia@example.com", "member")
    sign_in(client, "mia@example.com")

    listing = client.get("/apps")
    page = client.get(f"/apps/{app_.client_id}")

    assert listing.status_code == page.status_code == 200
    assert "/apps/new" not in listing.text
    assert app_.client_id in page.text
    assert "Regenerate" not in page.text
    assert "Edit domains" not in page.text
    requests = change_requests(app, app_.client_id)
    assert {path.rsplit("/", 1)[-1] for _, path in requests} >= {
        "new",
        "regenerate",
        "enable",
        "disable",
        "domains",
        "plan",
    }
    before = all_rows()
    data = {"confirm": "y", "name": "x", "region": "EU", "domains": "", "plan": "pro"}
    for method, path in requests:
        if method == "GET":
            res = client.get(path)
        else:
            res = client.post(path, data={**data, "csrf_token": page_csrf_token(client)})
        assert res.status_code == 403, (method, path, res.status_code)
    assert all_rows() == before
    assert token(client, app_.client_id, secret).status_code == 200


def test_an_admin_changes_apps(
    client: FlaskClient, owner: Person, owned_app: tuple[App, str]
) -> None:
    add_member(owner.tenant_id, "abe@example.com", "admin")
    sign_in(client, "abe@example.com", PASSWORD)
    path = f"/apps/{owned_app[0].client_id}"

    created = submit(client, "/apps/new", create_form(name="by admin"))
    regenerated = submit(client, path + "/regenerate", {"confirm": "y"}, page=path)
    disabled = submit(client, path + "/disable", {}, page=path)

    assert created.status_code == 201, created.text
    assert regenerated.status_code == 200
    assert disabled.status_code == 303
    assert "Regenerate" in client.get(path).text


# --- the secret is shown once, also when a reload re-sends the POST ----------------------
def test_the_same_create_post_twice_creates_one_app(
    signed_in: FlaskClient, owner: Person, tenant_of: Callable[[str], Tenant]
) -> None:
    form = {**create_form(), "once": once_of(signed_in, "/apps/new")}

    first = submit(signed_in, "/apps/new", form)
    secret = shown(first, "client-secret")
    client_id = shown(first, "client-id")
    before = all_rows()
    again = submit(signed_in, "/apps/new", form)  # what a browser's reload sends

    assert first.status_code == 201, first.text
    assert again.status_code == 303
    assert again.headers["Location"] == f"/apps/{client_id}"
    assert secret not in again.text
    assert all_rows() == before
    db.session.remove()
    assert len(app_rules.list_for_tenant(db.session(), tenant_of(owner.tenant_id))) == 1
    landed = signed_in.get(again.headers["Location"])
    assert flashes(landed) == ["The secret was shown once; regenerate it if you lost it."]
    assert secret not in landed.text
    assert token(signed_in, client_id, secret).status_code == 200
    # A new form carries a new nonce: a second app is created on purpose.
    other = submit(signed_in, "/apps/new", create_form(name="second"))
    assert other.status_code == 201, other.text


def test_the_same_regenerate_post_twice_regenerates_once(
    signed_in: FlaskClient, owned_app: tuple[App, str]
) -> None:
    app_, _ = owned_app
    path = f"/apps/{app_.client_id}"
    form = {"confirm": "y", "once": once_of(signed_in, path)}

    first = submit(signed_in, path + "/regenerate", form, page=path)
    new = shown(first, "client-secret")
    before = all_rows()
    again = submit(signed_in, path + "/regenerate", form, page=path)

    assert first.status_code == 200, first.text
    assert again.status_code == 303
    assert again.headers["Location"] == path
    assert new not in again.text
    assert all_rows() == before
    assert token(signed_in, app_.client_id, new).status_code == 200
    assert flashes(signed_in.get(path)) == [
        "The secret was shown once; regenerate it if you lost it."
    ]


@pytest.mark.parametrize("once", ["", "short"])
def test_a_create_without_a_proper_nonce_is_refused(signed_in: FlaskClient, once: str) -> None:
    before = all_rows()

    res = submit(signed_in, "/apps/new", {**create_form(), "once": once})

    assert res.status_code == 400
    assert "This form is out of date: send it again." in all_errors(res)
    assert all_rows() == before
    # The page carries a fresh nonce, so sending it again works.
    again = submit_form(signed_in, "/apps/new", {**create_form(), "once": _once_in(res)})
    assert again.status_code == 201, again.text
