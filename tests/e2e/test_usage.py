"""Usage counts survive gunicorn's graceful stop: each worker flushes at exit (issue #6).

The interval is an hour here (``base_env``), so only the exit flush can have written them.
A worker killed with SIGKILL would lose at most one interval of counts (controlplane/usage.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, select

from controlplane.models import AppUsageDay
from tests.e2e.conftest import World
from tests.e2e.helpers import ok_token, on_every_worker, request_token


def test_tokens_issued_by_every_worker_are_in_the_database_after_a_graceful_stop(
    world: World, start_server: Any, database_url: str
) -> None:
    server = start_server()
    app = world.apps["bare"]
    responses = on_every_worker(
        server,
        lambda agent: request_token(server, app.client_id, app.client_secret, agent=agent),
        ok_token,
    )
    other = world.apps["flat"]
    ok_token(request_token(server, other.client_id, other.client_secret))
    assert len(server.worker_pids()) == 2

    server.stop()  # SIGTERM: the workers finish, flush at exit, and leave

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AppUsageDay.app_id, AppUsageDay.day, AppUsageDay.tokens_issued)
            ).all()
    finally:
        engine.dispose()
    today = datetime.now(UTC).date()
    assert {(str(a), d, n) for a, d, n in rows} == {
        (app.app_id, today, len(responses)),
        (other.app_id, today, 1),
    }
    assert "usage flush failed" not in server.logs()
