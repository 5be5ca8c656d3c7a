"""Failed-authentication limits shared through a real Redis by two gunicorn workers (#6 part 4).

``redis-server`` is started by the test on a free loopback port; gunicorn serves with
``CONTROLPLANE_RATELIMIT_STORAGE_URL`` pointing at it. With per-process memory counters two
workers would let twice the limit through; with Redis the limit holds across them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import requests

from tests.ops.conftest import Seeded
from tests.ops.helpers import json_lines, parse, value
from tests.support.gunicorn import Gunicorn
from tests.support.redis import RedisServer

LIMIT = 4
WINDOW = 5  # seconds
LIMITS = {
    "CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_CLIENT": f"{LIMIT} per {WINDOW} seconds",
    "CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_ADDRESS": "1000/minute",
}


def post(server: Gunicorn, client_id: str, secret: str, agent: str) -> requests.Response:
    """One token request on a new connection, so either worker may take it."""
    return requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers={"User-Agent": agent},
        timeout=10,
    )


def failures_over_both_workers(server: Gunicorn, count: int) -> tuple[str, list[requests.Response]]:
    """``count`` wrong secrets for one fresh client_id, sent until both workers took some."""
    for attempt in range(10):
        client_id, agent = f"guess-{uuid.uuid4().hex[:12]}", f"attack-{attempt}"
        responses = [post(server, client_id, "wrong", agent) for _ in range(count)]
        if set(server.workers_for(agent, count)) == server.worker_pids():
            return client_id, responses
        time.sleep(WINDOW)  # one worker took every request: try again with a fresh window
    raise AssertionError("one worker served every request of ten batches")


def test_the_limit_is_shared_by_both_workers_and_resets(
    seeded: Seeded, redis_server: RedisServer, start_server: Callable[..., Gunicorn]
) -> None:
    server = start_server({**LIMITS, "CONTROLPLANE_RATELIMIT_STORAGE_URL": redis_server.url})

    client_id, responses = failures_over_both_workers(server, 2 * LIMIT + 2)

    assert [r.status_code for r in responses] == [401] * LIMIT + [429] * (LIMIT + 2)
    limited = responses[-1]
    assert limited.json() == {
        "error": "invalid_client",
        "error_description": "too many failed client authentications, retry later",
    }
    assert limited.headers["Cache-Control"] == "no-store"
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW

    time.sleep(retry_after + 0.5)
    assert post(server, client_id, "wrong", "after-window").status_code == 401


def test_successes_pay_no_redis_round_trip_and_the_right_secret_always_works(
    seeded: Seeded, redis_server: RedisServer, start_server: Callable[..., Gunicorn]
) -> None:
    server = start_server({**LIMITS, "CONTROLPLANE_RATELIMIT_STORAGE_URL": redis_server.url})
    a, b = seeded.clients["a"], seeded.clients["b"]
    statuses = [post(server, a.client_id, "wrong", "attack").status_code for _ in range(LIMIT + 2)]
    assert statuses[-1] == 429

    first = redis_server.commands_processed()
    overhead = redis_server.commands_processed() - first  # what one reading itself costs
    before = redis_server.commands_processed()
    timings = []
    for _ in range(20):
        began = time.monotonic()
        response = post(server, b.client_id, b.secret, "other-client")
        timings.append(time.monotonic() - began)
        assert response.status_code == 200, response.text
    # The attacked client itself, with its right secret, while over its failure limit.
    assert post(server, a.client_id, a.secret, "owner").status_code == 200
    after_successes = redis_server.commands_processed()
    assert post(server, a.client_id, "wrong", "attack").status_code == 429
    after_failure = redis_server.commands_processed()

    assert after_successes - before - overhead == 0, "a success sends Redis nothing"
    assert after_failure - after_successes - overhead > 0, "a failure is counted in Redis"
    assert max(timings) < 2.0, timings


def test_a_redis_outage_fails_open_without_a_500(
    seeded: Seeded, redis_server: RedisServer, start_server: Callable[..., Gunicorn]
) -> None:
    server = start_server({**LIMITS, "CONTROLPLANE_RATELIMIT_STORAGE_URL": redis_server.url})
    a = seeded.clients["a"]
    assert post(server, a.client_id, "wrong", "before").status_code == 401

    redis_server.stop()
    statuses = [post(server, a.client_id, "wrong", "outage").status_code for _ in range(12)]
    successes = [post(server, a.client_id, a.secret, "outage-ok").status_code for _ in range(6)]

    assert statuses == [401] * 12  # over the limit, but nothing can count: no 429, no 500
    assert successes == [200] * 6
    metrics = parse(requests.get(server.issuer + "/metrics", timeout=10).text)
    assert value(metrics, "controlplane_ratelimit_storage_errors_total") >= 1
    lines = json_lines(server.stderr_path.read_text())
    warnings = [line for line in lines if line["logger"] == "controlplane.ratelimit"]
    assert warnings, "the outage is logged"
    assert all(line["level"] == "WARNING" for line in warnings)
    assert "failing open" in warnings[0]["message"]
