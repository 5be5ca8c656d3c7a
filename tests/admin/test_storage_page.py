"""An app's storage configuration page (SPEC §1 Storage, §3 Dashboard; issue #5).

The secret access key is write-only: it never appears in any response, a blank field keeps the
saved one; refusals stand beside their field with 400 and nothing saved; owners and admins
change it, plain members get 403 (other tenants' 404 is tests/admin/test_cross_tenant.py's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from controlplane.app import state
from controlplane.extensions import db
from controlplane.models import App, LicenseRegion, Tenant
from controlplane.rules import apps as app_rules
from tests.admin.conftest import Person
from tests.admin.helpers import (
    add_member,
    all_rows,
    errors_beside,
    flashes,
    page_csrf_token,
    sign_in,
    submit,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NEW_SECRET = "a-brand-new-secret-access-key-0123456789"


def storage_form(**overrides: str) -> dict[str, str]:
    form = {
        "provider": "cloudflare_r2",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": SECRET,
        "bucket": "acme-docs",
        "endpoint_url": "https://0123abcd.r2.cloudflarestorage.com",
        "region": "auto",
    }
    form.update(overrides)
    return form


@pytest.fixture
def owner(make_person: Callable[..., Person], make_region: Callable[..., LicenseRegion]) -> Person:
    make_region("EU", databases=("eu-db-1",))
    return make_person(active=True)


@pytest.fixture
def signed_in(client: FlaskClient, owner: Person) -> FlaskClient:
    sign_in(client, owner.email)
    return client


@pytest.fixture
def app_path(
    owner: Person,
    make_app: Callable[..., tuple[App, str]],
    tenant_of: Callable[[str], Tenant],
) -> str:
    found, _ = make_app(tenant_of(owner.tenant_id), name="web")
    return f"/apps/{found.client_id}"


def saved(path: str) -> Any:
    db.session.remove()
    return app_rules.get(db.session(), path.rsplit("/", 1)[-1]).storage


def saved_secret(path: str) -> str | None:
    db.session.remove()
    found = app_rules.get(db.session(), path.rsplit("/", 1)[-1])
    return app_rules.storage_secret(found, state().encryptor)


def no_secret_in(*responses: TestResponse) -> None:
    for res in responses:
        assert SECRET not in res.text
        assert NEW_SECRET not in res.text


def test_the_app_page_links_to_storage_and_says_managed(
    signed_in: FlaskClient, app_path: str
) -> None:
    page = signed_in.get(app_path).text

    assert f'href="{app_path}/storage"' in page
    assert "Managed by the platform" in page


def test_storage_is_saved_and_the_secret_never_shown(
    app: Flask, signed_in: FlaskClient, app_path: str
) -> None:
    empty = signed_in.get(app_path + "/storage")
    res = submit(signed_in, app_path + "/storage", storage_form())
    app_page = signed_in.get(app_path)
    page = signed_in.get(app_path + "/storage")

    assert empty.status_code == 200
    assert "managed storage" in empty.text
    assert 'type="password"' in empty.text
    assert res.status_code == 303
    assert res.headers["Location"] == app_path
    assert flashes(app_page) == ["Storage saved."]
    assert "Cloudflare R2" in app_page.text
    assert "acme-docs" in app_page.text
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "A secret access key is saved" in page.text
    assert 'value="AKIAEXAMPLE"' in page.text
    assert '<option selected value="cloudflare_r2">' in page.text
    no_secret_in(empty, res, page, app_page, signed_in.get("/apps"))
    stored = saved(app_path)
    assert stored.provider == "cloudflare_r2"
    assert stored.region == "auto"
    assert SECRET.encode() not in stored.secret_access_key_encrypted
    assert saved_secret(app_path) == SECRET


def test_a_blank_secret_keeps_the_saved_one(signed_in: FlaskClient, app_path: str) -> None:
    submit(signed_in, app_path + "/storage", storage_form())

    res = submit(
        signed_in,
        app_path + "/storage",
        storage_form(secret_access_key="", bucket="acme-archive", access_key_id="AKIANEW"),
    )

    assert res.status_code == 303
    assert saved(app_path).bucket == "acme-archive"
    assert saved(app_path).access_key_id == "AKIANEW"
    assert saved_secret(app_path) == SECRET


def test_a_new_secret_replaces_the_saved_one(signed_in: FlaskClient, app_path: str) -> None:
    submit(signed_in, app_path + "/storage", storage_form())

    res = submit(signed_in, app_path + "/storage", storage_form(secret_access_key=NEW_SECRET))

    assert res.status_code == 303
    assert saved_secret(app_path) == NEW_SECRET
    no_secret_in(res, signed_in.get(app_path + "/storage"))


def test_a_first_configuration_needs_the_secret(signed_in: FlaskClient, app_path: str) -> None:
    before = all_rows()

    res = submit(signed_in, app_path + "/storage", storage_form(secret_access_key=""))

    assert res.status_code == 400
    assert errors_beside(res, "secret_access_key") == ["secret access key is required"]
    assert all_rows() == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"endpoint_url": "http://169.254.169.254/latest"},
            "endpoint_url",
            "endpoint URL must be an absolute https URL (http only for minio)",
        ),
        (
            {"endpoint_url": "https://127.0.0.1:9000"},
            "endpoint_url",
            "endpoint URL must not point at this machine or a link-local address",
        ),
        ({"endpoint_url": "https://[::1"}, "endpoint_url", "endpoint URL is not a valid URL"),
        ({"bucket": " "}, "bucket", "bucket must be 1-255 characters"),
        ({"access_key_id": ""}, "access_key_id", "access key id must be 1-256 characters"),
        ({"provider": "dropbox"}, "provider", None),
        ({"region": "r" * 65}, "region", "storage region must be at most 64 characters"),
    ],
)
def test_a_bad_setting_is_refused_beside_its_field_and_nothing_saved(
    signed_in: FlaskClient,
    app_path: str,
    overrides: dict[str, str],
    field: str,
    message: str | None,
) -> None:
    submit(signed_in, app_path + "/storage", storage_form())
    before = all_rows()

    res = submit(
        signed_in,
        app_path + "/storage",
        storage_form(secret_access_key=NEW_SECRET, **overrides),
    )

    assert res.status_code == 400
    errors = errors_beside(res, field)
    assert len(errors) == 1
    if message is not None:
        assert errors == [message]
    assert all_rows() == before
    assert saved_secret(app_path) == SECRET
    no_secret_in(res)


def test_http_is_allowed_for_minio_only(signed_in: FlaskClient, app_path: str) -> None:
    res = submit(
        signed_in,
        app_path + "/storage",
        storage_form(provider="minio", endpoint_url="http://minio.internal.example:9000"),
    )

    assert res.status_code == 303
    assert saved(app_path).endpoint_url == "http://minio.internal.example:9000"


def test_use_managed_storage_clears_it(signed_in: FlaskClient, app_path: str) -> None:
    submit(signed_in, app_path + "/storage", storage_form())
    page = signed_in.get(app_path + "/storage")
    assert "Use managed storage" in page.text

    res = signed_in.post(
        app_path + "/storage/managed", data={"csrf_token": page_csrf_token(signed_in)}
    )
    without_csrf = signed_in.post(app_path + "/storage/managed")

    assert res.status_code == 303
    assert res.headers["Location"] == app_path
    assert saved(app_path) is None
    assert "Managed by the platform" in signed_in.get(app_path).text
    assert without_csrf.status_code == 400
    after = signed_in.get(app_path + "/storage")
    assert "Use managed storage</button>" not in after.text
    assert "A secret access key is saved" not in after.text


def test_saving_without_the_csrf_token_is_refused(signed_in: FlaskClient, app_path: str) -> None:
    before = all_rows()

    res = submit(signed_in, app_path + "/storage", storage_form(), csrf=False)

    assert res.status_code == 400
    assert all_rows() == before


@pytest.mark.parametrize("role", ["member", "admin"])
def test_a_member_gets_403_and_an_admin_changes_storage(
    client: FlaskClient, owner: Person, app_path: str, role: str
) -> None:
    add_member(owner.tenant_id, f"{role}@example.com", role)
    sign_in(client, f"{role}@example.com")
    token = page_csrf_token(client)
    before = all_rows()

    page = client.get(app_path + "/storage")
    saved_res = client.post(app_path + "/storage", data={**storage_form(), "csrf_token": token})
    cleared = client.post(app_path + "/storage/managed", data={"csrf_token": token})

    if role == "member":
        assert (page.status_code, saved_res.status_code, cleared.status_code) == (403, 403, 403)
        assert all_rows() == before
        assert "/storage" not in client.get(app_path).text
    else:
        assert (page.status_code, saved_res.status_code, cleared.status_code) == (200, 303, 303)
        assert saved(app_path) is None
