"""SPEC §2 refusals: an authenticated app that fails a rule gets ``400 unauthorized_client``.

"The authentication check comes first: an unauthenticated caller learns nothing about app
state." Every change takes effect on the very next request (issue #4 §5): each request here
runs with a session of its own, as on a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from controlplane.models import App, Plan, Tenant
from controlplane.rules import apps, plans, tenants
from tests.oauth.helpers import (
    Registered,
    access_token,
    assert_oauth_error,
    token_by,
    token_by_basic,
    verify,
)

METHODS = ["client_secret_basic", "client_secret_post"]
PLATFORM_URL = "http://localhost:8000"

MakeClient = Callable[..., Registered]
Session = Any  # the scoped session (tests.oauth.conftest.session)


def load(session: Session, registered: Registered) -> App:
    return apps.get(session, registered.client_id)


def assert_refused(res: Any, phrase: str) -> None:
    description = assert_oauth_error(res, 400, "unauthorized_client")
    assert phrase in description
    assert res.headers["Pragma"] == "no-cache"
    assert "WWW-Authenticate" not in res.headers


def disable(session: Session, registered: Registered) -> None:
    apps.set_enabled(session, load(session, registered), False)
    session.commit()


@pytest.mark.parametrize("method", METHODS)
def test_a_disabled_app_is_refused(
    client: FlaskClient, session: Session, registered: Registered, method: str
) -> None:
    """SPEC §2: the app must be enabled."""
    disable(session, registered)

    res = token_by(method, client, registered.client_id, registered.secret)

    assert_refused(res, "app is disabled")


@pytest.mark.parametrize("method", METHODS)
def test_an_app_of_a_pending_tenant_is_refused(
    client: FlaskClient, make_tenant: Callable[..., Tenant], make_client: MakeClient, method: str
) -> None:
    """SPEC §1: a pending tenant's apps "get no tokens until activation"."""
    registered = make_client(make_tenant(active=False))

    res = token_by(method, client, registered.client_id, registered.secret)

    assert_refused(res, "tenant is not active")


def test_an_app_of_a_suspended_tenant_is_refused_and_served_again_on_reactivation(
    client: FlaskClient,
    session: Session,
    make_tenant: Callable[..., Tenant],
    make_client: MakeClient,
) -> None:
    """SPEC §1: "Only ``active`` tenants' apps get tokens"; suspension is reversible."""
    tenant = make_tenant()
    registered = make_client(tenant)
    access_token(token_by_basic(client, registered.client_id, registered.secret))

    tenants.suspend(session, tenants.get(session, registered.tenant_id))
    session.commit()
    assert_refused(
        token_by_basic(client, registered.client_id, registered.secret), "tenant is not active"
    )

    tenants.activate(session, tenants.get(session, registered.tenant_id), platform_url=PLATFORM_URL)
    session.commit()
    verify(client, access_token(token_by_basic(client, registered.client_id, registered.secret)))


@pytest.mark.parametrize("method", METHODS)
def test_an_app_on_a_retired_plan_is_refused(
    client: FlaskClient,
    session: Session,
    make_client: MakeClient,
    make_plan: Callable[..., Plan],
    method: str,
) -> None:
    """SPEC §1 Plans: "Retired plan: token issuance is refused"."""
    registered = make_client(plan=make_plan("pro", document_units_per_month=10))
    access_token(token_by(method, client, registered.client_id, registered.secret))

    plans.retire(session, plans.get(session, "pro"))
    session.commit()
    res = token_by(method, client, registered.client_id, registered.secret)

    assert_refused(res, "plan is retired")


def test_leaving_a_retired_plan_restores_tokens_without_limits(
    client: FlaskClient, session: Session, make_client: MakeClient, make_plan: Callable[..., Plan]
) -> None:
    registered = make_client(plan=make_plan("pro"))
    plans.retire(session, plans.get(session, "pro"))
    session.commit()
    assert_refused(
        token_by_basic(client, registered.client_id, registered.secret), "plan is retired"
    )

    apps.unassign_plan(session, load(session, registered))
    session.commit()
    claims = verify(
        client, access_token(token_by_basic(client, registered.client_id, registered.secret))
    )

    assert "limits" not in claims


@pytest.mark.parametrize(
    ("column", "phrase"),
    [("region_id", "app has no license region"), ("db_code", "app has no database code")],
)
def test_an_app_without_placement_is_refused(
    client: FlaskClient, session: Session, registered: Registered, column: str, phrase: str
) -> None:
    """SPEC §2: "with a license region; with a stamped ``db_code``".

    The rules never create such an app; the column is cleared directly to prove the token path
    checks anyway.
    """
    app = load(session, registered)
    setattr(app, column, None)
    session.commit()

    assert_refused(token_by_basic(client, registered.client_id, registered.secret), phrase)


def test_disable_and_enable_take_effect_on_the_very_next_request(
    client: FlaskClient, session: Session, registered: Registered
) -> None:
    """Issue #4 §5: disabled apps take effect on the very next request."""
    access_token(token_by_basic(client, registered.client_id, registered.secret))

    disable(session, registered)
    assert_refused(
        token_by_basic(client, registered.client_id, registered.secret), "app is disabled"
    )

    apps.set_enabled(session, load(session, registered), True)
    session.commit()
    verify(client, access_token(token_by_basic(client, registered.client_id, registered.secret)))


@pytest.mark.parametrize("method", METHODS)
def test_a_regenerated_secret_replaces_the_old_one_at_once(
    client: FlaskClient, session: Session, registered: Registered, method: str
) -> None:
    """SPEC §1.6: "the old secret stops working at once, on every server instance"."""
    access_token(token_by(method, client, registered.client_id, registered.secret))

    new_secret = apps.regenerate_secret(session, load(session, registered)).client_secret
    session.commit()

    assert_oauth_error(
        token_by(method, client, registered.client_id, registered.secret), 401, "invalid_client"
    )
    claims = verify(
        client, access_token(token_by(method, client, registered.client_id, new_secret))
    )
    assert claims["client_id"] == registered.client_id


def test_authentication_comes_first_for_an_ineligible_app(
    client: FlaskClient,
    session: Session,
    make_tenant: Callable[..., Tenant],
    make_client: MakeClient,
    make_plan: Callable[..., Plan],
    subtests: pytest.Subtests,
) -> None:
    """SPEC §2: "The authentication check comes first".

    With a wrong secret an ineligible app looks exactly like an unknown client (401
    invalid_client), never ``unauthorized_client``.
    """
    disabled = make_client()
    disable(session, disabled)
    pending = make_client(make_tenant(active=False))
    suspended = make_client()
    tenants.suspend(session, tenants.get(session, suspended.tenant_id))
    on_retired_plan = make_client(plan=make_plan("pro"))
    plans.retire(session, plans.get(session, "pro"))
    session.commit()
    ineligible = {
        "disabled app": disabled,
        "pending tenant": pending,
        "suspended tenant": suspended,
        "retired plan": on_retired_plan,
    }

    for state, registered in ineligible.items():
        for method in METHODS:
            with subtests.test(state=state, method=method):
                right = token_by(method, client, registered.client_id, registered.secret)
                wrong = token_by(method, client, registered.client_id, registered.secret[:-1])
                unknown = token_by(method, client, "0" * 24, registered.secret)
                assert_oauth_error(right, 400, "unauthorized_client")
                assert_oauth_error(wrong, 401, "invalid_client")
                assert wrong.get_data() == unknown.get_data()
                assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get(
                    "WWW-Authenticate"
                )
