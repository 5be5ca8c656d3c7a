"""SPEC §1 App creation (rules 1-6) and Plans, as the domain layer enforces them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane import crypto, serialize
from controlplane.models import App, LicenseRegion, Plan, Tenant
from controlplane.rules import apps, regions, tenants
from controlplane.rules.errors import (
    AppLimitReached,
    AppNotFound,
    DuplicateDomain,
    FreePlanTaken,
    InvalidDomain,
    InvalidName,
    InvalidRedirectUri,
    NoActiveDatabase,
    PlanNotFound,
    RegionDatabaseInactive,
    RegionInactive,
    RegionNotFound,
    TooManyDomains,
)
from tests.rules.helpers import assert_nowhere_in_database, refused

MakeApp = Callable[..., tuple[App, str]]
MakePlan = Callable[..., Plan]
MakeRegion = Callable[..., LicenseRegion]
MakeTenant = Callable[..., Tenant]
CountRows = Callable[..., int]

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def create(session: Session, tenant: Tenant, name: str = "web", **kwargs: object) -> App:
    """Create and commit an app in region EU with the default limit of 10 unless told."""
    kwargs.setdefault("region_code", "EU")
    kwargs.setdefault("default_app_limit", 10)
    issued = apps.create(session, tenant, name, **kwargs)  # type: ignore[arg-type]
    session.commit()
    return issued.app


def reload(session: Session, app: App) -> App:
    """The app as the database has it now (after a commit or a rollback)."""
    session.expire_all()
    return apps.get(session, app.client_id)


# --- creation: placement (rule 1) ------------------------------------------------------------
def test_a_new_app_is_stamped_with_its_region_and_first_active_database(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """SPEC §1 rule 1: stamped with that region and the database's `db_code`."""
    make_region("EU", databases=("eu-db-2", "eu-db-1"))

    app = create(session, make_tenant(), region_code="eu")

    reloaded = reload(session, app)
    assert reloaded.region is not None
    assert (reloaded.region.code, reloaded.db_code) == ("EU", "eu-db-1")
    assert reloaded.enabled is True
    assert reloaded.plan is None
    assert reloaded.storage is None


