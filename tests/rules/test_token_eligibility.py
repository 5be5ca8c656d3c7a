"""SPEC §2: the rules an authenticated app must pass to get a token, each with its phrase.

"The app must be: enabled; of an `active` tenant; with a license region; with a stamped
`db_code`; and not on a retired plan." A refusal is `400 unauthorized_client` whose description
contains the rule's phrase (`app is disabled`, `tenant is not active`, `plan is retired`, …).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from controlplane.models import App, Plan, Tenant
from controlplane.rules import apps, plans, regions, tenants
from controlplane.rules.errors import (
    AppDisabled,
    NoDatabaseCode,
    NoLicenseRegion,
    PlanIsRetired,
    TenantNotActive,
    TokenRefused,
)
from tests.rules.helpers import refused

MakeApp = Callable[..., tuple[App, str]]
MakePlan = Callable[..., Plan]
MakeTenant = Callable[..., Tenant]

PLATFORM_URL = "https://platform.example.com"


def eligible(session: Session, web: App) -> App:
    """The app as the token path loads it (one query), asserted to pass every rule."""
    session.expire_all()
    loaded = apps.for_token(session, web.client_id)
    assert loaded is not None
    apps.check_token_eligibility(loaded)
    assert apps.token_refusal(loaded) is None
    return loaded


def refusal(session: Session, web: App) -> str | None:
    session.expire_all()
    loaded = apps.for_token(session, web.client_id)
    assert loaded is not None
    return apps.token_refusal(loaded)


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (AppDisabled, "app is disabled"),
        (TenantNotActive, "tenant is not active"),
        (NoLicenseRegion, "app has no license region"),
        (NoDatabaseCode, "app has no database code"),
        (PlanIsRetired, "plan is retired"),
    ],
)
def test_each_rule_has_its_own_error_and_phrase(error: type[TokenRefused], phrase: str) -> None:
    err = error()  # type: ignore[call-arg]
    assert isinstance(err, TokenRefused)
    assert (err.message, str(err), err.kind) == (phrase, phrase, "unauthorized_client")


def test_an_enabled_app_of_an_active_tenant_passes(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    without_plan, _ = make_app(name="no plan")
    with_plan, _ = make_app(name="on a plan", plan=make_plan("pro", document_units_per_month=1))

    eligible(session, without_plan)
    eligible(session, with_plan)


def test_a_disabled_app_is_refused(session: Session, make_app: MakeApp) -> None:
    web, _ = make_app()
    apps.set_enabled(session, web, False)
    session.commit()

    with refused(AppDisabled):
        apps.check_token_eligibility(web)
    assert refusal(session, web) == "app is disabled"


def test_an_app_of_a_pending_tenant_is_refused_until_activation(
    session: Session, make_app: MakeApp, make_tenant: MakeTenant
) -> None:
    """SPEC §1: a pending tenant's apps get no tokens until activation."""
    tenant = make_tenant(active=False)
    web, _ = make_app(tenant)

    with refused(TenantNotActive):
        apps.check_token_eligibility(web)
    assert refusal(session, web) == "tenant is not active"

    tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.commit()
    eligible(session, web)


def test_an_app_of_a_suspended_tenant_is_refused_until_reactivation(
    session: Session, make_app: MakeApp, make_tenant: MakeTenant
) -> None:
    """SPEC §1: only `active` tenants' apps get tokens."""
    tenant = make_tenant()
    web, _ = make_app(tenant)
    tenants.suspend(session, tenant)
    session.commit()

    with refused(TenantNotActive):
        apps.check_token_eligibility(web)
    assert refusal(session, web) == "tenant is not active"

    tenants.activate(session, tenant, platform_url=PLATFORM_URL)
    session.commit()
    eligible(session, web)


def test_an_app_on_a_retired_plan_is_refused(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    plan = make_plan("legacy")
    web, _ = make_app(plan=plan)
    plans.retire(session, plan)
    session.commit()

    with refused(PlanIsRetired):
        apps.check_token_eligibility(web)
    assert refusal(session, web) == "plan is retired"

    apps.unassign_plan(session, web)
    session.commit()
    eligible(session, web)


def test_an_app_without_a_region_or_database_code_is_refused(
    session: Session, make_app: MakeApp
) -> None:
    """Unreachable through the rules (creation stamps both), held anyway: SPEC §2 lists them."""
    web, _ = make_app()

    web.db_code = None
    with refused(NoDatabaseCode):
        apps.check_token_eligibility(web)
    web.db_code = ""
    with refused(NoDatabaseCode):
        apps.check_token_eligibility(web)
    web.region = None
    with refused(NoLicenseRegion):
        apps.check_token_eligibility(web)
    session.rollback()

    eligible(session, web)


def test_the_first_failing_rule_is_reported(
    session: Session, make_app: MakeApp, make_plan: MakePlan, make_tenant: MakeTenant
) -> None:
    """Rules are checked in SPEC §2's order: enabled, tenant, region, database, plan."""
    plan = make_plan("legacy")
    web, _ = make_app(make_tenant(active=False), plan=plan)
    plans.retire(session, plan)
    apps.set_enabled(session, web, False)
    session.commit()

    assert refusal(session, web) == "app is disabled"
    apps.set_enabled(session, web, True)
    session.commit()
    assert refusal(session, web) == "tenant is not active"
    tenants.activate(session, web.tenant, platform_url=PLATFORM_URL)
    session.commit()
    assert refusal(session, web) == "plan is retired"


def test_deactivating_the_region_or_database_keeps_existing_apps_eligible(
    session: Session, make_app: MakeApp
) -> None:
    """Deactivation stops new apps in a region; apps already placed there keep their tokens."""
    web, _ = make_app()
    region = regions.get(session, "EU")
    regions.set_active(session, region, False)
    regions.set_database_active(session, region.databases[0], False)
    session.commit()

    eligible(session, web)
