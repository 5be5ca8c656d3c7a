"""SPEC §1.6 and §2: operator changes take effect on every worker at the very next request.

Each app first gets tokens from both workers (so any per-worker cache is warm), then the
``controlplane`` CLI changes it in a subprocess, and from the next request on every answer from
every worker reflects the change.
"""

from __future__ import annotations

from typing import Any

import requests

from tests.e2e.conftest import World
from tests.e2e.helpers import (
    assert_claims,
    assert_refused,
    ok_token,
    on_every_worker,
    request_token,
    verify_everywhere,
    wrong,
)
from tests.support.gunicorn import Gunicorn

CLIENT_AUTH_FAILED = "client authentication failed"


def _issues_tokens(server: Gunicorn, client_id: str, secret: str) -> list[str]:
    responses = on_every_worker(
        server,
        lambda agent: request_token(server, client_id, secret, agent=agent),
        ok_token,
    )
    return [ok_token(response) for response in responses]


def _refuses(server: Gunicorn, client_id: str, secret: str, phrase: str) -> None:
    def check(response: requests.Response) -> None:
        assert_refused(response, 400, "unauthorized_client", phrase)

    on_every_worker(
        server, lambda agent: request_token(server, client_id, secret, agent=agent), check
    )
    check(request_token(server, client_id, secret, method="client_secret_post"))


def _invalid_client(response: requests.Response, *, basic: bool = True) -> None:
    assert_refused(response, 401, "invalid_client", CLIENT_AUTH_FAILED)
    assert ("WWW-Authenticate" in response.headers) == basic
    if basic:
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_regenerated_secret_replaces_the_old_one_on_every_worker_at_once(
    world: World, start_server: Any
) -> None:
    """SPEC §1.6: the old secret stops working at once, on every server instance."""
    server = start_server()
    app = world.apps["regen"]
    _issues_tokens(server, app.client_id, app.client_secret)

    regenerated = server.cli("app", "regenerate-secret", app.client_id)
    assert regenerated["client_id"] == app.client_id
    new_secret = regenerated["client_secret"]
    assert new_secret != app.client_secret

    on_every_worker(
        server,
        lambda agent: request_token(server, app.client_id, app.client_secret, agent=agent),
        _invalid_client,
    )
    _invalid_client(
        request_token(server, app.client_id, app.client_secret, method="client_secret_post"),
        basic=False,
    )
    # The old secret is answered exactly as an unknown client is: nothing to enumerate.
    old = request_token(server, app.client_id, app.client_secret)
    unknown = request_token(server, "no-such-client", app.client_secret)
    assert (old.status_code, old.json()) == (unknown.status_code, unknown.json())

    tokens = _issues_tokens(server, app.client_id, new_secret)
    tokens.append(
        ok_token(request_token(server, app.client_id, new_secret, method="client_secret_post"))
    )
    for _, claims in verify_everywhere(server, tokens[:1] + tokens[-1:], "RS256"):
        assert_claims(claims, app, server)


def test_disabled_app_suspended_tenant_and_retired_plan_are_refused_on_every_worker_at_once(
    world: World, start_server: Any
) -> None:
    """SPEC §2: 400 unauthorized_client naming the rule, from the next request on.

    Authentication still comes first: a wrong secret for a refused app is 401, not the rule.
    """
    server = start_server()
    changes = [
        ("disable", ("app", "disable", world.apps["disable"].client_id), "app is disabled"),
        ("suspend", ("tenant", "suspend", world.tenants["globex"]), "tenant is not active"),
        ("retire", ("plan", "retire", "legacy"), "plan is retired"),
    ]
    for name, _, _ in changes:
        app = world.apps[name]
        _issues_tokens(server, app.client_id, app.client_secret)

    for name, command, phrase in changes:
        app = world.apps[name]
        server.cli(*command)
        _refuses(server, app.client_id, app.client_secret, phrase)
        _invalid_client(request_token(server, app.client_id, wrong(app.client_secret)))

    # Apps the changes do not touch keep getting tokens (the tenant acme is still active).
    bare = world.apps["bare"]
    _issues_tokens(server, bare.client_id, bare.client_secret)
