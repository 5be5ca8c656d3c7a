"""The audit trail (issue #6 Audit and usage): every state change, who, when, from where.

Each rule records its own event in the transaction of its change, so the CLI, the dashboard
and the API all get it. These tests call the rules the way a face does: inside
``audit.acting_as`` (who and from where), then a commit, and read the event back.
"""

from __future__ import annotations

import ast
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from controlplane import keys
from controlplane.crypto import Encryptor, hash_secret
from controlplane.models import (
    App,
    AuditEvent,
    EmailStatus,
    KeyState,
    LicenseRegion,
    OutboxEmail,
    Plan,
    SigningKey,
    Tenant,
)
from controlplane.models.base import utcnow
from controlplane.rules import apps, audit, members, outbox, plans, regions, tenants, users
from controlplane.rules.errors import InvalidTransition
from tests.rules.helpers import refused

URL = "http://localhost:8000"
KEY = "k" * 40
ACTOR = audit.Actor("user:auditor@example.com", "203.0.113.9")
PASSWORD = "a long enough passphrase"
STORAGE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

MakeApp = Callable[..., tuple[App, str]]
MakeTenant = Callable[..., Tenant]


@pytest.fixture
def acting() -> Iterator[audit.Actor]:
    """The rules run as a face would run them: with a named actor and an address."""
    with audit.acting_as(ACTOR) as actor:
        yield actor


def encryptor_of(app: Flask) -> Encryptor:
    value: Encryptor = app.extensions["controlplane"].encryptor
    return value


def events(session: Session, action: str | None = None) -> list[AuditEvent]:
    """Events, newest first, read fresh from the database."""
    session.expire_all()
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt))


def the_event(
    session: Session,
    action: str,
    target_type: str,
    target_id: object,
    *,
    tenant_id: uuid.UUID | None = None,
    actor: audit.Actor = ACTOR,
    **details: Any,
) -> AuditEvent:
    """The newest ``action`` event, checked: target, tenant, actor, and these details."""
    found = events(session, action)
    assert found, f"no {action} event"
    event = found[0]
    assert (event.actor, event.address) == (actor.name, actor.address)
    assert (event.target_type, event.target_id) == (target_type, str(target_id))
    assert event.tenant_id == tenant_id
    for key, value in details.items():
        assert event.details.get(key) == value, (action, key, event.details)
    assert event.at > utcnow() - timedelta(minutes=1)
    return event


def change(old: Any, new: Any) -> dict[str, Any]:
    return {"from": old, "to": new}


# --- who: the actor and the address --------------------------------------------------------
def test_a_change_outside_any_face_is_recorded_as_system(session: Session) -> None:
    region = regions.create(session, "EU", "Europe")
    session.commit()

    the_event(session, "region.create", "region", region.code, actor=audit.SYSTEM)


def test_the_actor_is_that_of_the_innermost_face_and_is_restored_after(session: Session) -> None:
    with audit.acting_as(audit.cli_actor()) as cli:
        assert cli.name.startswith("cli:")
        assert cli.address is None
        with audit.acting_as(ACTOR):
            regions.create(session, "EU", "Europe")
        regions.create(session, "US", "United States")
    plans.create(session, "pro", "Pro")
    session.commit()

    the_event(session, "region.create", "region", "US", actor=cli)
    assert events(session, "region.create")[1].actor == ACTOR.name
    the_event(session, "plan.create", "plan", "pro", actor=audit.SYSTEM)


def test_a_refused_rule_leaves_no_event(
    session: Session, make_tenant: MakeTenant, acting: audit.Actor
) -> None:
    tenant = make_tenant(active=True)
    before = len(events(session))

    with refused(InvalidTransition):
        tenants.activate(session, tenant, platform_url=URL)
    session.rollback()

    assert len(events(session)) == before


def test_an_event_rolls_back_with_its_change(session: Session, acting: audit.Actor) -> None:
    regions.create(session, "EU", "Europe")
    session.rollback()

    assert events(session) == []


def test_details_that_name_a_secret_are_refused(session: Session) -> None:
    for key in ("client_secret", "password", "secret_hash", "reset_token", "private_key"):
        with pytest.raises(ValueError, match="must not carry"):
            audit.record(session, "x.y", "x", "1", details={key: "value"})


