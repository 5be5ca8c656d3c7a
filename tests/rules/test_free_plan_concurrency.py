"""Races the database must decide, on PostgreSQL with real concurrent transactions.

SPEC §1 Plans: "One free plan per tenant ... enforced so that two concurrent assignments cannot
both succeed." SPEC §1 App creation rule 4: the app limit holds under concurrent creations too
(the tenant row lock). Each race is made real: one transaction holds its write, the other is
seen *waiting* on it in ``pg_stat_activity`` before the first commits. Every worker runs in a
thread with a deadline and its session has a ``lock_timeout``, so a bug fails, never hangs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from controlplane.extensions import db
from controlplane.models import App, Plan, Tenant
from controlplane.rules import apps, tenants
from controlplane.rules.errors import AppLimitReached, FreePlanTaken, RuleError
from tests.rules.helpers import assert_rule_error

pytestmark = pytest.mark.postgres_only

MakeApp = Callable[..., tuple[App, str]]
MakePlan = Callable[..., Plan]
MakeTenant = Callable[..., Tenant]

DEADLINE = 20.0  # seconds a worker may take before the test fails


@pytest.fixture(autouse=True)
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("needs real concurrent transactions and row locks: PostgreSQL only")


@pytest.fixture
def engine(app: Flask) -> Engine:
    return db.engine  # taken here: the app context lives in the test's thread only


@pytest.fixture
def open_session(engine: Engine) -> Iterator[Callable[[], Session]]:
    """Independent sessions (own connections), as two server instances would have."""
    opened: list[Session] = []

    def make() -> Session:
        own = Session(engine)
        own.execute(text("SET lock_timeout = '10s'"))
        opened.append(own)
        return own

    yield make
    for own in opened:
        own.close()


class Worker(threading.Thread):
    """Runs ``work`` in a thread; keeps its return value or the exception it raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as err:  # handed to the test thread
            self.error = err

    def outcome(self) -> Any:
        self.join(DEADLINE)
        assert not self.is_alive(), f"worker still running after {DEADLINE}s"
        if self.error is not None and not isinstance(self.error, RuleError):
            raise self.error
        return self.error if self.error is not None else self.result


def backend_pid(own: Session) -> int:
    pid: int = own.scalar(text("SELECT pg_backend_pid()"))
    return pid


def wait_until_blocked(observer: Session, pid: int) -> None:
    """Return once backend ``pid`` waits for a lock another transaction holds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        waiting = observer.scalar(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        observer.rollback()  # a fresh snapshot of pg_stat_activity next time
        if waiting == "Lock":
            return
        assert time.monotonic() < deadline, f"backend {pid} never waited for a lock"
        time.sleep(0.01)


def together(start: threading.Barrier, work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work`` once every worker reached ``start``: the race begins at one instant."""
    start.wait()
    return work(*args)


def assign_and_commit(own: Session, client_id: str, plan_code: str) -> None:
    """What a face does: the rule, then commit, or roll back on a refusal."""
    try:
        apps.assign_plan(own, apps.get(own, client_id), plan_code)
        own.commit()
    except RuleError:
        own.rollback()
        raise


def create_and_commit(own: Session, tenant_id: uuid.UUID, name: str) -> str:
    try:
        issued = apps.create(
            own, tenants.get(own, tenant_id), name, region_code="EU", default_app_limit=10
        )
        own.commit()
    except RuleError:
        own.rollback()
        raise
    return issued.app.client_id


def free_plan_apps(own: Session, tenant_id: uuid.UUID) -> list[str]:
    own.rollback()
    return list(
        own.scalars(
            select(App.client_id).where(App.tenant_id == tenant_id, App.on_free_plan.is_(True))
        )
    )


def app_count(own: Session, tenant_id: uuid.UUID) -> int:
    own.rollback()
    return own.scalar(select(func.count()).where(App.tenant_id == tenant_id)) or 0


# --- one free plan per tenant -----------------------------------------------------------------
def test_a_free_plan_assignment_waiting_on_another_fails_once_that_one_commits(
    open_session: Callable[[], Session],
    make_app: MakeApp,
    make_plan: MakePlan,
    make_tenant: MakeTenant,
) -> None:
    """Both pass the friendly pre-check (neither sees the other); the unique index decides."""
    make_plan("free", is_free=True)
    tenant = make_tenant()
    first, _ = make_app(tenant, name="first")
    second, _ = make_app(tenant, name="second")
    tenant_id, first_id, second_id = tenant.id, first.client_id, second.client_id
    a, b, observer = open_session(), open_session(), open_session()

    apps.assign_plan(a, apps.get(a, first_id), "free")  # flushed: A holds the index entry
    pid = backend_pid(b)
    loser = Worker(lambda: assign_and_commit(b, second_id, "free"))
    loser.start()
    wait_until_blocked(observer, pid)
    a.commit()

    error = loser.outcome()
    assert_rule_error(error, FreePlanTaken, field="plan")
    assert free_plan_apps(observer, tenant_id) == [first_id]


