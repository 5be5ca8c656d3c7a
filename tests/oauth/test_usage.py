"""Tokens issued are counted per app and day without a statement on the token path (issue #6)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from controlplane import keys, usage
from controlplane.extensions import db
from controlplane.models import AppUsageDay
from controlplane.rules import apps
from controlplane.rules import usage as usage_rules
from tests.oauth.helpers import (
    FakeClock,
    Registered,
    access_token,
    assert_oauth_error,
    token_by_basic,
    token_by_post,
)


def test_issued_tokens_are_counted_in_memory_and_cost_no_statement(
    app: Flask,
    client: FlaskClient,
    registered: Registered,
    statements: list[str],
    signer: keys.Signer,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(signer, "_clock", FakeClock())  # the key cache stays fresh
    access_token(token_by_basic(client, registered.client_id, registered.secret))  # warm-up
    statements.clear()

    access_token(token_by_basic(client, registered.client_id, registered.secret))
    access_token(token_by_post(client, registered.client_id, registered.secret))

    assert len(statements) == 2, statements  # the one SELECT of each request, nothing else
    assert all(s.lstrip().lower().startswith("select") for s in statements)
    counter = usage.counter()
    today = usage_rules.today()
    assert counter.pending() == {(apps.get(db.session(), registered.client_id).id, today): 3}


def test_refused_and_failed_requests_are_not_counted(
    client: FlaskClient, registered: Registered, session: Any
) -> None:
    assert_oauth_error(token_by_basic(client, registered.client_id, "wrong"), 401, "invalid_client")
    apps.set_enabled(session, apps.get(session, registered.client_id), False)
    session.commit()
    assert_oauth_error(
        token_by_basic(client, registered.client_id, registered.secret), 400, "unauthorized_client"
    )

    assert usage.counter().pending() == {}


def test_a_flush_puts_the_counts_in_the_database_for_the_app_page(
    app: Flask, client: FlaskClient, registered: Registered, session: Any
) -> None:
    for _ in range(4):
        access_token(token_by_basic(client, registered.client_id, registered.secret))

    assert usage.counter().flush() == 4

    row = session.scalars(select(AppUsageDay)).one()
    assert (str(row.app_id), row.day, row.tokens_issued) == (
        registered.app_id,
        usage_rules.today(),
        4,
    )
