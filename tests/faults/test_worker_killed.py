"""Issue #6 §7: a gunicorn worker SIGKILLed under load leaves no half-written state.

Threads hammer ``/connect/token`` while a dashboard session writes through the same workers
(create an app, regenerate a secret, rotate the signing keys); a worker is killed three times.
The arbiter replaces it each time; only the request the killed worker was serving fails (a sync
worker serves one at a time); the load goes on; and the database holds only whole changes:
every app complete, each regenerate done or not, exactly one current and one next key.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from controlplane import create_app
from controlplane.crypto import hash_secret
from controlplane.extensions import db
from controlplane.models import App, KeyState, OutboxEmail, SigningKey, Tenant
from controlplane.rules import tenants
from tests.conftest import base_env
from tests.e2e.helpers import request_token
from tests.faults.conftest import OWNER, PLATFORM_URL, Credentials, seed_apps
from tests.support.dashboard import Dashboard
from tests.support.gunicorn import Gunicorn, serve

PASSWORD = "a long enough passphrase"
KILLS = 3
LOADERS = 4
AFTER = 20  # tokens issued after the last kill


@dataclass
class Outcomes:
    """What the clients saw; appended to from several threads (list.append is atomic)."""

    tokens: list[tuple[float, int]] = field(default_factory=list)  # (when, status)
    failures: list[str] = field(default_factory=list)  # requests that got no answer
    secrets: dict[str, str] = field(default_factory=dict)  # client_id -> last secret shown
    lost_writes: set[str] = field(default_factory=set)  # client_ids whose regenerate was cut
    created: dict[str, str] = field(default_factory=dict)
    writes: int = 0


def _load(server: Gunicorn, app: Credentials, stop: threading.Event, seen: Outcomes) -> None:
    while not stop.is_set():
        try:
            response = request_token(server, app.client_id, app.client_secret)
        except requests.RequestException as err:  # no answer, or half of one
            seen.failures.append(f"token: {type(err).__name__}")
            continue
        seen.tokens.append((time.monotonic(), response.status_code))


def _write(owner: Dashboard, churn: Credentials, stop: threading.Event, seen: Outcomes) -> None:
    step = 0
    while not stop.is_set():
        step += 1
        try:
            if step % 3 == 0:
                client_id, secret = owner.create_app(f"made-{step}", region="EU")
                seen.created[client_id] = secret
            elif step % 3 == 1:
                seen.secrets[churn.client_id] = owner.regenerate_secret(churn.client_id)
                seen.lost_writes.discard(churn.client_id)
            else:
                owner.rotate_keys()
            seen.writes += 1
        except requests.RequestException as err:
            seen.failures.append(f"write {step}: {type(err).__name__}")
            if step % 3 == 1:
                seen.lost_writes.add(churn.client_id)


def _replaced(server: Gunicorn, killed: int, timeout: float = 60) -> set[int]:
    """Wait until a new worker took the killed one's place and has answered a request.

    A new worker is forked at once but imports the app before it accepts connections: killing
    the other one meanwhile would leave none serving (clients wait, they do not fail).
    """
    deadline = time.monotonic() + timeout
    while True:
        workers = server.worker_pids()
        if killed not in workers and len(workers) == 2:
            break
        assert time.monotonic() < deadline, f"worker {killed} not replaced: {workers}"
        time.sleep(0.05)
    while True:
        requests.get(server.issuer + "/healthz", timeout=timeout)
        served = {int(line["pid"]) for line in server.access_lines()}
        if workers <= served:
            return workers
        assert time.monotonic() < deadline, f"the new worker never answered: {workers - served}"
        time.sleep(0.05)


def test_workers_killed_under_load_leave_no_half_written_state(
    database_url: str, tmp_path: Path
) -> None:
    steady, churn = seed_apps(database_url, tmp_path / "instance", 2, owner_password=PASSWORD)
    env = base_env(database_url, tmp_path / "instance")
    env["CONTROLPLANE_MAX_APPS_PER_TENANT"] = "1000"  # the writer creates apps until stopped
    # The dashboard's sessions and forms survive a worker: they live in the signed cookie.
    with serve(env, tmp_path / "gunicorn") as server:
        stop = threading.Event()
        seen = Outcomes(secrets={churn.client_id: churn.client_secret})
        threads = [
            threading.Thread(target=_load, args=(server, steady, stop, seen))
            for _ in range(LOADERS)
        ]
        owner = Dashboard(server.issuer)
        owner.sign_in(OWNER, PASSWORD)
        threads.append(threading.Thread(target=_write, args=(owner, churn, stop, seen)))
        for thread in threads:
            thread.start()
        killed: list[int] = []
        try:
            time.sleep(1.5)
            for _ in range(KILLS):
                victim = min(server.worker_pids())
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                _replaced(server, victim)
                time.sleep(1.5)
            # The load goes on after the last replacement (however slow the machine is).
            last_kill = time.monotonic() - 1.5
            deadline = time.monotonic() + 30
            while sum(1 for when, _ in seen.tokens if when > last_kill) < AFTER:
                assert time.monotonic() < deadline, "the load stopped after the kills"
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert not any(thread.is_alive() for thread in threads)

        # Only what the killed workers were serving failed; every answer was a good one.
        assert len(seen.failures) <= KILLS, seen.failures
        assert {status for _, status in seen.tokens} == {200}
        assert seen.writes >= 3
        assert not set(killed) & server.worker_pids()
        assert server.logs().count("Booting worker with pid") >= 2 + KILLS

        # Every change the clients saw is whole; the one cut short left nothing half-done.
        for client_id, secret in seen.created.items():
            assert request_token(server, client_id, secret).status_code == 200
        last = request_token(server, churn.client_id, seen.secrets[churn.client_id])
        if churn.client_id in seen.lost_writes:
            assert last.status_code in (200, 401)  # the cut regenerate happened, or not
        else:
            assert last.status_code == 200, last.text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            apps = conn.execute(select(App.__table__)).all()
            assert len(apps) >= 2 + len(seen.created)
            complete = conn.scalar(
                select(func.count())
                .select_from(App)
                .join(Tenant, Tenant.id == App.tenant_id)
                .where(App.region_id.is_not(None), App.db_code.is_not(None))
            )
            assert complete == len(apps)
            assert all(len(app.secret_hash) == 32 for app in apps)
            stored = {app.client_id: app.secret_hash for app in apps}
            if churn.client_id not in seen.lost_writes:
                assert stored[churn.client_id] == hash_secret(seen.secrets[churn.client_id])
            by_state = dict(
                conn.execute(
                    select(SigningKey.state, func.count()).group_by(SigningKey.state)
                ).all()
            )
            assert by_state.get(KeyState.CURRENT) == 1, by_state
            assert by_state.get(KeyState.NEXT) == 1, by_state
            retired_without_date = conn.scalar(
                select(func.count())
                .select_from(SigningKey)
                .where(SigningKey.state == KeyState.RETIRED, SigningKey.retired_at.is_(None))
            )
            assert retired_without_date == 0
    finally:
        engine.dispose()


def test_a_worker_killed_in_the_middle_of_a_transaction_leaves_nothing_of_it(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    """Deterministic: the kill lands after the transaction wrote, before it committed.

    Activating a tenant updates the tenant, then queues the activation email. A lock held by
    the test on the outbox table stops the worker's transaction between the two; the worker is
    killed there. PostgreSQL rolls the transaction back: the tenant is still pending and no
    email is queued. The same activation through the replacement worker then works once.
    """
    if backend == "sqlite":
        pytest.skip("needs another transaction holding a table lock: PostgreSQL")
    seed_apps(database_url, tmp_path / "instance", 1, owner_password=PASSWORD)
    env = base_env(database_url, tmp_path / "instance")
    engine = create_engine(database_url)
    try:
        initech = _register_pending(database_url, tmp_path / "instance")
        with serve(env, tmp_path / "gunicorn") as server:
            admin = Dashboard(server.issuer)
            admin.sign_in(OWNER, PASSWORD)
            activate = f"/admin/tenants/{initech}/activate"
            cut: list[BaseException] = []

            with engine.connect() as blocker:
                blocker.begin()
                blocker.exec_driver_sql("LOCK TABLE outbox_email IN SHARE MODE")

                def send() -> None:
                    try:
                        admin.submit(activate, {}, page="/admin/tenants")
                    except requests.ConnectionError as err:
                        cut.append(err)

                sender = threading.Thread(target=send)
                sender.start()
                waiting = _blocked_writer(engine)
                victim = _busy_worker(server)
                os.kill(victim, signal.SIGKILL)
                sender.join(15)
                _replaced(server, victim)
                blocker.rollback()  # the dead worker's backend goes on, finds no client, aborts
            _gone(engine, waiting)

            assert len(cut) == 1, "the request served by the killed worker got no answer"
            assert _tenant_state(engine, initech) == ("pending_activation", 0)

            res = admin.submit(activate, {}, page="/admin/tenants")
            assert res.status_code == 302, res.text
            assert _tenant_state(engine, initech) == ("active", 1)
    finally:
        engine.dispose()


def _register_pending(database_url: str, instance: Path) -> str:
    flask_app = create_app(base_env(database_url, instance))
    with flask_app.app_context():
        session = db.session()
        tenant = tenants.register(
            session, "Initech", "owner@initech.example.com", platform_url=PLATFORM_URL
        )
        session.commit()
        tenant_id = str(tenant.id)
        db.session.remove()
        db.engine.dispose()
    return tenant_id


def _blocked_writer(engine: Engine, timeout: float = 15) -> int:
    """The backend waiting for the test's lock, once it has written (it has a transaction id)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while True:
            row = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL"
            ).first()
            conn.rollback()
            if row is not None:
                return int(row[0])
            assert time.monotonic() < deadline, "no transaction waits for the outbox lock"
            time.sleep(0.05)


