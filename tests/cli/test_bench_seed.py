"""SPEC §3 ``controlplane bench seed --apps N --json``: load-test data, never production data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from controlplane.crypto import secret_matches
from controlplane.extensions import db
from controlplane.models import App, LicenseRegion, Tenant, TenantStatus
from controlplane.rules import apps


def test_bench_seed_creates_active_tenants_of_ten_apps_in_region_bench(
    app: Flask, ok: Callable[..., Any]
) -> None:
    printed = ok("bench", "seed", "--apps", "25")

    assert set(printed) == {"client_id", "client_secret"}
    session = db.session()
    assert session.scalar(select(func.count()).select_from(App)) == 25
    assert session.scalar(select(func.count()).select_from(Tenant)) == 3  # 10 + 10 + 5
    assert set(session.scalars(select(Tenant.status))) == {TenantStatus.ACTIVE}
    assert session.scalar(select(LicenseRegion.code)) == "BENCH"
    subject = apps.for_token(session, printed["client_id"])
    assert subject is not None
    assert secret_matches(printed["client_secret"], subject.secret_hash)
    assert apps.token_refusal(subject) is None
    assert subject.db_code == "bench-db-1"


def test_the_printed_app_gets_a_token(app: Flask, ok: Callable[..., Any]) -> None:
    printed = ok("bench", "seed", "--apps", "3")

    res = app.test_client().post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(printed["client_id"], printed["client_secret"]),
    )

    assert res.status_code == 200, res.json


def test_seeding_twice_adds_to_the_bench_data(app: Flask, ok: Callable[..., Any]) -> None:
    ok("bench", "seed", "--apps", "10")
    ok("bench", "seed", "--apps", "10")

    assert db.session().scalar(select(func.count()).select_from(App)) == 20


def test_bench_seed_refuses_a_database_with_real_tenants(
    make_tenant: Callable[..., Tenant], refused: Callable[..., str]
) -> None:
    make_tenant("Acme")

    line = refused("bench", "seed", "--apps", "5")

    assert "real tenants" in line


def test_bench_seed_refuses_zero_apps(refused: Callable[..., str]) -> None:
    refused("bench", "seed", "--apps", "0")
