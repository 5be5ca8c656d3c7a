"""The token path's database work (issue #4 §5; STYLE "A token request, one straight path").

"One indexed query loads app, tenant, region, plan; no other database work", and the signing
key is parsed once per process and re-checked only every ``REFRESH_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from controlplane import keys
from controlplane.models import Plan
from tests.oauth.helpers import (
    FakeClock,
    Registered,
    access_token,
    assert_oauth_error,
    token_by,
    token_by_basic,
)

METHODS = ["client_secret_basic", "client_secret_post"]


@pytest.fixture
def clock(signer: keys.Signer, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Frozen for the signer: its cached key stays fresh until the test moves time."""
    fake = FakeClock()
    monkeypatch.setattr(signer, "_clock", fake)
    return fake


@pytest.mark.parametrize("method", METHODS)
def test_a_token_request_costs_one_statement_while_the_key_cache_is_fresh(
    client: FlaskClient,
    make_client: Callable[..., Registered],
    make_plan: Callable[..., Plan],
    statements: list[str],
    clock: FakeClock,
    method: str,
) -> None:
    registered = make_client(
        domains=["a.example.com", "b.example.com"],
        plan=make_plan("pro", document_units_per_month=1),
    )
    access_token(token_by(method, client, registered.client_id, registered.secret))  # warm-up
    statements.clear()

    for _ in range(3):
        access_token(token_by(method, client, registered.client_id, registered.secret))

    assert len(statements) == 3, statements
    for statement in statements:
        lowered = " ".join(statement.lower().split())
        assert lowered.startswith("select")
        assert "from app join tenant" in lowered
        for table in ("license_region", "plan"):
            assert table in lowered


def test_refusals_and_failed_authentication_cost_one_statement(
    client: FlaskClient,
    registered: Registered,
    statements: list[str],
    clock: FakeClock,
    session: Any,
) -> None:
    """Eligibility reads only what the one query loaded; no lazy loads."""
    from controlplane.rules import apps

    access_token(token_by_basic(client, registered.client_id, registered.secret))
    apps.set_enabled(session, apps.get(session, registered.client_id), False)
    session.commit()
    statements.clear()

    assert_oauth_error(
        token_by_basic(client, registered.client_id, registered.secret), 400, "unauthorized_client"
    )
    assert_oauth_error(token_by_basic(client, registered.client_id, "wrong"), 401, "invalid_client")
    assert_oauth_error(token_by_basic(client, "f" * 24, "wrong"), 401, "invalid_client")

    assert len(statements) == 3, statements


def test_malformed_requests_cost_no_statement(
    client: FlaskClient, registered: Registered, statements: list[str]
) -> None:
    client.post("/connect/token?x=1", data={"grant_type": "client_credentials"})
    client.post("/connect/token", data={"grant_type": "password"})
    client.get("/connect/token")
    token_by_basic(client, "a" * 65, "x")

    assert statements == []


def test_the_key_is_rechecked_with_one_statement_after_the_refresh_window(
    client: FlaskClient, registered: Registered, statements: list[str], clock: FakeClock
) -> None:
    access_token(token_by_basic(client, registered.client_id, registered.secret))
    clock.advance(keys.REFRESH_SECONDS)
    statements.clear()

    access_token(token_by_basic(client, registered.client_id, registered.secret))
    access_token(token_by_basic(client, registered.client_id, registered.secret))

    # The app query twice, and once the current kid (unchanged: nothing parsed again).
    assert len(statements) == 3, statements
    assert sum("signing_key" in s for s in statements) == 1