# --- what: one event per state change, rule by rule ----------------------------------------
def test_tenant_rules_record_registration_activation_suspension_and_limit(
    session: Session, acting: audit.Actor
) -> None:
    tenant = tenants.register(session, "Acme", "Owner@Example.com", platform_url=URL)
    session.commit()
    the_event(
        session,
        "tenant.register",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        name="Acme",
        status="pending_activation",
        owner="owner@example.com",
    )
    user = users.by_email(session, "owner@example.com")
    assert user is not None
    the_event(session, "user.create", "user", user.id, email="owner@example.com", sign_in="none")

    tenants.activate(session, tenant, platform_url=URL)
    session.commit()
    the_event(
        session,
        "tenant.activate",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        status=change("pending_activation", "active"),
    )

    tenants.suspend(session, tenant)
    session.commit()
    the_event(
        session,
        "tenant.suspend",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        status=change("active", "suspended"),
    )

    tenants.activate(session, tenant, platform_url=URL)
    session.commit()
    the_event(
        session, "tenant.activate", "tenant", tenant.id, tenant_id=tenant.id,
        status=change("suspended", "active"),
    )  # fmt: skip

    tenants.set_app_limit(session, tenant, 3)
    tenants.set_app_limit(session, tenant, None)
    session.commit()
    the_event(
        session, "tenant.set_app_limit", "tenant", tenant.id, tenant_id=tenant.id,
        app_limit=change(3, None),
    )  # fmt: skip
    assert events(session, "tenant.set_app_limit")[1].details == {"app_limit": change(None, 3)}


def test_region_rules_record_creation_databases_and_switches(
    session: Session, acting: audit.Actor
) -> None:
    region = regions.create(session, "eu", "Europe")
    regions.add_database(session, "EU", "eu-db-1")
    session.commit()
    the_event(session, "region.create", "region", "EU", name="Europe")
    the_event(session, "region.add_database", "region_database", "eu-db-1", region="EU")

    regions.set_active(session, region, False)
    session.commit()
    the_event(session, "region.deactivate", "region", "EU", active=change(True, False))
    regions.set_active(session, region, True)
    session.commit()
    the_event(session, "region.activate", "region", "EU", active=change(False, True))

    database = regions.get_database(session, "eu-db-1")
    regions.set_database_active(session, database, False)
    session.commit()
    the_event(
        session, "region_database.deactivate", "region_database", "eu-db-1",
        region="EU", active=change(True, False),
    )  # fmt: skip
    regions.set_database_active(session, database, True)
    session.commit()
    the_event(
        session, "region_database.activate", "region_database", "eu-db-1",
        active=change(False, True),
    )  # fmt: skip


def test_plan_rules_record_creation_and_retirement(session: Session, acting: audit.Actor) -> None:
    plan = plans.create(session, "Pro", "Pro", is_free=True, document_units_per_month=100)
    session.commit()
    the_event(
        session, "plan.create", "plan", "pro",
        name="Pro", is_free=True, document_units_per_month=100, max_api_requests_per_minute=None,
    )  # fmt: skip

    plans.retire(session, plan)
    session.commit()
    the_event(session, "plan.retire", "plan", "pro", retired=change(False, True))


