"""Issue #6: two gunicorn instances (two workers each) on different ports over one PostgreSQL.

A change made through one instance (its dashboard) or the CLI is effective on the other at its
very next request, on each of its workers; a rotation within a few seconds (SPEC §2). Two
instances starting at once on an empty database agree on one key set. And the parts deploy
apart: an app created on a ``CONTROLPLANE_SERVE=dashboard`` instance gets tokens from a
``CONTROLPLANE_SERVE=token`` one.

Each instance gets its own issuer (its own port), as ``tests/support/gunicorn.py`` starts it;
behind a load balancer they would share one. What is checked here does not depend on it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from controlplane import keys
from tests.conftest import base_env
from tests.e2e.conftest import World
from tests.e2e.helpers import assert_refused, ok_token, on_every_worker, request_token
from tests.support.dashboard import Dashboard
from tests.support.gunicorn import BIN, REPO_ROOT, Gunicorn, serve

pytestmark = pytest.mark.postgres_only
PASSWORD = "a long enough passphrase"
CLIENT_AUTH_FAILED = "client authentication failed"


@pytest.fixture
def pg_url(backend: str, database_url: str) -> str:
    if backend == "sqlite":
        pytest.skip("several instances share one PostgreSQL; SQLite serves one host")
    return database_url


@pytest.fixture
def instances(pg_url: str, tmp_path: Path) -> Iterator[Callable[..., list[Gunicorn]]]:
    """Start gunicorn instances on the test's database, all at once; stopped at the end."""
    with ExitStack() as stack:
        started = 0

        def start(*parts: str | None) -> list[Gunicorn]:
            """One instance per entry: its CONTROLPLANE_SERVE, or None for everything."""
            nonlocal started
            managers: list[AbstractContextManager[Gunicorn]] = []
            for serve_parts in parts:
                started += 1
                env = base_env(pg_url, tmp_path / "instance")
                if serve_parts is not None:
                    env["CONTROLPLANE_SERVE"] = serve_parts
                managers.append(serve(env, tmp_path / f"gunicorn-{started}"))
            servers: list[Gunicorn | None] = [None] * len(managers)
            errors: list[BaseException] = []

            def enter(index: int) -> None:
                try:
                    servers[index] = managers[index].__enter__()
                except BaseException as err:  # re-raised below, in the test's thread
                    errors.append(err)

            threads = [threading.Thread(target=enter, args=(i,)) for i in range(len(managers))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for manager, server in zip(managers, servers, strict=True):
                if server is not None:
                    stack.push(manager.__exit__)
            if errors:
                raise errors[0]
            return [server for server in servers if server is not None]

        yield start


def cli(server: Gunicorn, *args: str, input: str | None = None) -> Any:
    """``controlplane ARGS`` with the instance's environment, as an operator on that host."""
    if input is None:
        return server.cli(*args)
    result = subprocess.run(
        [str(BIN / "controlplane"), *args],
        env=server.env,
        cwd=REPO_ROOT,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def issues_tokens(server: Gunicorn, client_id: str, secret: str) -> list[str]:
    """Tokens from every worker of ``server`` (so each worker's caches are warm)."""
    responses = on_every_worker(
        server, lambda agent: request_token(server, client_id, secret, agent=agent), ok_token
    )
    return [ok_token(response) for response in responses]


def refuses(server: Gunicorn, client_id: str, secret: str, status: int, phrase: str) -> None:
    error = "invalid_client" if status == 401 else "unauthorized_client"
    on_every_worker(
        server,
        lambda agent: request_token(server, client_id, secret, agent=agent),
        lambda response: assert_refused(response, status, error, phrase),
    )


def kid(token: str) -> str:
    value: str = jwt.get_unverified_header(token)["kid"]
    return value


def host_admin(server: Gunicorn) -> Dashboard:
    cli(server, "user", "create-admin", "admin@example.com", input=PASSWORD + "\n")
    admin = Dashboard(server.issuer)
    admin.sign_in("admin@example.com", PASSWORD)
    return admin


def test_two_instances_starting_at_once_on_an_empty_database_create_one_key_set(
    world: World,
    instances: Callable[..., list[Gunicorn]],
    key_states: Callable[[], dict[str, list[str]]],
) -> None:
    """Keys are created on first use: both instances' first requests race, one set wins."""
    assert key_states() == {}
    first, second = instances(None, None)
    app = world.apps["bare"]
    barrier = threading.Barrier(8)
    answers: list[requests.Response] = []

    def first_requests(server: Gunicorn, path: str) -> None:
        barrier.wait()
        if path == "/connect/token":
            answers.append(request_token(server, app.client_id, app.client_secret))
        else:
            answers.append(requests.get(server.issuer + path, timeout=15))

    threads = [
        threading.Thread(target=first_requests, args=(server, path))
        for server in (first, second)
        for path in ("/readyz", "/.well-known/jwks", "/connect/token", "/readyz")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in answers) == [200] * 8, [r.text for r in answers]
    states = key_states()
    assert sorted(states) == ["current", "next"], states
    assert (len(states["current"]), len(states["next"])) == (1, 1), states
    [current] = states["current"]
    for server in (first, second):
        assert {kid(t) for t in issues_tokens(server, app.client_id, app.client_secret)} == {
            current
        }
        published = {k["kid"] for k in requests.get(server.jwks_uri, timeout=10).json()["keys"]}
        assert published == {current, *states["next"]}


def test_an_app_created_on_the_dashboard_instance_gets_tokens_from_the_token_instance(
    world: World, instances: Callable[..., list[Gunicorn]]
) -> None:
    """CONTROLPLANE_SERVE splits the parts; the database is what they share (issue #6 §2)."""
    back_office, token_host = instances("dashboard", "token")
    assert requests.get(back_office.issuer + "/connect/token", timeout=10).status_code == 404
    assert requests.get(token_host.issuer + "/login", timeout=10).status_code == 404
    owner = Dashboard(back_office.issuer)
    owner.sign_up("Initech", "owner@initech.example.com", PASSWORD)
    [tenant] = [t for t in cli(back_office, "tenant", "list") if t["name"] == "Initech"]
    cli(back_office, "tenant", "activate", tenant["id"])

    client_id, secret = owner.create_app("backend", region="EU")

    [token, *_] = issues_tokens(token_host, client_id, secret)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["tenantid"]) == (client_id, tenant["id"])
    assert (claims["licenseRegionCode"], claims["dbCode"]) == ("EU", "eu-db-1")

    # Regenerated on the back office: the token host refuses the old secret at once.
    new_secret = owner.regenerate_secret(client_id)
    refuses(token_host, client_id, secret, 401, CLIENT_AUTH_FAILED)
    issues_tokens(token_host, client_id, new_secret)

    # Disabled there: refused here at the next request; enabled: tokens again.
    owner.set_enabled(client_id, False)
    refuses(token_host, client_id, new_secret, 400, "app is disabled")
    owner.set_enabled(client_id, True)
    issues_tokens(token_host, client_id, new_secret)


def test_changes_through_one_instance_or_the_cli_take_effect_on_the_other_at_once(
    world: World, instances: Callable[..., list[Gunicorn]]
) -> None:
    """SPEC §1.6 and §2, across instances: nothing is cached that outlives a change."""
    one, other = instances(None, None)
    regen, suspend = world.apps["regen"], world.apps["suspend"]
    for app in (regen, suspend):
        issues_tokens(one, app.client_id, app.client_secret)
        issues_tokens(other, app.client_id, app.client_secret)

    new_secret = cli(one, "app", "regenerate-secret", regen.client_id)["client_secret"]
    refuses(other, regen.client_id, regen.client_secret, 401, CLIENT_AUTH_FAILED)
    issues_tokens(other, regen.client_id, new_secret)

    host_admin(one).suspend_tenant(suspend.tenant_id)
    refuses(other, suspend.client_id, suspend.client_secret, 400, "tenant is not active")
    refuses(one, suspend.client_id, suspend.client_secret, 400, "tenant is not active")


def test_a_rotation_through_one_instance_reaches_the_other_within_seconds(
    world: World,
    instances: Callable[..., list[Gunicorn]],
    key_states: Callable[[], dict[str, list[str]]],
) -> None:
    """SPEC §2: the next key signs "on every server instance within a few seconds"."""
    one, other = instances(None, None)
    app = world.apps["bare"]
    [old] = {kid(t) for t in issues_tokens(other, app.client_id, app.client_secret)}
    issues_tokens(one, app.client_id, app.client_secret)
    [upcoming] = key_states()["next"]

    host_admin(one).rotate_keys()
    rotated_at = time.monotonic()

    assert key_states()["current"] == [upcoming]
    # Every worker of the other instance signs with the new key once its cache is older than
    # REFRESH_SECONDS; nothing signs with a key missing from the JWKS meanwhile.
    while True:
        kids = {kid(t) for t in issues_tokens(other, app.client_id, app.client_secret)}
        assert kids <= {old, upcoming}
        if kids == {upcoming}:
            break
        assert time.monotonic() - rotated_at < keys.REFRESH_SECONDS + 3, kids
        time.sleep(0.2)
    assert time.monotonic() - rotated_at < keys.REFRESH_SECONDS + 3
    # A little later, no worker of either instance signs with the old key.
    time.sleep(keys.REFRESH_SECONDS)
    for server in (one, other):
        assert {kid(t) for t in issues_tokens(server, app.client_id, app.client_secret)} == {
            upcoming
        }
        published = {k["kid"] for k in requests.get(server.jwks_uri, timeout=10).json()["keys"]}
        assert {old, upcoming} <= published  # the retired key stays until its tokens expire