def _busy_worker(server: Gunicorn) -> int:
    """The worker that does not answer: the other one serves every probe meanwhile."""
    agent = f"probe-{time.monotonic_ns()}"
    for _ in range(3):
        response = requests.get(
            server.issuer + "/healthz", headers={"User-Agent": agent}, timeout=5
        )
        assert response.status_code == 200
    free = set(server.workers_for(agent, 3))
    [busy] = server.worker_pids() - free
    return busy


def _gone(engine: Engine, backend_pid: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while conn.exec_driver_sql(
            f"SELECT 1 FROM pg_stat_activity WHERE pid = {int(backend_pid)}"  # noqa: S608
        ).first():
            conn.rollback()
            assert time.monotonic() < deadline, f"backend {backend_pid} still there"
            time.sleep(0.05)


def _tenant_state(engine: Engine, tenant_id: str) -> tuple[str, int]:
    """The tenant's status and how many activation emails its owner has."""
    with engine.connect() as conn:
        status = conn.scalar(select(Tenant.status).where(Tenant.id == uuid.UUID(tenant_id)))
        emails = conn.scalar(
            select(func.count())
            .select_from(OutboxEmail)
            .where(
                OutboxEmail.kind == "activation",
                OutboxEmail.to_address == "owner@initech.example.com",
            )
        )
    return str(status), int(emails or 0)
