"""``controlplane audit list`` and ``controlplane app usage`` (issue #6 Audit and usage).

Every verb acts as ``cli:<operating-system user>``, with no address: the audit trail says who
ran it.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from controlplane import usage
from controlplane.extensions import db
from controlplane.rules import usage as usage_rules

Ok = Callable[..., Any]
Refused = Callable[..., str]
CLI_ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def tenant_id(ok: Ok) -> str:
    ok("region", "create", "EU", "--name", "Europe")
    ok("region", "add-database", "EU", "eu-db-1")
    tenant: dict[str, Any] = ok("tenant", "create", "Acme", "--owner-email", "o@example.com")
    return str(tenant["id"])


def test_every_verb_is_recorded_as_the_operating_system_user(ok: Ok, tenant_id: str) -> None:
    ok("tenant", "activate", tenant_id)
    created = ok("app", "create", tenant_id, "web", "--region", "EU")
    ok("app", "disable", created["client_id"])

    events = ok("audit", "list")

    assert [e["action"] for e in events] == [
        "app.disable",
        "app.create",
        "tenant.activate",
        "tenant.register",
        "user.create",
        "region.add_database",
        "region.create",
    ]
    assert {(e["actor"], e["address"]) for e in events} == {(CLI_ACTOR, None)}
    newest = events[0]
    assert set(newest) == {
        "id", "at", "actor", "address", "action", "target_type", "target_id", "tenant_id",
        "details",
    }  # fmt: skip
    assert (newest["target_type"], newest["target_id"]) == ("app", created["client_id"])
    assert newest["tenant_id"] == tenant_id
    assert newest["details"] == {"enabled": {"from": True, "to": False}}
    assert created["client_secret"] not in str(events)


def test_audit_list_filters_by_tenant_and_target_and_pages(ok: Ok, tenant_id: str) -> None:
    other = ok("tenant", "create", "Globex", "--owner-email", "g@example.com")["id"]
    for limit in ("3", "4", "5"):
        ok("tenant", "set-app-limit", tenant_id, limit)
    ok("tenant", "activate", other)

    mine = ok("audit", "list", "--tenant", tenant_id)
    assert {e["tenant_id"] for e in mine} == {tenant_id}
    assert [e["action"] for e in mine] == ["tenant.set_app_limit"] * 3 + ["tenant.register"]

    page = ok("audit", "list", "--tenant", tenant_id, "--limit", "2")
    assert [e["details"]["app_limit"]["to"] for e in page] == [5, 4]
    rest = ok("audit", "list", "--tenant", tenant_id, "--before", str(page[-1]["id"]))
    assert [e["action"] for e in rest] == ["tenant.set_app_limit", "tenant.register"]

    on_globex = ok("audit", "list", "--target-type", "tenant", "--target-id", other)
    assert [e["action"] for e in on_globex] == ["tenant.activate", "tenant.register"]
    assert ok("audit", "list", "--target-type", "plan") == []


def test_audit_list_prints_one_line_per_event_without_json(
    run_cli: Callable[..., Result], tenant_id: str
) -> None:
    result = run_cli("audit", "list", "--limit", "1")

    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert "\ttenant.register\t" in line
    assert f"\t{CLI_ACTOR}\t-\t" in line


def test_audit_list_refuses_an_unknown_tenant_and_a_bad_limit(refused: Refused) -> None:
    assert "does not exist" in refused("audit", "list", "--tenant", str(uuid.uuid4()))
    assert "limit" in refused("audit", "list", "--limit", "0").lower()


def test_app_usage_lists_every_day_with_zeros(app: Flask, ok: Ok, tenant_id: str) -> None:
    created = ok("app", "create", tenant_id, "web", "--region", "EU")
    app_id = uuid.UUID(created["id"])
    today = usage_rules.today()
    counter = usage.UsageCounter(lambda: db.engine, interval=3600, today=lambda: today)
    counter.count(app_id, 7)
    counter._today = lambda: today - timedelta(days=2)  # type: ignore[method-assign]
    counter.count(app_id, 3)
    counter.close()

    found = ok("app", "usage", created["client_id"], "--days", "3")

    assert found == {
        "client_id": created["client_id"],
        "days": [
            {"day": (today - timedelta(days=2)).isoformat(), "tokens_issued": 3},
            {"day": (today - timedelta(days=1)).isoformat(), "tokens_issued": 0},
            {"day": today.isoformat(), "tokens_issued": 7},
        ],
        "total": 10,
    }
    assert len(ok("app", "usage", created["client_id"])["days"]) == 30


def test_app_usage_of_an_unknown_app_is_refused(refused: Refused) -> None:
    assert "does not exist" in refused("app", "usage", "no-such-client")