def test_a_free_plan_assignment_waiting_on_another_succeeds_if_that_one_rolls_back(
    open_session: Callable[[], Session],
    make_app: MakeApp,
    make_plan: MakePlan,
    make_tenant: MakeTenant,
) -> None:
    make_plan("free", is_free=True)
    tenant = make_tenant()
    first, _ = make_app(tenant, name="first")
    second, _ = make_app(tenant, name="second")
    tenant_id, first_id, second_id = tenant.id, first.client_id, second.client_id
    a, b, observer = open_session(), open_session(), open_session()

    apps.assign_plan(a, apps.get(a, first_id), "free")
    pid = backend_pid(b)
    waiter = Worker(lambda: assign_and_commit(b, second_id, "free"))
    waiter.start()
    wait_until_blocked(observer, pid)
    a.rollback()

    assert waiter.outcome() is None
    assert free_plan_apps(observer, tenant_id) == [second_id]


def test_two_simultaneous_free_plan_assignments_exactly_one_succeeds(
    open_session: Callable[[], Session],
    make_app: MakeApp,
    make_plan: MakePlan,
    make_tenant: MakeTenant,
) -> None:
    """Two instances assign free plans to two apps of one tenant at the same instant."""
    make_plan("free", is_free=True)
    make_plan("trial", is_free=True)
    tenant = make_tenant()
    first, _ = make_app(tenant, name="first")
    second, _ = make_app(tenant, name="second")
    tenant_id, client_ids = tenant.id, (first.client_id, second.client_id)
    sessions = (open_session(), open_session())
    observer = open_session()

    for _ in range(5):
        start = threading.Barrier(2, timeout=DEADLINE)

        workers = [
            Worker(partial(together, start, assign_and_commit, own, cid, code))
            for own, cid, code in zip(sessions, client_ids, ("free", "trial"), strict=True)
        ]
        for worker in workers:
            worker.start()
        outcomes = [worker.outcome() for worker in workers]

        assert sorted(type(o).__name__ for o in outcomes) == ["FreePlanTaken", "NoneType"]
        for outcome in outcomes:
            if outcome is not None:
                assert_rule_error(outcome, FreePlanTaken, field="plan")
        [holder] = free_plan_apps(observer, tenant_id)
        winner = client_ids[[o is None for o in outcomes].index(True)]
        assert holder == winner
        # Free the slot for the next round.
        with Session(observer.get_bind()) as reset:
            apps.unassign_plan(reset, apps.get(reset, holder))
            reset.commit()


# --- the app limit ------------------------------------------------------------------------------
def test_an_app_creation_waiting_on_another_fails_once_that_one_takes_the_last_slot(
    session: Session,
    open_session: Callable[[], Session],
    make_app: MakeApp,
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant()
    make_app(tenant, name="one")
    make_app(tenant, name="two")
    tenants.set_app_limit(session, tenant, 3)  # one slot left
    session.commit()
    tenant_id = tenant.id
    a, b, observer = open_session(), open_session(), open_session()

    apps.create(a, tenants.get(a, tenant_id), "a", region_code="EU", default_app_limit=10)
    pid = backend_pid(b)
    loser = Worker(lambda: create_and_commit(b, tenant_id, "b"))
    loser.start()
    wait_until_blocked(observer, pid)  # on the tenant row A locked
    a.commit()

    assert_rule_error(loser.outcome(), AppLimitReached, field="name")
    assert app_count(observer, tenant_id) == 3


def test_two_simultaneous_app_creations_for_the_last_slot_exactly_one_succeeds(
    session: Session,
    open_session: Callable[[], Session],
    make_app: MakeApp,
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant()
    make_app(tenant, name="one")  # also creates region EU
    tenant_id = tenant.id
    sessions = (open_session(), open_session())
    observer = open_session()

    for limit in (2, 3, 4, 5, 6):  # one slot left each round
        tenants.set_app_limit(session, tenants.get(session, tenant_id), limit)
        session.commit()
        start = threading.Barrier(2, timeout=DEADLINE)

        workers = [
            Worker(partial(together, start, create_and_commit, own, tenant_id, name))
            for own, name in zip(sessions, (f"a{limit}", f"b{limit}"), strict=True)
        ]
        for worker in workers:
            worker.start()
        outcomes = [worker.outcome() for worker in workers]

        refusals = [o for o in outcomes if isinstance(o, RuleError)]
        assert len(refusals) == 1, outcomes
        assert_rule_error(refusals[0], AppLimitReached, field="name")
        assert app_count(observer, tenant_id) == limit


def test_an_app_creation_sees_a_limit_lowered_after_it_read_the_tenant(
    session: Session,
    open_session: Callable[[], Session],
    make_app: MakeApp,
    make_tenant: MakeTenant,
) -> None:
    """The row lock re-reads the tenant: a limit an admin lowered meanwhile is the one applied."""
    tenant = make_tenant()
    make_app(tenant, name="one")
    tenant_id = tenant.id
    b = open_session()
    stale = tenants.get(b, tenant_id)  # read before the admin's change, same transaction
    assert stale.app_limit is None

    tenants.set_app_limit(session, tenant, 1)
    session.commit()

    try:
        apps.create(b, stale, "two", region_code="EU", default_app_limit=10)
    except AppLimitReached as err:
        assert_rule_error(err, AppLimitReached, field="name")
    else:
        pytest.fail("the app limit read before the lock was applied")
    b.rollback()
    assert app_count(b, tenant_id) == 1
