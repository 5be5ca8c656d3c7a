"""Prometheus metrics at ``/metrics`` (SPEC §3 Operations; docs/operations.md lists them).

Under gunicorn every worker is a process of its own: ``gunicorn.conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, prometheus-client then keeps each
worker's values in memory-mapped files there, and a scrape, whichever worker serves it, adds
up the files of all workers (multiprocess mode). Without that variable (``flask run``, the CLI,
tests in one process) the values live in this process's registry.

Recording costs the token path no database work and no lock but prometheus-client's own: the
labelled children are created once, here. Label values are a closed set: never a client_id.
The outbox backlog is read from the database when scraped, with one grouped count.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from controlplane.extensions import db
from controlplane.models import EmailStatus, OutboxEmail
from controlplane.oauth import outcome

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

# Token requests take 1-100 ms (a signature and one indexed query); finer steps there.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
BACKLOG = (EmailStatus.PENDING, EmailStatus.FAILED)

# The same series in one process as under gunicorn, where multiprocess mode has no *_created.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

TOKENS_ISSUED = Counter(
    "controlplane_tokens_issued",
    "Access tokens issued by /connect/token.",
    registry=REGISTRY,
)
TOKENS_REFUSED = Counter(
    "controlplane_tokens_refused",
    "Token requests refused, by reason: the OAuth error code, unauthorized_client split by the "
    "SPEC rule that refused, rate_limited, temporarily_unavailable.",
    ["reason"],
    registry=REGISTRY,
)
TOKEN_DURATION = Histogram(
    "controlplane_token_request_duration_seconds",
    "Time to answer a /connect/token request, by outcome (issued or refused).",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RATELIMIT_STORAGE_ERRORS = Counter(
    "controlplane_ratelimit_storage_errors",
    "Failed authentications that could not be counted: rate-limit storage unavailable.",
    registry=REGISTRY,
)

# Children resolved once: recording is an increment, not a label lookup. Every reason is
# exported from the start (at 0), so rate() and alerts see a series before the first event.
_ISSUED = TOKENS_ISSUED
_REFUSED = {reason: TOKENS_REFUSED.labels(reason=reason) for reason in outcome.REASONS}
_DURATION_ISSUED = TOKEN_DURATION.labels(outcome="issued")
_DURATION_REFUSED = TOKEN_DURATION.labels(outcome="refused")


def record_token(result: str, seconds: float) -> None:
    """Count one answered token request: ``issued`` or a reason of ``outcome.REASONS``."""
    if result == outcome.ISSUED:
        _ISSUED.inc()
        _DURATION_ISSUED.observe(seconds)
        return
    _REFUSED.get(result, _REFUSED["invalid_request"]).inc()
    _DURATION_REFUSED.observe(seconds)


def record_ratelimit_storage_error() -> None:
    RATELIMIT_STORAGE_ERRORS.inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class OutboxBacklog(Collector):
    """Emails waiting (pending) and given up on (failed), read when scraped.

    One grouped count on ``ix_outbox_email_due``; with the database down the scrape still
    answers, with ``controlplane_database_up 0`` and no backlog samples.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "controlplane_database_up", "1 if the database answered this scrape's query, else 0."
        )
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(OutboxEmail.status, func.count())
                    .where(OutboxEmail.status.in_(BACKLOG))
                    .group_by(OutboxEmail.status)
                ).all()
        except SQLAlchemyError as err:
            log.warning(
                "metrics: outbox backlog not read, database unavailable (%s)", type(err).__name__
            )
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        counts = {str(status): int(count) for status, count in rows}
        backlog = GaugeMetricFamily(
            "controlplane_outbox_emails",
            "Emails in the outbox by status: pending (not yet delivered) or failed (retries "
            "exhausted, kept until an admin retries them).",
            labels=["status"],
        )
        for status in BACKLOG:
            backlog.add_metric([status.value], counts.get(status.value, 0))
        yield backlog


class _Collected(Collector):
    """Another registry's metrics, as one collector of the per-scrape registry."""

    def __init__(self, source: Iterable[Metric]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source


def exposition() -> bytes:
    """The Prometheus text of this process (or of every gunicorn worker) and the backlog."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Collected(REGISTRY.collect()))
    registry.register(OutboxBacklog(db.engine))
    return generate_latest(registry)


@bp.get("/metrics")
def metrics() -> Response:
    response = Response(exposition(), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
