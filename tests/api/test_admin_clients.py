"""Admin clients (SPEC §3): the CLI verbs, and how the token endpoint treats them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from controlplane import keys
from controlplane.extensions import db
from controlplane.models import AuditEvent
from tests.api.conftest import AdminCredentials
from tests.cli.helpers import one_error_line, table_rows
from tests.oauth.helpers import (
    FakeClock,
    Registered,
    access_token,
    assert_oauth_error,
    token_by,
    token_by_basic,
    verify,
)

METHODS = ["client_secret_basic", "client_secret_post"]


def test_create_json_is_exactly_client_id_and_client_secret(cli_json: Callable[..., Any]) -> None:
    """SPEC §3: ``admin-client create NAME --json`` -> {"client_id", "client_secret"}."""
    created = cli_json("admin-client", "create", "back-office")

    assert set(created) == {"client_id", "client_secret"}
    assert created["client_id"].startswith("adm_")
    # 256-bit secret: 32 random bytes, url-safe base64 without padding.
    assert len(created["client_secret"]) >= 43


def test_list_shows_clients_but_never_a_secret(
    cli_json: Callable[..., Any], admin: AdminCredentials
) -> None:
    listed = cli_json("admin-client", "list")

    assert listed == [
        {
            "client_id": admin.client_id,
            "name": "back-office",
            "enabled": True,
            "created_at": listed[0]["created_at"],
        }
    ]
    assert admin.secret not in str(listed)


@pytest.mark.parametrize(
    "args",
    [
        ("admin-client", "create", "back-office"),  # the name is taken
        ("admin-client", "create", "   "),
        ("admin-client", "disable", "adm_missing"),
        ("admin-client", "enable", "nope"),
        ("admin-client", "regenerate-secret", "adm_missing"),
    ],
)
def test_refused_verbs_print_one_error_line_and_change_nothing(
    app: Flask, run_cli: Callable[..., Result], admin: AdminCredentials, args: tuple[str, ...]
) -> None:
    before = table_rows(db.engine)

    result = run_cli(*args, "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert one_error_line(result.stderr)
    assert table_rows(db.engine) == before


@pytest.mark.parametrize("method", METHODS)
def test_an_admin_token_carries_the_admin_claims_and_no_tenant_claims(
    client: FlaskClient, admin: AdminCredentials, method: str
) -> None:
    """SPEC §3: iss, sub = client_id, client_id, iat, exp, jti, aud = <issuer>/api/v1, scope."""
    res = token_by(method, client, admin.client_id, admin.secret)

    assert res.json is not None
    assert set(res.json) == {"access_token", "token_type", "expires_in"}
    claims = verify(client, access_token(res), audience="http://localhost:8000/api/v1")
    assert set(claims) == {"iss", "aud", "sub", "client_id", "iat", "exp", "jti", "scope"}
    assert claims["sub"] == claims["client_id"] == admin.client_id
    assert claims["scope"] == "admin"
    assert claims["exp"] - claims["iat"] == 900


def test_disabled_and_unknown_admin_clients_get_the_same_401_as_apps(
    client: FlaskClient,
    cli_json: Callable[..., Any],
    admin: AdminCredentials,
    registered: Registered,
) -> None:
    cli_json("admin-client", "disable", admin.client_id)

    disabled = token_by_basic(client, admin.client_id, admin.secret)
    unknown = token_by_basic(client, "adm_" + "0" * 24, admin.secret)
    wrong_app_secret = token_by_basic(client, registered.client_id, "wrong")

    for res in (disabled, unknown, wrong_app_secret):
        assert_oauth_error(res, 401, "invalid_client")
    assert disabled.get_data() == unknown.get_data() == wrong_app_secret.get_data()
    assert disabled.headers["WWW-Authenticate"] == wrong_app_secret.headers["WWW-Authenticate"]

    cli_json("admin-client", "enable", admin.client_id)
    access_token(token_by_basic(client, admin.client_id, admin.secret))


def test_regenerating_the_secret_stops_the_old_one_at_once(
    client: FlaskClient, cli_json: Callable[..., Any], admin: AdminCredentials
) -> None:
    issued = cli_json("admin-client", "regenerate-secret", admin.client_id)

    assert set(issued) == {"client_id", "client_secret"}
    assert_oauth_error(token_by_basic(client, admin.client_id, admin.secret), 401, "invalid_client")
    access_token(token_by_basic(client, admin.client_id, issued["client_secret"]))


def test_each_change_is_audited_without_the_secret(
    cli_json: Callable[..., Any], admin: AdminCredentials, session: Any
) -> None:
    cli_json("admin-client", "disable", admin.client_id)
    cli_json("admin-client", "enable", admin.client_id)
    issued = cli_json("admin-client", "regenerate-secret", admin.client_id)

    events = session.query(AuditEvent).order_by(AuditEvent.id).all()
    assert [(e.action, e.target_type, e.target_id) for e in events] == [
        ("admin_client.create", "admin_client", admin.client_id),
        ("admin_client.disable", "admin_client", admin.client_id),
        ("admin_client.enable", "admin_client", admin.client_id),
        ("admin_client.regenerate_secret", "admin_client", admin.client_id),
    ]
    for secret in (admin.secret, issued["client_secret"]):
        assert secret not in repr([(e.details, e.actor) for e in events])


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    signer: keys.Signer = app.extensions["controlplane.signer"]
    monkeypatch.setattr(signer, "_clock", fake)
    return fake


@pytest.mark.parametrize("method", METHODS)
def test_an_admin_token_request_costs_one_statement_on_the_admin_table(
    client: FlaskClient,
    admin: AdminCredentials,
    statements: list[str],
    clock: FakeClock,
    method: str,
) -> None:
    """The token path's one indexed query, on admin_client for an ``adm_`` client_id."""
    access_token(token_by(method, client, admin.client_id, admin.secret))  # warm-up
    statements.clear()

    access_token(token_by(method, client, admin.client_id, admin.secret))
    assert_oauth_error(token_by(method, client, admin.client_id, "wrong"), 401, "invalid_client")
    assert_oauth_error(token_by(method, client, "adm_unknown", "wrong"), 401, "invalid_client")

    assert len(statements) == 3, statements
    for statement in statements:
        lowered = " ".join(statement.lower().split())
        assert lowered.startswith("select")
        assert "from admin_client" in lowered
        assert "join" not in lowered