def test_a_new_app_is_stamped_with_the_database_the_caller_names(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU", databases=("eu-db-1", "eu-db-2"))

    app = create(session, make_tenant(), db_code="eu-db-2")

    assert reload(session, app).db_code == "eu-db-2"


def test_the_stamped_database_does_not_follow_later_region_changes(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """The `db_code` is stamped at creation: adding an earlier database later moves nothing."""
    make_region("EU", databases=("eu-db-2",))
    app = create(session, make_tenant())

    regions.add_database(session, "EU", "eu-db-1")
    session.commit()

    assert reload(session, app).db_code == "eu-db-2"


@pytest.mark.parametrize(
    ("setup", "db_code", "error", "field"),
    [
        ("unknown-region", None, RegionNotFound, "region"),
        ("inactive-region", None, RegionInactive, "region"),
        ("no-database", None, NoActiveDatabase, "region"),
        ("inactive-database", None, NoActiveDatabase, "region"),
        ("other-region-database", "us-db-1", RegionDatabaseInactive, "db_code"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_an_app_that_cannot_be_placed_is_refused_and_nothing_is_written(
    session: Session,
    count_rows: CountRows,
    make_region: MakeRegion,
    make_tenant: MakeTenant,
    setup: str,
    db_code: str | None,
    error: type[Exception],
    field: str,
) -> None:
    tenant = make_tenant()
    make_region("US", databases=("us-db-1",))
    if setup != "unknown-region":
        region = make_region("EU", databases=() if setup == "no-database" else ("eu-db-1",))
        if setup == "inactive-region":
            regions.set_active(session, region, False)
        if setup == "inactive-database":
            regions.set_database_active(session, region.databases[0], False)
        session.commit()

    with refused(error, field=field):  # type: ignore[arg-type]
        apps.create(session, tenant, "web", region_code="EU", db_code=db_code, default_app_limit=10)
    session.rollback()

    assert count_rows(App) == 0


def test_a_pending_tenant_may_already_create_apps(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """SPEC §1: a `pending_activation` tenant may already create apps."""
    make_region("EU")
    tenant = make_tenant(active=False)

    app = create(session, tenant)

    assert reload(session, app).tenant.status == "pending_activation"


def test_an_app_with_a_bad_name_is_refused(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU")
    tenant = make_tenant()

    for name in ("", "  ", "x" * 201):
        with refused(InvalidName, field="name"):
            apps.create(session, tenant, name, region_code="EU", default_app_limit=10)
        session.rollback()

    assert count_rows(App) == 0


# --- creation: domains (rule 2) and URIs (rule 3) --------------------------------------------
def test_a_new_app_stores_its_domains_normalized_and_in_order(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """SPEC §1 rule 2, its examples, and IDN to punycode.

    "`https://app.example.com/` → `app.example.com`, `http://localhost:3000/` → `localhost:3000`"
    """
    make_region("EU")

    app = create(
        session,
        make_tenant(),
        domains=["https://app.example.com/", "http://localhost:3000/", "HTTPS://Bücher.Example"],
    )

    assert reload(session, app).allowed_domains == [
        "app.example.com",
        "localhost:3000",
        "xn--bcher-kva.example",
    ]


@pytest.mark.parametrize(
    ("domains", "error"),
    [
        (["a.example.com", "b.example.com", "c.example.com", "d.example.com"], TooManyDomains),
        (["https://app.example.com/", "APP.example.com"], DuplicateDomain),
        (["*.example.com"], InvalidDomain),
        (["app.example.com/path"], InvalidDomain),
        (["localhost:0"], InvalidDomain),
    ],
    ids=["four", "duplicate", "wildcard", "path", "port-0"],
)
def test_an_app_with_bad_domains_is_refused_and_nothing_is_written(
    session: Session,
    count_rows: CountRows,
    make_region: MakeRegion,
    make_tenant: MakeTenant,
    domains: list[str],
    error: type[Exception],
) -> None:
    make_region("EU")
    tenant = make_tenant()

    with refused(error, field="allowed_domains"):  # type: ignore[arg-type]
        apps.create(session, tenant, "web", region_code="EU", default_app_limit=10, domains=domains)
    session.rollback()

    assert count_rows(App) == 0


def test_a_new_app_keeps_its_redirect_uris_as_given(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """SPEC §1 rule 3: optional; each must be an absolute URI (scheme + host)."""
    make_region("EU")

    app = create(
        session,
        make_tenant(),
        redirect_uris=["https://app.example.com/callback", " http://localhost:3000/cb "],
        post_logout_redirect_uris=["https://app.example.com/bye"],
    )

    reloaded = reload(session, app)
    assert reloaded.redirect_uris == [
        "https://app.example.com/callback",
        "http://localhost:3000/cb",
    ]
    assert reloaded.post_logout_redirect_uris == ["https://app.example.com/bye"]


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_an_app_with_a_relative_or_unsafe_uri_is_refused_and_nothing_is_written(
    session: Session,
    count_rows: CountRows,
    make_region: MakeRegion,
    make_tenant: MakeTenant,
    field: str,
) -> None:
    make_region("EU")
    tenant = make_tenant()

    for uri in ("/callback", "app.example.com/cb", "https://", "javascript://x/%0aalert(1)"):
        uris: dict[str, Any] = {field: [uri]}
        with refused(InvalidRedirectUri, field=field):
            apps.create(session, tenant, "web", region_code="EU", default_app_limit=10, **uris)
        session.rollback()

    assert count_rows(App) == 0


def test_changing_redirect_uris_validates_them_and_changes_nothing_on_refusal(
    session: Session, make_app: MakeApp
) -> None:
    app, _ = make_app(redirect_uris=["https://a.example.com/cb"])

    apps.set_redirect_uris(session, app, ["https://b.example.com/cb"], ["https://b.example.com/"])
    session.commit()
    with refused(InvalidRedirectUri, field="post_logout_redirect_uris"):
        apps.set_redirect_uris(session, app, ["https://c.example.com/cb"], ["/relative"])
    session.rollback()

    reloaded = reload(session, app)
    assert reloaded.redirect_uris == ["https://b.example.com/cb"]
    assert reloaded.post_logout_redirect_uris == ["https://b.example.com/"]


# --- creation: the secret (rule 5) -----------------------------------------------------------
def test_only_a_sha256_digest_of_the_secret_is_stored(session: Session, make_app: MakeApp) -> None:
    """SPEC §1 rule 5: the response carries the plaintext once. Only a hash is stored."""
    app, secret = make_app()

    raw = session.execute(
        select(App.__table__.c.secret_hash).where(App.__table__.c.client_id == app.client_id)
    ).scalar_one()
    assert bytes(raw) == hashlib.sha256(secret.encode()).digest()
    assert len(raw) == 32
    assert_nowhere_in_database(session, secret)


def test_a_secret_has_at_least_256_bits(make_app: MakeApp) -> None:
    """SPEC §1 rule 5: secrets are ≥256-bit random: at least 43 url-safe base64 characters."""
    secrets = {make_app(name=f"app {n}")[1] for n in range(3)}

    assert len(secrets) == 3
    for secret in secrets:
        assert URL_SAFE.match(secret)
        assert len(secret) >= 43


def test_client_ids_are_unique_and_fit_the_lookup(
    session: Session, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU")
    tenant = make_tenant()
    client_ids = {create(session, tenant, f"app {n}").client_id for n in range(10)}

    assert len(client_ids) == 10
    assert all(0 < len(c) <= apps.MAX_CLIENT_ID_LENGTH and URL_SAFE.match(c) for c in client_ids)


def test_the_database_refuses_a_duplicate_client_id(session: Session, make_app: MakeApp) -> None:
    first, _ = make_app(name="one")
    second, _ = make_app(name="two")

    second.client_id = first.client_id
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_a_regenerated_secret_works_and_the_old_one_stops_at_once(
    session: Session, fresh_session: Session, make_app: MakeApp
) -> None:
    """SPEC §1 rule 6: a new plaintext once; the old secret stops working at once."""
    app, old = make_app()
    assert crypto.secret_matches(old, app.secret_hash)

    issued = apps.regenerate_secret(session, app)
    session.commit()

    assert issued.app is app
    assert issued.client_secret != old
    assert len(issued.client_secret) >= 43
    # Another instance reads the row afresh: only the new secret matches.
    other = apps.for_token(fresh_session, app.client_id)
    assert other is not None
    assert crypto.secret_matches(issued.client_secret, other.secret_hash)
    assert not crypto.secret_matches(old, other.secret_hash)
    assert_nowhere_in_database(session, issued.client_secret)


def test_any_single_changed_character_of_the_secret_fails(make_app: MakeApp) -> None:
    app, secret = make_app()

    assert crypto.secret_matches(secret, app.secret_hash)
    for position, char in enumerate(secret):
        changed = secret[:position] + ("A" if char != "A" else "B") + secret[position + 1 :]
        assert not crypto.secret_matches(changed, app.secret_hash), position
    for near in (secret[:-1], secret + "A", secret.upper(), f" {secret}", ""):
        assert not crypto.secret_matches(near, app.secret_hash)


# --- the app limit (rule 4) ------------------------------------------------------------------
def test_the_eleventh_app_is_refused_by_the_default_limit_and_nothing_is_written(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """SPEC §1 rule 4: CONTROLPLANE_MAX_APPS_PER_TENANT, default 10, is enforced."""
    make_region("EU")
    tenant = make_tenant()
    for n in range(10):
        create(session, tenant, f"app {n}")

    with refused(AppLimitReached, field="name"):
        apps.create(session, tenant, "eleventh", region_code="EU", default_app_limit=10)
    session.rollback()

    assert count_rows(App) == 10
    assert count_rows(App, App.name == "eleventh") == 0


def test_the_default_limit_comes_from_the_caller(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU")
    tenant = make_tenant()
    create(session, tenant, "one", default_app_limit=2)
    create(session, tenant, "two", default_app_limit=2)

    with refused(AppLimitReached):
        apps.create(session, tenant, "three", region_code="EU", default_app_limit=2)
    session.rollback()

    assert count_rows(App) == 2


def test_the_limit_counts_apps_per_tenant(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU")
    full, other = make_tenant(), make_tenant()
    create(session, full, "only", default_app_limit=1)

    create(session, other, "first", default_app_limit=1)

    assert count_rows(App, App.tenant_id == other.id) == 1


def test_a_raised_per_tenant_limit_allows_more_apps(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    """SPEC §1 rule 4: ... overridable per tenant by a host admin."""
    make_region("EU")
    tenant = make_tenant()
    tenants.set_app_limit(session, tenant, 3)
    session.commit()
    for n in range(3):
        create(session, tenant, f"app {n}", default_app_limit=1)

    with refused(AppLimitReached):
        apps.create(session, tenant, "fourth", region_code="EU", default_app_limit=1)
    session.rollback()

    assert count_rows(App) == 3


def test_a_lowered_per_tenant_limit_keeps_existing_apps_and_blocks_new_ones(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU")
    tenant = make_tenant()
    first = create(session, tenant, "one")
    create(session, tenant, "two")

    tenants.set_app_limit(session, tenant, 1)
    session.commit()
    with refused(AppLimitReached):
        apps.create(session, tenant, "three", region_code="EU", default_app_limit=10)
    session.rollback()

    assert count_rows(App) == 2
    assert apps.token_refusal(reload(session, first)) is None


def test_a_per_tenant_limit_of_zero_allows_no_app(
    session: Session, count_rows: CountRows, make_region: MakeRegion, make_tenant: MakeTenant
) -> None:
    make_region("EU")
    tenant = make_tenant()
    tenants.set_app_limit(session, tenant, 0)
    session.commit()

    with refused(AppLimitReached):
        apps.create(session, tenant, "one", region_code="EU", default_app_limit=10)
    session.rollback()

    assert count_rows(App) == 0


# --- changing an app -------------------------------------------------------------------------
def test_an_app_can_be_disabled_and_enabled(session: Session, make_app: MakeApp) -> None:
    app, _ = make_app()

    apps.set_enabled(session, app, False)
    session.commit()
    assert reload(session, app).enabled is False
    assert apps.token_refusal(app) == "app is disabled"

    apps.set_enabled(session, app, True)
    session.commit()
    assert reload(session, app).enabled is True
    assert apps.token_refusal(app) is None


def test_an_app_can_be_renamed(session: Session, make_app: MakeApp) -> None:
    app, _ = make_app(name="web")

    apps.rename(session, app, "  backend   worker ")
    session.commit()
    with refused(InvalidName, field="name"):
        apps.rename(session, app, " ")
    session.rollback()

    assert reload(session, app).name == "backend worker"


def test_set_domains_replaces_them_normalized(session: Session, make_app: MakeApp) -> None:
    app, _ = make_app(domains=["old.example.com"])

    apps.set_domains(
        session, app, ["https://a.example.com/", "B.example.com", "http://localhost:8080/"]
    )
    session.commit()
    assert reload(session, app).allowed_domains == [
        "a.example.com",
        "b.example.com",
        "localhost:8080",
    ]

    apps.set_domains(session, app, [])
    session.commit()
    assert reload(session, app).allowed_domains == []


@pytest.mark.parametrize(
    ("domains", "error"),
    [
        (["a.example.com", "b.example.com", "c.example.com", "d.example.com"], TooManyDomains),
        (["a.example.com", "https://A.EXAMPLE.COM/"], DuplicateDomain),
        (["a.example.com", "*.example.com"], InvalidDomain),
    ],
    ids=["fourth-domain", "duplicate", "wildcard"],
)
def test_set_domains_refused_changes_nothing(
    session: Session, make_app: MakeApp, domains: list[str], error: type[Exception]
) -> None:
    app, _ = make_app(domains=["old.example.com", "localhost:3000"])

    with refused(error, field="allowed_domains"):  # type: ignore[arg-type]
        apps.set_domains(session, app, domains)
    session.rollback()

    assert reload(session, app).allowed_domains == ["old.example.com", "localhost:3000"]


# --- plans -----------------------------------------------------------------------------------
def test_a_plan_can_be_assigned_and_unassigned(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    basic = make_plan("basic")
    pro = make_plan("pro")
    app, _ = make_app()

    apps.assign_plan(session, app, "BASIC")
    session.commit()
    assert reload(session, app).plan is basic

    apps.assign_plan(session, app, "pro")
    session.commit()
    assert reload(session, app).plan is pro

    apps.unassign_plan(session, app)
    session.commit()
    assert reload(session, app).plan is None
    assert serialize.app(reload(session, app))["plan"] is None


def test_a_new_app_can_be_created_on_a_plan(make_app: MakeApp, make_plan: MakePlan) -> None:
    plan = make_plan("pro")
    app, _ = make_app(plan=plan)
    assert app.plan is plan
    assert app.on_free_plan is False


def test_assigning_an_unknown_plan_is_refused_and_changes_nothing(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    plan = make_plan("pro")
    app, _ = make_app(plan=plan)

    with refused(PlanNotFound, field="plan"):
        apps.assign_plan(session, app, "nope")
    session.rollback()

    assert reload(session, app).plan is plan


def test_a_second_app_on_a_free_plan_is_refused_and_changes_nothing(
    session: Session, make_app: MakeApp, make_plan: MakePlan, make_tenant: MakeTenant
) -> None:
    """SPEC §1 Plans: at most one app of a tenant may hold a plan with `is_free` at a time."""
    free = make_plan("free", is_free=True)
    other_free = make_plan("trial", is_free=True)
    paid = make_plan("pro")
    tenant = make_tenant()
    first, _ = make_app(tenant, name="first", plan=free)
    second, _ = make_app(tenant, name="second", plan=paid)

    for code in ("free", "trial"):
        with refused(FreePlanTaken, field="plan"):
            apps.assign_plan(session, second, code)
        session.rollback()

    assert reload(session, second).plan is paid
    assert reload(session, first).plan is free
    assert other_free.is_free


def test_creating_a_second_app_on_a_free_plan_is_refused_and_writes_nothing(
    session: Session,
    count_rows: CountRows,
    make_app: MakeApp,
    make_plan: MakePlan,
    make_tenant: MakeTenant,
) -> None:
    free = make_plan("free", is_free=True)
    tenant = make_tenant()
    make_app(tenant, name="first", plan=free)

    with refused(FreePlanTaken, field="plan"):
        make_app(tenant, name="second", plan=free)
    session.rollback()

    assert count_rows(App) == 1


def test_reassigning_the_free_plan_to_its_holder_is_allowed(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    free = make_plan("free", is_free=True)
    make_plan("trial", is_free=True)
    app, _ = make_app(plan=free)

    apps.assign_plan(session, app, "free")
    session.commit()
    apps.assign_plan(session, app, "trial")
    session.commit()

    assert reload(session, app).plan is not None
    assert reload(session, app).on_free_plan is True


@pytest.mark.parametrize("how", ["paid-plan", "unassign"])
def test_moving_the_free_app_off_the_free_plan_frees_the_slot(
    session: Session, make_app: MakeApp, make_plan: MakePlan, make_tenant: MakeTenant, how: str
) -> None:
    free = make_plan("free", is_free=True)
    make_plan("pro")
    tenant = make_tenant()
    first, _ = make_app(tenant, name="first", plan=free)
    second, _ = make_app(tenant, name="second")

    if how == "paid-plan":
        apps.assign_plan(session, first, "pro")
    else:
        apps.unassign_plan(session, first)
    session.commit()
    assert reload(session, first).on_free_plan is False

    apps.assign_plan(session, second, "free")
    session.commit()
    assert reload(session, second).plan is free


def test_the_free_plan_rule_is_per_tenant(
    session: Session, make_app: MakeApp, make_plan: MakePlan, make_tenant: MakeTenant
) -> None:
    free = make_plan("free", is_free=True)
    first, _ = make_app(make_tenant(), plan=free)
    second, _ = make_app(make_tenant(), plan=free)

    assert reload(session, first).plan is free
    assert reload(session, second).plan is free


def test_the_database_itself_holds_one_free_plan_app_per_tenant(
    session: Session, make_app: MakeApp, make_plan: MakePlan, make_tenant: MakeTenant
) -> None:
    """The partial unique index is the guard against races, not the query before it."""
    make_plan("free", is_free=True)
    tenant = make_tenant()
    first, _ = make_app(tenant, name="first")
    second, _ = make_app(tenant, name="second")

    session.execute(update(App).where(App.id == first.id).values(on_free_plan=True))
    with pytest.raises(IntegrityError):
        session.execute(update(App).where(App.id == second.id).values(on_free_plan=True))
    session.rollback()


# --- lookups ---------------------------------------------------------------------------------
def test_for_token_loads_app_tenant_region_and_plan_in_one_query(
    fresh_session: Session,
    statements: list[str],
    make_app: MakeApp,
    make_plan: MakePlan,
) -> None:
    """STYLE: one indexed query loads app, tenant, region, plan; no other database work."""
    app, _ = make_app(plan=make_plan("pro", document_units_per_month=5))
    client_id, tenant_id = app.client_id, app.tenant_id
    statements.clear()

    loaded = apps.for_token(fresh_session, client_id)
    assert len(statements) == 1, "\n----\n".join(statements)

    assert loaded is not None
    assert loaded.client_id == client_id
    assert loaded.tenant_id == tenant_id
    assert loaded.tenant_status == "active"
    assert loaded.region_code == "EU"
    assert loaded.plan_code == "pro"
    assert loaded.document_units_per_month == 5
    assert apps.token_refusal(loaded) is None
    assert len(statements) == 1, "\n----\n".join(statements)


def test_for_token_without_a_plan_is_still_one_query(
    fresh_session: Session, statements: list[str], make_app: MakeApp
) -> None:
    app, _ = make_app()
    client_id = app.client_id
    statements.clear()

    loaded = apps.for_token(fresh_session, client_id)

    assert loaded is not None
    assert loaded.plan_code is None
    assert loaded.tenant_status == "active"
    assert loaded.region_code is not None
    assert apps.token_refusal(loaded) is None
    assert len(statements) == 1, "\n----\n".join(statements)


def test_for_token_finds_nothing_for_an_unknown_empty_or_over_long_client_id(
    fresh_session: Session, statements: list[str], make_app: MakeApp
) -> None:
    app, _ = make_app()
    client_id = app.client_id
    statements.clear()

    assert apps.for_token(fresh_session, "0" * 24) is None
    assert apps.for_token(fresh_session, client_id.upper()) is None
    assert len(statements) == 2
    # Empty and over-long ids never reach the database.
    assert apps.for_token(fresh_session, "") is None
    assert apps.for_token(fresh_session, "x" * (apps.MAX_CLIENT_ID_LENGTH + 1)) is None
    assert apps.for_token(fresh_session, client_id + "x" * 100) is None
    assert len(statements) == 2


def test_get_refuses_an_unknown_empty_or_over_long_client_id(
    session: Session, make_app: MakeApp
) -> None:
    app, _ = make_app()
    assert apps.get(session, app.client_id) is app

    for client_id in ("0" * 24, "", "x" * 65):
        with refused(AppNotFound, field="client_id"):
            apps.get(session, client_id)


def test_list_for_tenant_shows_only_that_tenants_apps(
    session: Session, make_app: MakeApp, make_tenant: MakeTenant
) -> None:
    mine, theirs = make_tenant(), make_tenant()
    one, _ = make_app(mine, name="one")
    two, _ = make_app(mine, name="two")
    make_app(theirs, name="other")

    assert {a.client_id for a in apps.list_for_tenant(session, mine)} == {
        one.client_id,
        two.client_id,
    }


def test_the_app_shape_carries_the_secret_only_when_issued(
    session: Session, make_app: MakeApp
) -> None:
    """SPEC §3: `app create --json` carries `client_secret`; `app show` never does."""
    app, secret = make_app(domains=["https://app.example.com/"])

    shown = serialize.app(reload(session, app))
    created = serialize.app(app, client_secret=secret)

    assert "client_secret" not in shown
    assert "secret_hash" not in shown
    assert secret not in repr(shown)
    assert created["client_secret"] == secret
    for key in ("id", "client_id", "tenant_id", "license_region_code", "db_code"):
        assert created[key] == shown[key]
    assert shown["allowed_domains"] == ["app.example.com"]
    assert (shown["enabled"], shown["plan"], shown["license_region_code"]) == (True, None, "EU")
