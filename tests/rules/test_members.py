"""A tenant's team (SPEC §1 User; issue #5): invitations, roles, removal, the last owner."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from controlplane.extensions import db
from controlplane.models import Membership, OutboxEmail, Role, Tenant, User
from controlplane.rules import members, tenants, users
from controlplane.rules.errors import (
    AlreadyMember,
    InvalidInvitation,
    InvalidRole,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
    RoleNotAllowed,
    RuleError,
    WrongInvitee,
)
from tests.rules.helpers import assert_rule_error, refused

KEY = "k" * 40
URL = "http://localhost:8000"
MakeTenant = Callable[..., Tenant]


def invite(session: Session, tenant: Tenant, email: str, role: str = "member") -> str:
    link = members.invite(session, tenant, email, role, secret_key=KEY, platform_url=URL)
    session.commit()
    return link.rsplit("/", 1)[1]


def add(session: Session, tenant: Tenant, email: str, role: str) -> User:
    user = users.create(session, email, None)
    session.add(Membership(tenant=tenant, user=user, role=role))
    session.commit()
    return user


def owner_of(session: Session, tenant: Tenant) -> User:
    (owner,) = tenants.owners(session, tenant)
    return owner


def roles(session: Session, tenant: Tenant) -> dict[str, str]:
    session.expire_all()
    return {m.user.email: m.role for m in members.list_for_tenant(session, tenant)}


def test_an_invitation_queues_an_email_with_a_signed_link(
    session: Session, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant("Acme")
    link = members.invite(
        session, tenant, " Bob@Example.com ", "admin", secret_key=KEY, platform_url=URL
    )
    session.commit()
    (email,) = session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "invitation"))
    assert email.to_address == "bob@example.com"
    assert link in email.body
    assert re.fullmatch(r"http://localhost:8000/invitations/[\w.-]+", link)
    found = members.read_invitation(session, link.rsplit("/", 1)[1], secret_key=KEY)
    assert (found.tenant.id, found.email, found.role) == (tenant.id, "bob@example.com", "admin")


@pytest.mark.parametrize("role", ["owner", "boss", ""])
def test_an_invitation_as_owner_or_no_role_is_refused(
    session: Session, make_tenant: MakeTenant, role: str
) -> None:
    tenant = make_tenant()
    with refused(InvalidRole, field="role"):
        members.invite(session, tenant, "bob@example.com", role, secret_key=KEY, platform_url=URL)


def test_an_invitation_for_a_member_is_refused(session: Session, make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    with refused(AlreadyMember, field="email"):
        members.invite(
            session,
            tenant,
            owner_of(session, tenant).email,
            "member",
            secret_key=KEY,
            platform_url=URL,
        )


def test_a_member_cannot_invite(session: Session, make_tenant: MakeTenant) -> None:
    with refused(RoleNotAllowed, field="role"):
        members.invite(
            session,
            make_tenant(),
            "bob@example.com",
            "member",
            secret_key=KEY,
            platform_url=URL,
            by="member",
        )


def test_accepting_makes_the_invited_account_a_member_once(
    session: Session, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    token = invite(session, tenant, "bob@example.com", "admin")
    bob = users.create(session, "bob@example.com", None)
    members.accept(session, token, bob, secret_key=KEY)
    session.commit()
    assert roles(session, tenant)["bob@example.com"] == "admin"
    with refused(InvitationUsed):
        members.accept(session, token, bob, secret_key=KEY)


def test_another_account_cannot_accept(session: Session, make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    token = invite(session, tenant, "bob@example.com")
    eve = users.create(session, "eve@example.com", None)
    with refused(WrongInvitee):
        members.accept(session, token, eve, secret_key=KEY)
    assert "eve@example.com" not in roles(session, tenant)


def test_a_forged_or_expired_link_is_refused(session: Session, make_tenant: MakeTenant) -> None:
    token = invite(session, make_tenant(), "bob@example.com")
    with refused(InvalidInvitation):
        members.read_invitation(session, token, secret_key="other" * 10)
    with refused(InvalidInvitation):
        members.read_invitation(session, token[:-2] + "xx", secret_key=KEY)
    with refused(InvalidInvitation):
        members.read_invitation(session, token, secret_key=KEY, max_age=-1)
    assert members.INVITATION_MAX_AGE == 7 * 24 * 3600


def test_roles_change_and_members_leave(session: Session, make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    bob = add(session, tenant, "bob@example.com", "member")
    members.change_role(session, tenant, bob.id, "admin")
    session.commit()
    assert roles(session, tenant)["bob@example.com"] == "admin"
    members.remove(session, tenant, str(bob.id))
    session.commit()
    assert "bob@example.com" not in roles(session, tenant)


def test_an_unknown_role_is_refused(session: Session, make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    with refused(InvalidRole, field="role"):
        members.change_role(session, tenant, owner_of(session, tenant).id, "root")


def test_another_tenants_user_is_not_found(session: Session, make_tenant: MakeTenant) -> None:
    mine, theirs = make_tenant(), make_tenant()
    stranger = owner_of(session, theirs)
    with refused(MemberNotFound):
        members.change_role(session, mine, stranger.id, "member")
    with refused(MemberNotFound):
        members.remove(session, mine, stranger.id)
    with refused(MemberNotFound):
        members.remove(session, mine, "not-a-uuid")


def test_the_last_owner_can_be_neither_demoted_nor_removed(
    session: Session, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    owner = owner_of(session, tenant)
    with refused(LastOwner, field="role"):
        members.change_role(session, tenant, owner.id, "admin")
    session.rollback()
    with refused(LastOwner, field="role"):
        members.remove(session, tenant, owner.id)
    session.rollback()
    second = add(session, tenant, "bob@example.com", "owner")
    members.change_role(session, tenant, owner.id, "admin")
    session.commit()
    with refused(LastOwner):
        members.remove(session, tenant, second.id)


def test_only_owners_touch_owners(session: Session, make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    owner = owner_of(session, tenant)
    bob = add(session, tenant, "bob@example.com", "member")
    with refused(RoleNotAllowed, field="role"):
        members.change_role(session, tenant, bob.id, "owner", by="admin")
    session.rollback()
    with refused(RoleNotAllowed, field="role"):
        members.change_role(session, tenant, owner.id, "admin", by="admin")
    session.rollback()
    with refused(RoleNotAllowed):
        members.remove(session, tenant, owner.id, by="admin")
    session.rollback()
    members.change_role(session, tenant, bob.id, "admin", by="admin")
    members.change_role(session, tenant, bob.id, "owner", by="owner")
    session.commit()
    assert roles(session, tenant)["bob@example.com"] == Role.OWNER


# --- the race: two owners demote each other at once (PostgreSQL row locks) ---------------
@pytest.mark.postgres_only
def test_two_concurrent_demotions_cannot_leave_no_owner(
    app: Flask, backend: str, session: Session, make_tenant: MakeTenant
) -> None:
    if backend != "postgresql":
        pytest.skip("needs real concurrent transactions and row locks: PostgreSQL only")
    tenant = make_tenant()
    first = owner_of(session, tenant)
    second = add(session, tenant, "bob@example.com", "owner")
    tenant_id, first_id, second_id = tenant.id, first.id, second.id
    engine = db.engine
    a, b, observer = Session(engine), Session(engine), Session(engine)
    try:
        for own in (a, b):
            own.execute(text("SET lock_timeout = '10s'"))
        pid = b.scalar(text("SELECT pg_backend_pid()"))
        members.change_role(a, tenants.get(a, tenant_id), first_id, "admin")  # A holds the lock
        outcome: list[BaseException | None] = []

        def demote_second() -> None:
            try:
                members.change_role(b, tenants.get(b, tenant_id), second_id, "admin")
                b.commit()
                outcome.append(None)
            except RuleError as err:
                b.rollback()
                outcome.append(err)

        worker = threading.Thread(target=demote_second, daemon=True)
        worker.start()
        deadline = time.monotonic() + 20
        while True:
            waiting = observer.scalar(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            )
            observer.rollback()
            if waiting == "Lock":
                break
            assert time.monotonic() < deadline, "the second demotion never waited"
            time.sleep(0.01)
        a.commit()
        worker.join(20)
        assert not worker.is_alive()
        (error,) = outcome
        assert error is not None
        assert_rule_error(error, LastOwner, field="role")
        owners = observer.scalars(
            select(Membership.user_id).where(
                Membership.tenant_id == tenant_id, Membership.role == "owner"
            )
        ).all()
        assert owners == [second_id]
    finally:
        for own in (a, b, observer):
            own.close()


def test_a_removed_member_cannot_rejoin_with_the_old_link(
    session: Session, make_tenant: MakeTenant
) -> None:
    """The invitation row makes the link single-use, even after the member is removed."""
    tenant = make_tenant()
    token = invite(session, tenant, "bob@example.com")
    bob = users.create(session, "bob@example.com", None)
    members.accept(session, token, bob, secret_key=KEY)
    session.commit()

    members.remove(session, tenant, bob.id)
    session.commit()

    with refused(InvitationUsed):
        members.accept(session, token, bob, secret_key=KEY)
    session.rollback()
    assert "bob@example.com" not in roles(session, tenant)


def test_removing_a_member_withdraws_their_open_invitations(
    session: Session, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant()
    bob = add(session, tenant, "bob@example.com", "member")
    # An invitation sent before bob joined another way is still open.
    pending = members.TenantInvitation(tenant_id=tenant.id, email=bob.email, role="admin")
    session.add(pending)
    session.commit()

    members.remove(session, tenant, bob.id)
    session.commit()

    session.refresh(pending)
    assert pending.revoked_at is not None
