"""SPEC §3 Operations: ``/metrics`` in Prometheus text, in one process (issue #6 part 3).

Tokens issued, tokens refused by reason, the token latency histogram and the outbox backlog.
The counters are per process and shared by every app a test builds, so tests compare a scrape
before and after what they do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from controlplane import create_app
from controlplane.extensions import db
from controlplane.models import EmailStatus, OutboxEmail, Plan, Tenant
from controlplane.oauth import outcome
from controlplane.rules import apps, errors, plans, tenants
from tests.conftest import base_env
from tests.oauth.helpers import (
    GRANT,
    TOKEN,
    Registered,
    access_token,
    assert_oauth_error,
    token_by_basic,
    token_by_post,
)
from tests.ops.helpers import Samples, families, parse, value
from tests.support.postgres import free_port

MakeClient = Callable[..., Registered]
ISSUED = "controlplane_tokens_issued_total"
REFUSED = "controlplane_tokens_refused_total"
LATENCY = "controlplane_token_request_duration_seconds"


def scrape(client: FlaskClient) -> Samples:
    res = client.get("/metrics")
    assert res.status_code == 200
    return parse(res.get_data(as_text=True))


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_is_prometheus_text_with_every_family(client: FlaskClient) -> None:
    res = client.get("/metrics")

    assert res.status_code == 200
    assert res.content_type.startswith("text/plain; version=")
    assert res.headers["Cache-Control"] == "no-store"
    assert families(res.get_data(as_text=True)) == {
        "controlplane_tokens_issued": "counter",
        "controlplane_tokens_refused": "counter",
        "controlplane_token_request_duration_seconds": "histogram",
        "controlplane_ratelimit_storage_errors": "counter",
        "controlplane_database_up": "gauge",
        "controlplane_outbox_emails": "gauge",
    }


def test_issued_tokens_and_their_latency_are_counted(
    client: FlaskClient, registered: Registered
) -> None:
    before = scrape(client)

    access_token(token_by_basic(client, registered.client_id, registered.secret))
    access_token(token_by_post(client, registered.client_id, registered.secret))

    after = scrape(client)
    assert delta(before, after, ISSUED) == 2
    assert delta(before, after, LATENCY + "_count", outcome="issued") == 2
    assert delta(before, after, LATENCY + "_bucket", outcome="issued", le="+Inf") == 2
    assert delta(before, after, LATENCY + "_sum", outcome="issued") > 0
    assert sum(delta(before, after, REFUSED, reason=r) for r in outcome.REASONS) == 0


def test_refusals_are_counted_by_reason_and_rule(
    client: FlaskClient,
    make_client: MakeClient,
    make_plan: Callable[..., Plan],
    make_tenant: Callable[..., Tenant],
    session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reasons: the OAuth error, with unauthorized_client split by the SPEC §2 rule."""
    ok = make_client()
    disabled = make_client()
    apps.set_enabled(session, apps.get(session, disabled.client_id), False)
    suspended = make_client(make_tenant())
    tenants.suspend(session, tenants.get(session, suspended.tenant_id))
    retired = make_client(plan=make_plan("legacy"))
    plans.retire(session, plans.get(session, "legacy"))
    session.commit()
    before = scrape(client)

    assert_oauth_error(token_by_basic(client, ok.client_id, ok.secret[::-1]), 401, "invalid_client")
    assert_oauth_error(token_by_post(client, "f" * 24, ok.secret), 401, "invalid_client")
    assert_oauth_error(
        client.post(TOKEN, data={"grant_type": "password"}), 400, "unsupported_grant_type"
    )
    assert_oauth_error(client.post(TOKEN + "?a=1", data=GRANT), 400, "invalid_request")
    assert_oauth_error(client.post(TOKEN, json=GRANT), 400, "invalid_request")
    for registered in (disabled, suspended, retired):
        assert_oauth_error(
            token_by_basic(client, registered.client_id, registered.secret),
            400,
            "unauthorized_client",
        )
    monkeypatch.setattr(apps, "for_token", _database_down)
    assert_oauth_error(
        token_by_basic(client, ok.client_id, ok.secret), 503, "temporarily_unavailable"
    )

    after = scrape(client)
    assert {r: delta(before, after, REFUSED, reason=r) for r in outcome.REASONS} == {
        "invalid_client": 2,
        "invalid_request": 2,
        "unsupported_grant_type": 1,
        "app_disabled": 1,
        "tenant_not_active": 1,
        "plan_is_retired": 1,
        "no_license_region": 0,
        "no_database_code": 0,
        "unauthorized_client": 0,
        "rate_limited": 0,
        "temporarily_unavailable": 1,
        "server_error": 0,
    }
    assert delta(before, after, LATENCY + "_count", outcome="refused") == 9
    assert delta(before, after, ISSUED) == 0