def test_app_rules_record_every_change_by_client_id_in_the_tenant(
    app: Flask,
    session: Session,
    make_tenant: MakeTenant,
    make_region: Callable[..., LicenseRegion],
    make_plan: Callable[..., Plan],
    acting: audit.Actor,
) -> None:
    tenant = make_tenant()
    make_region("EU", databases=("eu-db-1",))
    make_plan("pro")
    make_plan("team")
    issued = apps.create(
        session,
        tenant,
        "web",
        region_code="EU",
        default_app_limit=10,
        domains=["https://App.example.com/"],
        redirect_uris=["https://app.example.com/cb"],
        plan_code="pro",
    )
    session.commit()
    web = issued.app
    on = {"target_type": "app", "target_id": web.client_id, "tenant_id": tenant.id}

    def check(action: str, **details: Any) -> AuditEvent:
        return the_event(session, action, on["target_type"], on["target_id"],
                         tenant_id=tenant.id, **details)  # fmt: skip

    check(
        "app.create",
        name="web",
        region="EU",
        db_code="eu-db-1",
        allowed_domains=["app.example.com"],
        redirect_uris=["https://app.example.com/cb"],
        post_logout_redirect_uris=[],
        plan="pro",
    )

    apps.regenerate_secret(session, web)
    session.commit()
    assert check("app.regenerate_secret").details == {}

    apps.set_enabled(session, web, False)
    session.commit()
    check("app.disable", enabled=change(True, False))
    apps.set_enabled(session, web, True)
    session.commit()
    check("app.enable", enabled=change(False, True))

    apps.rename(session, web, "backend")
    session.commit()
    check("app.rename", name=change("web", "backend"))

    apps.set_domains(session, web, ["b.example.com", "c.example.com"])
    session.commit()
    check(
        "app.set_domains",
        allowed_domains=change(["app.example.com"], ["b.example.com", "c.example.com"]),
    )

    apps.set_redirect_uris(session, web, [], ["https://app.example.com/bye"])
    session.commit()
    check(
        "app.set_redirect_uris",
        redirect_uris=change(["https://app.example.com/cb"], []),
        post_logout_redirect_uris=change([], ["https://app.example.com/bye"]),
    )

    apps.assign_plan(session, web, "team")
    session.commit()
    check("app.assign_plan", plan=change("pro", "team"))
    apps.unassign_plan(session, web)
    session.commit()
    check("app.unassign_plan", plan=change("team", None))

    apps.set_storage(
        session,
        web,
        encryptor_of(app),
        provider="aws_s3",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key=STORAGE_SECRET,
        bucket="documents",
        region="eu-west-1",
    )
    session.commit()
    check(
        "app.set_storage",
        provider="aws_s3",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        bucket="documents",
        endpoint_url=None,
        region="eu-west-1",
        key_replaced=True,
    )
    apps.set_storage(
        session, web, encryptor_of(app), provider="minio", access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key=None, bucket="docs", endpoint_url="https://minio.example.com",
    )  # fmt: skip
    session.commit()
    check("app.set_storage", provider="minio", key_replaced=False)

    apps.reencrypt_storage_secrets(session, encryptor_of(app))
    session.commit()
    the_event(session, "storage.reencrypt", "storage", "*", count=1)

    apps.clear_storage(session, web)
    session.commit()
    check("app.clear_storage", provider=change("minio", None))


def test_team_rules_record_invitation_acceptance_role_changes_and_removal(
    session: Session, make_tenant: MakeTenant, acting: audit.Actor
) -> None:
    tenant = make_tenant()
    link = members.invite(
        session, tenant, "Grace@Example.com", "admin", secret_key=KEY, platform_url=URL
    )
    session.commit()
    invitation = the_event(
        session, "member.invite", "invitation", events(session, "member.invite")[0].target_id,
        tenant_id=tenant.id, email="grace@example.com", role="admin",
    )  # fmt: skip
    uuid.UUID(invitation.target_id)  # the invitation's id, not its link

    grace = users.create(session, "grace@example.com", PASSWORD)
    members.accept(session, link.rsplit("/", 1)[1], grace, secret_key=KEY)
    session.commit()
    the_event(
        session, "member.accept", "user", grace.id, tenant_id=tenant.id,
        email="grace@example.com", role="admin", invitation=invitation.target_id,
    )  # fmt: skip
    the_event(session, "user.create", "user", grace.id, sign_in="password")

    members.change_role(session, tenant, grace.id, "owner")
    session.commit()
    the_event(
        session, "member.change_role", "user", grace.id, tenant_id=tenant.id,
        role=change("admin", "owner"),
    )  # fmt: skip

    members.remove(session, tenant, grace.id)
    session.commit()
    the_event(
        session, "member.remove", "user", grace.id, tenant_id=tenant.id,
        email="grace@example.com", role="owner", invitations_withdrawn=0,
    )  # fmt: skip


def test_user_rules_record_accounts_admins_passwords_resets_and_google(
    session: Session, acting: audit.Actor
) -> None:
    root = users.create_host_admin(session, "root@example.com", PASSWORD)
    session.commit()
    the_event(session, "user.create", "user", root.id, email="root@example.com")
    the_event(session, "user.grant_host_admin", "user", root.id, is_host_admin=change(False, True))

    users.request_password_reset(session, "root@example.com", secret_key=KEY, platform_url=URL)
    session.commit()
    the_event(session, "user.request_password_reset", "user", root.id, email="root@example.com")
    before = len(events(session))
    users.request_password_reset(session, "nobody@example.com", secret_key=KEY, platform_url=URL)
    session.commit()
    assert len(events(session)) == before  # no account, no change, no event

    users.set_password(session, root, "another long passphrase")
    session.commit()
    the_event(session, "user.set_password", "user", root.id, replaced=True)

    identity = users.GoogleIdentity("google-sub-1", "root@example.com", True)
    users.account_for_google(session, identity)
    session.commit()
    the_event(session, "user.link_google", "user", root.id, google_subject="google-sub-1")

    new = users.create_with_google(
        session, users.GoogleIdentity("google-sub-2", "new@example.com", True, "New")
    )
    session.commit()
    the_event(session, "user.create", "user", new.id, email="new@example.com", sign_in="none")
    the_event(session, "user.link_google", "user", new.id, google_subject="google-sub-2")

    users.get_or_create(session, "third@example.com")
    session.commit()
    third = users.by_email(session, "third@example.com")
    assert third is not None
    the_event(session, "user.create", "user", third.id)


