"""SPEC §3 CLI, the success side: each verb exits 0 and ``--json`` prints one JSON value.

Every verb goes through the real click entry point (``controlplane.cli.cli``) against a
migrated database, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.app import MIGRATIONS_DIR, state
from controlplane.crypto import hash_secret
from controlplane.models import App, StorageConfig, User
from controlplane.rules import users

Ok = Callable[..., Any]

APP_CREATE_KEYS = {
    "id",
    "client_id",
    "client_secret",
    "tenant_id",
    "license_region_code",
    "db_code",
    "allowed_domains",
    "enabled",
    "plan",
}


@pytest.fixture
def catalog(ok: Ok) -> None:
    """Region EU with two databases, a paid and a free plan, all made through the CLI."""
    ok("region", "create", "EU", "--name", "Europe")
    ok("region", "add-database", "EU", "eu-db-2")
    ok("region", "add-database", "EU", "eu-db-1")
    ok("plan", "create", "pro", "--name", "Pro", "--document-units-per-month", "1000")
    ok("plan", "create", "free", "--name", "Free", "--free")


@pytest.fixture
def tenant_id(ok: Ok, catalog: None) -> str:
    tenant = ok("tenant", "create", "Acme", "--owner-email", "Owner@Example.com")
    return str(tenant["id"])


@pytest.fixture
def created(ok: Ok, tenant_id: str) -> dict[str, Any]:
    """``app create --json`` output of an app with one domain."""
    return dict(
        ok("app", "create", tenant_id, "web", "--region", "EU", "--domain", "a.example.com")
    )


def app_row(session: Session, client_id: str) -> App:
    session.expire_all()
    app = session.scalar(select(App).where(App.client_id == client_id))
    assert app is not None
    return app


# --- db ------------------------------------------------------------------------------------
def test_db_upgrade_json_reports_the_head_revision(ok: Ok) -> None:
    head = ScriptDirectory(MIGRATIONS_DIR).get_current_head()

    assert ok("db", "upgrade") == {"revision": head}


# --- region --------------------------------------------------------------------------------
def test_region_verbs_print_the_region_they_changed(ok: Ok) -> None:
    created = ok("region", "create", "eu", "--name", "Europe")
    assert created["code"] == "EU"  # SPEC §1: region codes are upper-case
    assert created["name"] == "Europe"
    assert created["active"] is True
    assert created["databases"] == []

    with_db = ok("region", "add-database", "EU", "eu-db-1")
    assert with_db["databases"] == [{"db_code": "eu-db-1", "active": True}]

    assert ok("region", "deactivate", "EU")["active"] is False
    assert ok("region", "activate", "EU")["active"] is True

    off = ok("region", "deactivate-database", "eu-db-1")
    assert off["code"] == "EU"
    assert off["databases"] == [{"db_code": "eu-db-1", "active": False}]
    on = ok("region", "activate-database", "eu-db-1")
    assert on["databases"] == [{"db_code": "eu-db-1", "active": True}]


def test_region_list_is_an_array_of_region_objects(ok: Ok) -> None:
    assert ok("region", "list") == []
    ok("region", "create", "EU", "--name", "Europe")
    ok("region", "create", "US", "--name", "United States")
    eu = ok("region", "add-database", "EU", "eu-db-1")

    listed = ok("region", "list")

    assert [r["code"] for r in listed] == ["EU", "US"]
    assert listed[0] == eu


# --- plan ----------------------------------------------------------------------------------
def test_plan_create_retire_and_list(ok: Ok) -> None:
    assert ok("plan", "list") == []
    pro = ok(
        "plan",
        "create",
        "pro",
        "--name",
        "Pro",
        "--document-units-per-month",
        "1000",
        "--max-api-requests-per-minute",
        "60",
    )
    assert pro["code"] == "pro"
    assert pro["name"] == "Pro"
    assert pro["is_free"] is False
    assert pro["document_units_per_month"] == 1000
    assert pro["max_api_requests_per_minute"] == 60
    assert pro["retired"] is False
    free = ok("plan", "create", "free", "--name", "Free", "--free")
    assert free["is_free"] is True
    assert free["document_units_per_month"] is None
    assert free["max_api_requests_per_minute"] is None

    retired = ok("plan", "retire", "pro")
    assert retired == {**pro, "retired": True}

    assert ok("plan", "list") == [free, retired]


# --- tenant --------------------------------------------------------------------------------
def test_tenant_create_json_is_the_pending_tenant(ok: Ok) -> None:
    tenant = ok("tenant", "create", "Acme", "--owner-email", "Owner@Example.com")

    assert uuid.UUID(tenant["id"])
    assert tenant["name"] == "Acme"
    assert tenant["status"] == "pending_activation"
    assert tenant["owners"] == ["owner@example.com"]
    assert tenant["app_limit"] == 10  # CONTROLPLANE_MAX_APPS_PER_TENANT's default


def test_tenant_lifecycle_and_app_limit(ok: Ok) -> None:
    tenant_id = ok("tenant", "create", "Acme", "--owner-email", "owner@example.com")["id"]

    assert ok("tenant", "activate", tenant_id)["status"] == "active"
    assert ok("tenant", "suspend", tenant_id)["status"] == "suspended"
    assert ok("tenant", "activate", tenant_id)["status"] == "active"
    limited = ok("tenant", "set-app-limit", tenant_id, "2")
    assert limited["app_limit"] == 2
    assert limited["app_limit_override"] == 2
    assert limited["id"] == tenant_id

    assert ok("tenant", "list") == [limited]


def test_tenant_list_is_empty_array_without_tenants(ok: Ok) -> None:
    assert ok("tenant", "list") == []


# --- app -----------------------------------------------------------------------------------
def test_app_create_json_has_spec_shape(ok: Ok, tenant_id: str, session: Session) -> None:
    created = ok(
        "app",
        "create",
        tenant_id,
        "web",
        "--region",
        "eu",
        "--domain",
        "https://App.Example.com/",
        "--domain",
        "http://localhost:3000/",
        "--redirect-uri",
        "https://app.example.com/callback",
    )

    assert set(created) >= APP_CREATE_KEYS
    assert uuid.UUID(created["id"])
    assert created["tenant_id"] == tenant_id
    assert created["license_region_code"] == "EU"
    assert created["db_code"] == "eu-db-1"  # the first active database by code
    assert created["allowed_domains"] == ["app.example.com", "localhost:3000"]
    assert created["redirect_uris"] == ["https://app.example.com/callback"]
    assert created["enabled"] is True
    assert created["plan"] is None
    # SPEC §1.5: only a hash of the secret is stored.
    app = app_row(session, created["client_id"])
    assert app.secret_hash == hash_secret(created["client_secret"])
    assert len(created["client_secret"]) >= 43  # 256 bits, url-safe base64


def test_app_create_with_named_database_and_plan(ok: Ok, tenant_id: str) -> None:
    created = ok(
        "app",
        "create",
        tenant_id,
        "web",
        "--region",
        "EU",
        "--db-code",
        "eu-db-2",
        "--plan",
        "pro",
    )

    assert created["db_code"] == "eu-db-2"
    assert created["plan"] == "pro"


def test_app_show_never_contains_the_secret(
    ok: Ok, run_cli: Callable[..., Result], created: dict[str, Any], session: Session
) -> None:
    secret = created["client_secret"]

    shown = ok("app", "show", created["client_id"])
    text = run_cli("app", "show", created["client_id"])

    assert "client_secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "client_secret"}
    digest = app_row(session, created["client_id"]).secret_hash.hex()
    for output in (str(shown), text.stdout):
        assert secret not in output
        assert digest not in output
    assert text.exit_code == 0


def test_app_regenerate_secret_json_is_client_id_and_new_secret(
    ok: Ok, created: dict[str, Any], session: Session
) -> None:
    issued = ok("app", "regenerate-secret", created["client_id"])

    assert set(issued) == {"client_id", "client_secret"}
    assert issued["client_id"] == created["client_id"]
    assert issued["client_secret"] != created["client_secret"]
    app = app_row(session, created["client_id"])
    assert app.secret_hash == hash_secret(issued["client_secret"])
    assert ok("app", "show", created["client_id"]) == {
        k: v for k, v in created.items() if k != "client_secret"
    }


def test_app_disable_and_enable(ok: Ok, created: dict[str, Any]) -> None:
    client_id = created["client_id"]

    disabled = ok("app", "disable", client_id)
    assert disabled["enabled"] is False
    assert "client_secret" not in disabled
    assert ok("app", "enable", client_id)["enabled"] is True


def test_app_set_domains_replaces_and_clears(ok: Ok, created: dict[str, Any]) -> None:
    client_id = created["client_id"]

    changed = ok(
        "app", "set-domains", client_id, "--domain", "B.example.com", "--domain", "c.example.com"
    )
    assert changed["allowed_domains"] == ["b.example.com", "c.example.com"]
    assert ok("app", "set-domains", client_id)["allowed_domains"] == []


def test_app_assign_and_unassign_plan(ok: Ok, created: dict[str, Any]) -> None:
    client_id = created["client_id"]

    assert ok("app", "assign-plan", client_id, "free")["plan"] == "free"
    assert ok("app", "assign-plan", client_id, "pro")["plan"] == "pro"
    assert ok("app", "unassign-plan", client_id)["plan"] is None


def test_app_list_is_the_tenants_apps(ok: Ok, tenant_id: str, created: dict[str, Any]) -> None:
    other = ok("app", "create", tenant_id, "batch", "--region", "EU")

    listed = ok("app", "list", tenant_id)

    assert sorted(a["client_id"] for a in listed) == sorted(
        [created["client_id"], other["client_id"]]
    )
    assert all("client_secret" not in a for a in listed)


def test_app_set_storage_reads_the_secret_from_stdin_and_never_prints_it(
    ok: Ok, created: dict[str, Any], session: Session
) -> None:
    client_id = created["client_id"]

    shown = ok(
        "app",
        "set-storage",
        client_id,
        "--provider",
        "minio",
        "--access-key-id",
        "AKID",
        "--bucket",
        "docs",
        "--endpoint-url",
        "https://minio.example.com",
        input="storage-secret-from-stdin\n",
    )

    assert shown["storage"] == {
        "provider": "minio",
        "access_key_id": "AKID",
        "bucket": "docs",
        "endpoint_url": "https://minio.example.com",
        "region": None,
    }
    assert "storage-secret-from-stdin" not in str(shown)
    session.expire_all()
    storage = session.get(StorageConfig, uuid.UUID(created["id"]))
    assert storage is not None
    assert b"storage-secret-from-stdin" not in storage.secret_access_key_encrypted
    decrypted = state().encryptor.decrypt(storage.secret_access_key_encrypted)
    assert decrypted == b"storage-secret-from-stdin"

    assert ok("app", "clear-storage", client_id)["storage"] is None
    session.expire_all()
    assert session.get(StorageConfig, uuid.UUID(created["id"])) is None


# --- user ----------------------------------------------------------------------------------
def test_user_create_admin_reads_the_password_from_stdin(ok: Ok, session: Session) -> None:
    created = ok("user", "create-admin", "Admin@Example.com", input="a long enough password\n")

    assert set(created) == {"id", "email", "is_host_admin"}
    assert created["email"] == "admin@example.com"
    assert created["is_host_admin"] is True
    user = session.scalar(select(User).where(User.email == "admin@example.com"))
    assert user is not None
    assert user.is_host_admin
    assert users.password_matches(user, "a long enough password")


def test_user_create_admin_generates_a_password_printed_once(
    ok: Ok, run_cli: Callable[..., Result], session: Session
) -> None:
    created = ok("user", "create-admin", "admin@example.com", input="")
    as_text = run_cli("user", "create-admin", "second@example.com", input="")

    password = created["password"]
    assert len(password) >= 16
    user = session.scalar(select(User).where(User.email == "admin@example.com"))
    assert user is not None
    assert users.password_matches(user, password)
    assert as_text.exit_code == 0
    (line,) = [ln for ln in as_text.stdout.splitlines() if ln.startswith("password: ")]
    text_password = line.removeprefix("password: ")
    assert as_text.stdout.count(text_password) == 1
    second = session.scalar(select(User).where(User.email == "second@example.com"))
    assert second is not None
    assert users.password_matches(second, text_password)


# --- without --json ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("region", "list"),
        ("plan", "list"),
        ("tenant", "list"),
        ("region", "create", "AP", "--name", "Asia Pacific"),
        ("plan", "create", "team", "--name", "Team"),
        ("tenant", "create", "Initech", "--owner-email", "peter@example.com"),
    ],
    ids=" ".join,
)
def test_verbs_without_json_print_text_and_exit_0(
    run_cli: Callable[..., Result], catalog: None, args: tuple[str, ...]
) -> None:
    result = run_cli(*args)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert not result.stdout.lstrip().startswith(("{", "["))
    assert result.stderr == ""


def test_a_group_without_a_verb_shows_its_help(run_cli: Callable[..., Result]) -> None:
    result = run_cli("app")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: ")
    assert "create" in result.stderr
    assert "regenerate-secret" in result.stderr
