"""Plans (SPEC §1 Plans): host-managed limits that apps carry into their tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.models import Plan
from controlplane.rules import audit
from controlplane.rules.errors import PlanExists, PlanNotFound
from controlplane.rules.validation import clean_name, non_negative, slug


def get(session: Session, code: str) -> Plan:
    normalized = code.strip().lower()
    plan = session.scalar(select(Plan).where(Plan.code == normalized))
    if plan is None:
        raise PlanNotFound(f"plan {normalized} does not exist", field="plan")
    return plan


def list_all(session: Session) -> Sequence[Plan]:
    return session.scalars(select(Plan).order_by(Plan.code)).all()


def create(
    session: Session,
    code: str,
    name: str,
    *,
    is_free: bool = False,
    document_units_per_month: int | None = None,
    max_api_requests_per_minute: int | None = None,
) -> Plan:
    normalized = slug(code, what="plan code")
    if session.scalar(select(Plan.id).where(Plan.code == normalized)) is not None:
        raise PlanExists(f"plan {normalized} already exists", field="code")
    plan = Plan(
        code=normalized,
        name=clean_name(name, what="plan name"),
        is_free=is_free,
        document_units_per_month=non_negative(
            document_units_per_month,
            what="document units per month",
            field="document_units_per_month",
        ),
        max_api_requests_per_minute=non_negative(
            max_api_requests_per_minute,
            what="max API requests per minute",
            field="max_api_requests_per_minute",
        ),
    )
    session.add(plan)
    try:
        session.flush()
    except IntegrityError:
        raise PlanExists(f"plan {normalized} already exists", field="code") from None
    audit.record(
        session,
        "plan.create",
        "plan",
        plan.code,
        details={
            "name": plan.name,
            "is_free": plan.is_free,
            "document_units_per_month": plan.document_units_per_month,
            "max_api_requests_per_minute": plan.max_api_requests_per_minute,
        },
    )
    return plan


def retire(session: Session, plan: Plan) -> Plan:
    """Retire a plan: no new assignments, and apps still on it are refused tokens (SPEC §2).

    Retiring twice is harmless: the plan is retired either way.
    """
    before = plan.retired
    plan.retired = True
    audit.record(
        session, "plan.retire", "plan", plan.code, details={"retired": audit.change(before, True)}
    )
    session.flush()
    return plan