def test_outbox_retry_records_the_email_without_its_body(
    session: Session, make_tenant: MakeTenant, acting: audit.Actor
) -> None:
    make_tenant(active=False)
    email = session.scalars(select(OutboxEmail)).one()
    email.status, email.attempts = EmailStatus.FAILED, 10
    session.commit()

    outbox.retry(session, email.id)
    session.commit()

    event = the_event(
        session, "email.retry", "email", email.id, kind="welcome", to=email.to_address,
        status=change("failed", "pending"), attempts_before=10,
    )  # fmt: skip
    assert "body" not in event.details
    assert "subject" not in event.details


def test_signing_keys_record_creation_as_system_and_rotation_by_the_actor(
    app: Flask, session: Session, acting: audit.Actor
) -> None:
    encryptor = encryptor_of(app)
    keys.ensure_key_set(session, "RS256", encryptor)
    created = events(session, "signing_key.create")
    assert [(e.actor, e.details["state"]) for e in reversed(created)] == [
        ("system", "current"),
        ("system", "next"),
    ]
    old_current = session.scalars(
        select(SigningKey).where(SigningKey.state == KeyState.CURRENT)
    ).one()

    rotation = keys.rotate(session, "RS256", encryptor, force=True)
    session.commit()

    the_event(
        session, "signing_key.rotate", "signing_key", rotation.current.kid,
        rotated=True, current=rotation.current.kid, next=rotation.next.kid,
        retired=old_current.kid, alg="RS256",
    )  # fmt: skip

    keys.reencrypt(session, encryptor)
    session.commit()
    the_event(session, "signing_key.reencrypt", "signing_key", "*", count=3)


# --- nothing secret ------------------------------------------------------------------------
def test_no_secret_ever_reaches_the_audit_trail(
    app: Flask,
    session: Session,
    make_region: Callable[..., LicenseRegion],
    acting: audit.Actor,
) -> None:
    """Many actions with known secrets, then every column of every audit row is searched."""
    secrets: list[str] = [PASSWORD, STORAGE_SECRET]
    encryptor = encryptor_of(app)
    make_region("EU", databases=("eu-db-1",))
    tenant = tenants.register(
        session, "Acme", "owner@example.com", platform_url=URL, owner_password=PASSWORD
    )
    tenants.activate(session, tenant, platform_url=URL)
    issued = apps.create(session, tenant, "web", region_code="EU", default_app_limit=10)
    secrets += [issued.client_secret, hash_secret(issued.client_secret).hex()]
    regenerated = apps.regenerate_secret(session, issued.app)
    secrets += [regenerated.client_secret, hash_secret(regenerated.client_secret).hex()]
    storage = apps.set_storage(
        session, issued.app, encryptor, provider="aws_s3", access_key_id="AKIAEXAMPLE",
        secret_access_key=STORAGE_SECRET, bucket="docs",
    )  # fmt: skip
    secrets.append(storage.secret_access_key_encrypted.decode())
    apps.reencrypt_storage_secrets(session, encryptor)
    link = members.invite(
        session, tenant, "ada@example.com", "member", secret_key=KEY, platform_url=URL
    )
    secrets += [link, link.rsplit("/", 1)[1]]
    ada = users.create(session, "ada@example.com", "ada's own passphrase")
    secrets.append("ada's own passphrase")
    members.accept(session, link.rsplit("/", 1)[1], ada, secret_key=KEY)
    owner = users.by_email(session, "owner@example.com")
    assert owner is not None
    reset = users.password_reset_token(owner, KEY)
    users.request_password_reset(session, "owner@example.com", secret_key=KEY, platform_url=URL)
    secrets += [reset]
    users.set_password(session, owner, "the owner's next passphrase")
    secrets.append("the owner's next passphrase")
    admin = users.create_host_admin(session, "root@example.com", "root's passphrase 123")
    secrets.append("root's passphrase 123")
    keys.rotate(session, "RS256", encryptor, force=True)
    keys.reencrypt(session, encryptor)
    session.commit()
    session.expire_all()
    for user in (owner, ada, admin):
        assert user.password_hash is not None
        secrets.append(user.password_hash)
    for key in session.scalars(select(SigningKey)):
        secrets.append(key.private_key_encrypted.decode())
        secrets.append(encryptor.decrypt(key.private_key_encrypted).decode().splitlines()[1])

    found = events(session)
    assert len(found) >= 15
    table = AuditEvent.__table__
    rows = session.execute(select(table)).all()
    for secret in secrets:
        assert len(secret) >= 8
        for row in rows:
            for column, value in zip(table.columns, row, strict=True):
                assert secret not in repr(value), f"a secret in audit_event.{column.name}"


