"""Issue #6 §7, SPEC §3 Operations: PostgreSQL stops under a running gunicorn, then returns.

While it is down, ``/readyz`` answers 503 and the token endpoint, discovery and the JWKS answer
503 ``temporarily_unavailable`` in JSON (never an HTML page, never a 500), quickly, on every
worker; ``/healthz`` stays 200 (the process is fine). When it is back, the same workers serve
again without a restart: pooled connections broken by the restart are replaced.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.conftest import base_env
from tests.e2e.helpers import ok_token, on_every_worker, request_token
from tests.faults.conftest import seed_apps
from tests.support.gunicorn import Gunicorn, serve
from tests.support.postgres import PostgresCluster

MACHINE_PATHS = (
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks",
)
# connect_timeout is 3 s; a refused connection answers at once.
QUICK = 5.0


def _unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert response.elapsed.total_seconds() < QUICK


def _oauth_unavailable(response: requests.Response) -> None:
    _unavailable(response)
    assert response.headers["Cache-Control"] == "no-store"  # no cache keeps the outage
    body = response.json()
    assert body["error"] == "temporarily_unavailable", body
    assert body["error_description"]


def _everything_answers(server: Gunicorn, client_id: str, secret: str) -> None:
    on_every_worker(
        server, lambda agent: request_token(server, client_id, secret, agent=agent), ok_token
    )
    for path in ("/readyz", *MACHINE_PATHS):
        response = requests.get(server.issuer + path, timeout=10)
        assert response.status_code == 200, (path, response.text)


def test_the_database_going_away_and_coming_back_under_a_running_server(
    own_cluster: PostgresCluster, own_database_url: str, tmp_path: Path
) -> None:
    [app] = seed_apps(own_database_url, tmp_path / "instance", 1)
    env = base_env(own_database_url, tmp_path / "instance")
    with serve(env, tmp_path / "gunicorn") as server:
        _everything_answers(server, app.client_id, app.client_secret)
        workers = server.worker_pids()

        own_cluster.halt()

        on_every_worker(
            server,
            lambda agent: request_token(server, app.client_id, app.client_secret, agent=agent),
            _oauth_unavailable,
        )
        for path in MACHINE_PATHS:
            _oauth_unavailable(requests.get(server.issuer + path, timeout=10))
        ready = requests.get(server.issuer + "/readyz", timeout=10)
        _unavailable(ready)
        assert ready.json()["checks"]["database"] == "unreachable"
        assert requests.get(server.issuer + "/healthz", timeout=10).status_code == 200

        own_cluster.resume()

        deadline = time.monotonic() + 15
        while requests.get(server.issuer + "/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "not ready 15 s after the database returned"
            time.sleep(0.2)
        _everything_answers(server, app.client_id, app.client_secret)
        assert server.worker_pids() == workers, "recovered by restarting workers"
        logs = server.logs()
    # The outage is logged as such, without a traceback or a 500.
    assert "database unavailable" in logs
    assert "Traceback" not in logs
    assert '" 500 ' not in logs
