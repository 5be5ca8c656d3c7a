"""SPEC §3 ``bench seed`` at scale, and the token path's one query staying an index lookup.

One database per backend is seeded with 100,000 apps for the whole module (a few seconds; the
million-app timing is a measurement in the README, not a test). The query whose plan is checked
is the one a real token request sends, captured as it goes to the database.
"""

from __future__ import annotations

import json
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, inspect, select

from controlplane import create_app, seed
from controlplane.extensions import db
from controlplane.models import App, LicenseRegion, RegionDatabase, Tenant
from controlplane.rules.errors import Conflict
from tests.conftest import base_env
from tests.support.postgres import PostgresCluster

APPS = 100_000


@pytest.fixture(scope="module")
def seeded(
    backend: str,
    template_url: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Flask, seed.Seeded]]:
    """An app on a fresh copy of the template holding 100,000 bench apps."""
    root = tmp_path_factory.mktemp(f"scale-{backend}")
    if backend == "sqlite":
        target = root / "scale.db"
        shutil.copyfile(Path(template_url.removeprefix("sqlite:///")), target)
        url = f"sqlite:///{target}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        name = f"cp_scale_{uuid.uuid4().hex[:8]}"
        cluster.execute(f"CREATE DATABASE {name} TEMPLATE cp_template")
        url = cluster.url(name)
    flask_app = create_app(base_env(url, root / "instance"))
    flask_app.config["TESTING"] = True
    with flask_app.app_context():
        seeded = seed.seed_apps(db.session(), APPS)
        db.session.commit()
        db.session.remove()
        yield flask_app, seeded
        # The usage flusher stops with the module: its database is about to go.
        flask_app.extensions["controlplane.usage"].close(flush=False)
        db.session.remove()
        db.engine.dispose()


def token_response(flask_app: Flask, client_id: str, secret: str) -> Any:
    return flask_app.test_client().post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )


def test_a_seed_of_100k_apps_makes_10k_active_tenants_of_ten_apps_each(
    seeded: tuple[Flask, seed.Seeded],
) -> None:
    session = db.session()
    assert session.scalar(select(func.count()).select_from(App)) == APPS
    assert session.scalar(select(func.count(func.distinct(App.client_id)))) == APPS
    assert session.scalar(select(func.count(func.distinct(App.id)))) == APPS
    assert session.scalar(select(func.count()).select_from(Tenant)) == APPS // 10
    per_tenant = select(func.count()).select_from(App).group_by(App.tenant_id).subquery()
    assert set(session.scalars(select(func.distinct(per_tenant.c[0])))) == {10}
    assert set(session.scalars(select(func.distinct(Tenant.status)))) == {"active"}
    assert set(session.execute(select(func.distinct(App.db_code)))) == {("bench-db-1",)}
    assert session.execute(
        select(LicenseRegion.code, RegionDatabase.db_code).join(
            RegionDatabase, RegionDatabase.region_id == LicenseRegion.id
        )
    ).all() == [("BENCH", "bench-db-1")]
    # The foreign keys (dropped and re-added around COPY on PostgreSQL) are all there.
    assert {fk["name"] for fk in inspect(db.engine).get_foreign_keys("app")} == {
        "fk_app_tenant_id_tenant",
        "fk_app_region_id_license_region",
        "fk_app_plan_id_plan",
    }
    # Stored as the ORM stores them: objects and relationships load.
    some = session.scalars(select(App).order_by(App.client_id).limit(3)).all()
    for app in some:
        assert isinstance(app.id, uuid.UUID)
        assert app.tenant.name.startswith(seed.TENANT_PREFIX)
        assert app.region is not None
        assert app.region.code == "BENCH"
        assert app.allowed_domains == ["app.bench.example.com"]
        assert app.created_at.tzinfo is not None
        assert len(app.client_id) == 24


def test_any_seeded_app_gets_a_token_with_its_own_claims(
    seeded: tuple[Flask, seed.Seeded],
) -> None:
    """All apps of one seed share the printed secret (one digest, computed once)."""
    flask_app, printed = seeded
    session = db.session()
    offset = secrets.randbelow(APPS)
    other = session.scalars(select(App).order_by(App.id).offset(offset).limit(1)).one()

    for client_id in (printed.client_id, other.client_id):
        res = token_response(flask_app, client_id, printed.client_secret)
        assert res.status_code == 200, res.json
    claims = json.loads(_b64(res.json["access_token"].split(".")[1]))
    assert claims["sub"] == other.client_id
    assert claims["appId"] == str(other.id)
    assert claims["tenantid"] == str(other.tenant_id)
    assert (claims["licenseRegionCode"], claims["dbCode"]) == ("BENCH", "bench-db-1")
    wrong = token_response(flask_app, other.client_id, printed.client_secret[:-1] + "x")
    assert wrong.status_code == 401


def test_the_token_query_is_one_index_lookup_on_client_id_at_100k_apps(
    backend: str, seeded: tuple[Flask, seed.Seeded]
) -> None:
    """STYLE: "one indexed query loads app, tenant, region, plan", whatever the app count."""
    flask_app, printed = seeded
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        token_response(flask_app, printed.client_id, printed.client_secret)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    [(statement, parameters)] = [s for s in sent if "FROM app JOIN tenant" in s[0]]

    with db.engine.connect() as conn:
        if backend == "sqlite":
            plan = [
                row[3]
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
            assert not [step for step in plan if step.startswith("SCAN")], plan
            [app_step] = [step for step in plan if step.startswith("SEARCH app ")]
            assert "USING INDEX" in app_step, plan
            assert "(client_id=?)" in app_step, plan
            [tenant_step] = [step for step in plan if step.startswith("SEARCH tenant ")]
            assert "(id=?)" in tenant_step, plan
        else:
            [(document,)] = conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, parameters
            ).all()
            nodes = list(_plan_nodes(document[0]["Plan"]))
            by_table = {n.get("Relation Name"): n for n in nodes if "Relation Name" in n}
            assert by_table["app"]["Node Type"] in ("Index Scan", "Index Only Scan"), nodes
            assert by_table["app"]["Index Name"] == "uq_app_client_id"
            assert by_table["tenant"]["Node Type"] in ("Index Scan", "Index Only Scan"), nodes
            assert by_table["tenant"]["Index Name"] == "pk_tenant"
            # Whatever reads the one-row catalog tables, nothing scans a table that grows.
            scanned = {n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"}
            assert scanned <= {"license_region", "plan"}, nodes
            assert document[0]["Plan"]["Total Cost"] < 100, document


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_seeding_again_after_a_big_seed_still_refuses_real_tenants(
    seeded: tuple[Flask, seed.Seeded],
) -> None:
    """The safety check reads the tenant table whatever its size; a bench DB stays bench."""
    session = db.session()
    session.scalars(select(Tenant).limit(1)).one().name = "Acme"
    session.flush()
    try:
        with pytest.raises(Conflict, match="1 real tenants"):
            seed.seed_apps(session, 1)
    finally:
        session.rollback()
