"""``/metrics`` under ``gunicorn wsgi:app`` with two workers: every scrape adds up both.

gunicorn.conf.py turns on prometheus-client's multiprocess mode; whichever worker answers a
scrape must report the requests that both workers served.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import requests

from tests.e2e.helpers import on_every_worker
from tests.ops.conftest import Seeded
from tests.ops.helpers import Samples, parse, value
from tests.support.gunicorn import Gunicorn

AGENT = "ops-scrape"


def request_token(server: Gunicorn, client_id: str, secret: str, agent: str) -> requests.Response:
    return requests.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers={"User-Agent": agent},
        timeout=10,
    )


def ok(response: requests.Response) -> None:
    assert response.status_code == 200, response.text


def unauthorized(response: requests.Response) -> None:
    assert response.status_code == 401, response.text


def scrape(server: Gunicorn, agent: str = AGENT) -> Samples:
    response = requests.get(server.issuer + "/metrics", headers={"User-Agent": agent}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(response.text)


def test_counters_and_histograms_are_summed_across_workers(
    seeded: Seeded, start_server: Callable[..., Gunicorn]
) -> None:
    server = start_server()
    a = seeded.clients["a"]

    issued = on_every_worker(
        server,
        lambda agent: request_token(server, a.client_id, a.secret, agent),
        ok,
    )
    refused = on_every_worker(
        server,
        lambda agent: request_token(server, a.client_id, "wrong", agent),
        unauthorized,
    )
    disabled = seeded.clients["disabled"]
    request_token(server, disabled.client_id, disabled.secret, "ops-disabled")

    scrapes: list[Samples] = []
    served_by: set[int] = set()
    while served_by != server.worker_pids():  # until each worker has answered a scrape
        assert len(scrapes) < 60, f"every scrape served by {served_by}"
        agent = f"{AGENT}-{len(scrapes)}"
        scrapes.append(scrape(server, agent))
        served_by.update(server.workers_for(agent, 1))

    for samples in scrapes:
        assert value(samples, "controlplane_tokens_issued_total") == len(issued)
        assert value(samples, "controlplane_tokens_refused_total", reason="invalid_client") == len(
            refused
        )
        assert value(samples, "controlplane_tokens_refused_total", reason="app_disabled") == 1
        latency = "controlplane_token_request_duration_seconds"
        assert value(samples, latency + "_count", outcome="issued") == len(issued)
        assert value(samples, latency + "_bucket", outcome="refused", le="+Inf") == len(refused) + 1
        assert value(samples, "controlplane_database_up") == 1
        # An active tenant's welcome and activation emails, never sent in this test.
        assert value(samples, "controlplane_outbox_emails", status="pending") == 2


def test_a_replaced_worker_keeps_its_counts_in_the_sum(
    seeded: Seeded, start_server: Callable[..., Gunicorn]
) -> None:
    """Counters never go backwards when gunicorn replaces a worker (child_exit)."""
    server = start_server()
    a = seeded.clients["a"]
    issued = on_every_worker(
        server, lambda agent: request_token(server, a.client_id, a.secret, agent), ok
    )
    old = server.worker_pids()
    os.kill(min(old), signal.SIGKILL)  # one of the two workers of the server this test started
    deadline = time.monotonic() + 20
    while len(server.worker_pids() - old) < 1 or len(server.worker_pids()) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.1)

    for n in range(6):
        samples = scrape(server, f"after-kill-{n}")
        assert value(samples, "controlplane_tokens_issued_total") == len(issued)
