"""SPEC §1 Plan and Plans: host-managed limits, retirement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from controlplane.models import App, Plan
from controlplane.rules import apps, plans
from controlplane.rules.errors import (
    InvalidCode,
    InvalidLimit,
    InvalidName,
    PlanExists,
    PlanIsRetired,
    PlanNotFound,
    PlanRetired,
)
from tests.rules.helpers import refused

MakeApp = Callable[..., tuple[App, str]]
MakePlan = Callable[..., Plan]


def test_a_plan_is_created_with_both_limits(session: Session) -> None:
    plan = plans.create(
        session,
        " PRO ",
        "Professional",
        document_units_per_month=10_000,
        max_api_requests_per_minute=600,
    )
    session.commit()

    assert plans.get(session, "Pro") is plan
    assert (plan.code, plan.name, plan.is_free, plan.retired) == (
        "pro",
        "Professional",
        False,
        False,
    )
    assert (plan.document_units_per_month, plan.max_api_requests_per_minute) == (10_000, 600)


def test_a_plan_is_created_without_limits(session: Session) -> None:
    """SPEC §1: `document_units_per_month`, `max_api_requests_per_minute` (each optional int)."""
    plan = plans.create(session, "free", "Free", is_free=True)
    session.commit()

    assert plan.is_free is True
    assert (plan.document_units_per_month, plan.max_api_requests_per_minute) == (None, None)


def test_zero_and_the_largest_integer_are_valid_limits(session: Session) -> None:
    plan = plans.create(
        session,
        "edge",
        "Edge",
        document_units_per_month=0,
        max_api_requests_per_minute=2**31 - 1,
    )
    session.commit()

    assert (plan.document_units_per_month, plan.max_api_requests_per_minute) == (0, 2**31 - 1)


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"document_units_per_month": -1}, "document_units_per_month"),
        ({"max_api_requests_per_minute": -1}, "max_api_requests_per_minute"),
        ({"document_units_per_month": 2**31}, "document_units_per_month"),
        ({"max_api_requests_per_minute": 2**63}, "max_api_requests_per_minute"),
    ],
    ids=["negative-units", "negative-rpm", "units-overflow", "rpm-overflow"],
)
def test_a_plan_with_a_limit_out_of_range_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int], limits: dict[str, Any], field: str
) -> None:
    with refused(InvalidLimit, field=field):
        plans.create(session, "pro", "Pro", **limits)
    session.rollback()

    assert count_rows(Plan) == 0


def test_a_plan_with_a_bad_code_or_name_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int]
) -> None:
    with refused(InvalidCode, field="code"):
        plans.create(session, "pro plan", "Pro")
    session.rollback()
    with refused(InvalidName, field="name"):
        plans.create(session, "pro", "")
    session.rollback()

    assert count_rows(Plan) == 0


def test_a_duplicate_plan_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int], make_plan: MakePlan
) -> None:
    make_plan("pro", name="Pro", document_units_per_month=5)

    for code in ("pro", "PRO", " Pro "):
        with refused(PlanExists, field="code"):
            plans.create(session, code, "Another pro", document_units_per_month=99)
        session.rollback()

    assert count_rows(Plan) == 1
    assert plans.get(session, "pro").document_units_per_month == 5


def test_an_unknown_plan_is_not_found(session: Session) -> None:
    with refused(PlanNotFound, field="plan"):
        plans.get(session, "nope")


def test_retiring_a_plan_is_idempotent(session: Session, make_plan: MakePlan) -> None:
    plan = make_plan("pro")

    plans.retire(session, plan)
    plans.retire(session, plan)
    session.commit()

    assert plans.get(session, "pro").retired is True
    assert [p.code for p in plans.list_all(session)] == ["pro"]


def test_a_retired_plan_cannot_be_newly_assigned(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    """SPEC §1 Plan: a retired plan can't be newly assigned."""
    current = make_plan("basic")
    retired = make_plan("legacy")
    plans.retire(session, retired)
    app, _ = make_app(plan=current)

    with refused(PlanRetired, field="plan"):
        apps.assign_plan(session, app, "legacy")
    session.rollback()

    assert apps.get(session, app.client_id).plan is current


def test_a_new_app_cannot_be_created_on_a_retired_plan(
    session: Session,
    count_rows: Callable[..., int],
    make_app: MakeApp,
    make_plan: MakePlan,
) -> None:
    retired = make_plan("legacy")
    plans.retire(session, retired)
    session.commit()

    with refused(PlanRetired, field="plan"):
        make_app(plan=retired)
    session.rollback()

    assert count_rows(App) == 0


def test_an_app_on_a_plan_that_is_retired_keeps_it_but_is_refused_tokens(
    session: Session, make_app: MakeApp, make_plan: MakePlan
) -> None:
    """SPEC §1 Plans: Retired plan: token issuance is refused (the app keeps the plan)."""
    plan = make_plan("legacy")
    app, _ = make_app(plan=plan)
    assert apps.token_refusal(app) is None

    plans.retire(session, plan)
    session.commit()

    reloaded = apps.get(session, app.client_id)
    assert reloaded.plan is plan
    # Assigning the plan it already has is not a new assignment.
    apps.assign_plan(session, reloaded, "legacy")
    session.commit()
    assert apps.get(session, app.client_id).plan is plan
    with refused(PlanIsRetired):
        apps.check_token_eligibility(reloaded)
    assert apps.token_refusal(reloaded) == "plan is retired"