def _database_down(*args: Any, **kwargs: Any) -> None:
    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_every_spec_rule_has_a_reason_of_its_own() -> None:
    """Each TokenRefused rule is told apart; a label value never comes from request input."""
    rules = errors.TokenRefused.__subclasses__()

    assert len(outcome.RULES) == len(rules)
    assert set(outcome.RULES) == {rule().message for rule in rules}  # type: ignore[call-arg]
    assert len(set(outcome.RULES.values())) == len(rules)
    assert set(outcome.RULES.values()) <= set(outcome.REASONS)


def test_label_values_are_bounded_and_never_a_client_id(
    client: FlaskClient, registered: Registered
) -> None:
    access_token(token_by_basic(client, registered.client_id, registered.secret))
    for n in range(5):
        token_by_basic(client, f"client-{uuid.uuid4().hex[:8]}-{n}", "wrong")

    res = client.get("/metrics")
    text = res.get_data(as_text=True)

    assert registered.client_id not in text
    assert "client-" not in text
    reasons = {dict(labels)["reason"] for name, labels in parse(text) if name == REFUSED}
    assert reasons == set(outcome.REASONS)


def test_the_outbox_backlog_is_read_from_the_database(
    client: FlaskClient, make_tenant: Callable[..., Tenant], session: Any
) -> None:
    """Pending and failed emails (SPEC §1: the outbox), counted at scrape time."""
    make_tenant()  # a welcome and an activation email
    make_tenant(active=False)  # a welcome email
    first = session.scalar(select(func.min(OutboxEmail.id)))
    session.execute(
        update(OutboxEmail).where(OutboxEmail.id == first).values(status=EmailStatus.FAILED)
    )
    session.commit()
    pending = session.scalar(select(func.count()).where(OutboxEmail.status == EmailStatus.PENDING))

    samples = scrape(client)

    assert pending == 2
    assert value(samples, "controlplane_outbox_emails", status="pending") == 2
    assert value(samples, "controlplane_outbox_emails", status="failed") == 1
    assert value(samples, "controlplane_database_up") == 1


@pytest.fixture
def app_without_database(tmp_path: Path) -> Iterator[Flask]:
    """An app whose PostgreSQL server is not listening: the database is down."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/controlplane"
    flask_app = create_app(base_env(url, tmp_path / "instance"))
    with flask_app.app_context():
        yield flask_app
        db.engine.dispose()


def test_metrics_answer_with_the_database_down(
    app_without_database: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """The scrape still answers: the token counters, and the database reported down."""
    with caplog.at_level(logging.WARNING, logger="controlplane.metrics"):
        res = app_without_database.test_client().get("/metrics")

    assert res.status_code == 200
    samples = parse(res.get_data(as_text=True))
    assert value(samples, "controlplane_database_up") == 0
    assert not any(name == "controlplane_outbox_emails" for name, _ in samples)
    assert (ISSUED, frozenset()) in samples
    assert "outbox backlog not read" in caplog.text


@pytest.mark.parametrize(
    "env_overrides",
    [{"CONTROLPLANE_SERVE": "token"}, {"CONTROLPLANE_SERVE": "dashboard"}],
    ids=["token", "dashboard"],
)
def test_metrics_are_served_by_every_part(app: Flask) -> None:
    res = app.test_client().get("/metrics")

    assert res.status_code == 200
    assert "controlplane_tokens_issued_total" in res.get_data(as_text=True)