# --- append-only, held by the database -----------------------------------------------------
def _an_event(session: Session) -> int:
    event = audit.record(session, "region.create", "region", "EU", details={"name": "Europe"})
    session.commit()
    return event.id


def test_the_database_refuses_to_update_an_event(session: Session) -> None:
    event_id = _an_event(session)

    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(
            update(AuditEvent).where(AuditEvent.id == event_id).values(actor="someone else")
        )
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE audit_event SET details = '{}'"))
    session.rollback()

    assert session.get(AuditEvent, event_id, populate_existing=True).actor == "system"  # type: ignore[union-attr]


def test_the_database_refuses_to_delete_an_event(session: Session) -> None:
    event_id = _an_event(session)

    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
    session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("DELETE FROM audit_event"))
    session.rollback()

    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_postgresql_refuses_to_truncate_the_trail(session: Session, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is refused above)")
    _an_event(session)

    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("TRUNCATE audit_event"))
    session.rollback()

    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1


# --- reading -------------------------------------------------------------------------------
def test_recent_is_newest_first_filters_and_pages_by_keyset(
    session: Session, make_tenant: MakeTenant
) -> None:
    first, second = make_tenant(), make_tenant()
    for n in range(5):
        tenants.set_app_limit(session, first, n)
        tenants.set_app_limit(session, second, n)
    session.commit()

    mine = audit.recent(session, tenant_id=first.id, limit=3)
    assert [e.details["app_limit"]["to"] for e in mine] == [4, 3, 2]
    assert {e.tenant_id for e in mine} == {first.id}
    older = audit.recent(session, tenant_id=first.id, before_id=mine[-1].id, limit=3)
    assert [e.action for e in older] == ["tenant.set_app_limit"] * 2 + ["tenant.activate"]
    assert [e.details["app_limit"]["to"] for e in older[:2]] == [1, 0]
    # one target (its whole history: register, activate, limits)
    history = audit.recent(session, target_type="tenant", target_id=str(second.id))
    assert [e.action for e in history][-2:] == ["tenant.activate", "tenant.register"]
    assert {e.target_id for e in history} == {str(second.id)}
    all_ids = [e.id for e in audit.recent(session)]
    assert all_ids == sorted(all_ids, reverse=True)


# Rules that change rows but are steps of another rule's change, which records it.
STEPS = {
    "audit.record",  # the recorder itself
    "outbox.queue",  # the emails of registration, activation, invitation, reset
    "outbox.queue_welcome",
    "outbox.queue_activation",
    "outbox.queue_password_reset",
    "outbox.queue_invitation",
}


def _changes_state(node: ast.FunctionDef) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Assign | ast.AugAssign):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and isinstance(part.ctx, ast.Store):
                        return True
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr in ("add", "delete")
            and isinstance(child.func.value, ast.Name)
            and child.func.value.id == "session"
        ):
            return True
    return False


def _records(node: ast.FunctionDef, recorders: set[str]) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in recorders or name == "record":
                return True
    return False


def test_every_state_changing_rule_records_an_event() -> None:
    """Read from the code, so a rule added later without its event fails here."""
    import controlplane.keys
    import controlplane.rules

    files = [
        *Path(controlplane.rules.__file__).parent.glob("*.py"),
        Path(controlplane.keys.__file__),
    ]
    missing = []
    checked = 0
    for path in files:
        tree = ast.parse(path.read_text())
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        # private helpers that record (``_record``, ``_record_created``...) count as recording
        recorders = {f.name for f in functions if f.name.startswith("_") and _records(f, set())}
        for function in functions:
            name = f"{path.stem}.{function.name}"
            if function.name.startswith("_") or name in STEPS or not _changes_state(function):
                continue
            checked += 1
            if not _records(function, recorders):
                missing.append(name)
    assert checked >= 30
    assert missing == []
