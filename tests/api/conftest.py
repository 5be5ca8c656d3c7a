"""Fixtures for the admin API tests (SPEC §3 Admin API), on SQLite and PostgreSQL.

Tokens come from ``/connect/token`` with an admin client's real credentials, made by the real
``controlplane admin-client create --json``; each HTTP request runs in an app context of its
own, as on a real server (the token-service tests' ``RequestScopedClient``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session
from werkzeug.test import TestResponse

from controlplane.extensions import db
from tests.cli.helpers import one_json_document, table_rows
from tests.oauth.conftest import (  # noqa: F401  shared fixtures
    RequestScopedClient,
    make_client,
    pooled_signing_keys,
    registered,
)
from tests.oauth.helpers import access_token, token_by_basic

API = "/api/v1"


@dataclass(frozen=True)
class AdminCredentials:
    client_id: str
    secret: str = field(repr=False)


@pytest.fixture
def session(app: Flask) -> scoped_session[Any]:
    """The scoped session itself: ``run_cli`` removes the session after each verb."""
    return db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = RequestScopedClient
    return app.test_client()


@pytest.fixture
def cli_json(run_cli: Callable[..., Result]) -> Callable[..., Any]:
    """``controlplane ARGS --json``: exit 0, nothing on stderr, the one JSON value printed."""

    def run(*args: str) -> Any:
        result = run_cli(*args, "--json")
        assert result.exit_code == 0, (result.stderr, result.exception)
        assert result.stderr == ""
        return one_json_document(result.stdout)

    return run


@pytest.fixture
def admin(cli_json: Callable[..., Any]) -> AdminCredentials:
    created = cli_json("admin-client", "create", "back-office")
    return AdminCredentials(created["client_id"], created["client_secret"])


@pytest.fixture
def token(client: FlaskClient, admin: AdminCredentials) -> str:
    """An admin access token, from the token endpoint with the admin client's credentials."""
    return access_token(token_by_basic(client, admin.client_id, admin.secret))


class Api:
    """Calls ``/api/v1`` with a Bearer token; JSON in, the response out."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def __call__(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, **kwargs: Any
    ) -> TestResponse:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if body is not None:
            kwargs["json"] = body
        return self.client.open(API + path, method=method, headers=headers, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        res = self(method, path, body)
        assert res.status_code == status, res.get_data(as_text=True)
        assert res.mimetype == "application/json"
        return res.json


@pytest.fixture
def api(client: FlaskClient, token: str) -> Api:
    return Api(client, token)


def assert_problem(
    res: TestResponse, status: int, error: str, *, field: str | None = None
) -> dict[str, Any]:
    """RFC 9457 problem details, the API's one error shape."""
    assert res.status_code == status, res.get_data(as_text=True)
    assert res.mimetype == "application/problem+json"
    document = json.loads(res.get_data(as_text=True))
    assert {"type", "title", "status", "detail", "error"} <= set(document), document
    assert document["status"] == status
    assert document["type"] == "about:blank"
    assert isinstance(document["detail"], str)
    assert document["detail"]
    assert document["error"] == error, document
    if field is not None:
        assert document.get("field") == field, document
    assert res.headers["Cache-Control"] == "no-store"
    return dict(document)


@pytest.fixture
def unchanged(app: Flask) -> Callable[[Callable[[], TestResponse]], TestResponse]:
    """Run a request that must be refused; assert that no row of any table changed."""

    def run(send: Callable[[], TestResponse]) -> TestResponse:
        before = table_rows(db.engine)
        res = send()
        assert res.status_code >= 400, res.get_data(as_text=True)
        assert table_rows(db.engine) == before
        return res

    return run
