"""SPEC §1 License region and App creation rule 1: regions, their databases, placement."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from controlplane.models import LicenseRegion, RegionDatabase
from controlplane.rules import regions
from controlplane.rules.errors import (
    InvalidCode,
    InvalidName,
    NoActiveDatabase,
    RegionDatabaseExists,
    RegionDatabaseInactive,
    RegionDatabaseNotFound,
    RegionExists,
    RegionInactive,
    RegionNotFound,
)
from controlplane.rules.validation import region_code, slug
from tests.rules.helpers import refused

MakeRegion = Callable[..., LicenseRegion]


# --- codes (pure) ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("eu", "EU"), (" us-east ", "US-EAST"), ("Ap_1", "AP_1"), ("E" * 32, "E" * 32)],
)
def test_a_region_code_is_upper_cased(raw: str, expected: str) -> None:
    """SPEC §1: region `code` (e.g. `EU`, unique, upper-case)."""
    assert region_code(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "1EU", "-EU", "E U", "EU!", "EU.1", "E" * 33, "ÉU", "EU\n1"],
)
def test_a_bad_region_code_is_refused(raw: str) -> None:
    with refused(InvalidCode, field="code"):
        region_code(raw)


@pytest.mark.parametrize(
    "raw", ["", "  ", "-db", ".db", "eu db", "eu/db", "d" * 65, "eu-db-ü", "eu;drop"]
)
def test_a_bad_database_code_is_refused(raw: str) -> None:
    with refused(InvalidCode, field="db_code"):
        slug(raw, what="database code", field="db_code")


# --- regions ---------------------------------------------------------------------------------
def test_a_region_is_created_active_with_an_upper_case_code(session: Session) -> None:
    region = regions.create(session, "eu", "  Europe  ")
    session.commit()

    assert (region.code, region.name, region.active) == ("EU", "Europe", True)
    assert regions.get(session, "eu") is region
    assert region.databases == []


def test_a_duplicate_region_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int], make_region: MakeRegion
) -> None:
    make_region("EU")

    for code in ("EU", "eu", " Eu "):
        with refused(RegionExists, field="code"):
            regions.create(session, code, "Europe again")
        session.rollback()

    assert count_rows(LicenseRegion) == 1
    assert regions.get(session, "EU").name == "Europe"


def test_a_region_with_a_bad_code_or_name_is_refused_and_writes_nothing(
    session: Session, count_rows: Callable[..., int]
) -> None:
    with refused(InvalidCode, field="code"):
        regions.create(session, "E U", "Europe")
    session.rollback()
    with refused(InvalidName, field="name"):
        regions.create(session, "EU", "  ")
    session.rollback()

    assert count_rows(LicenseRegion) == 0


def test_an_unknown_region_is_not_found(session: Session) -> None:
    with refused(RegionNotFound, field="region"):
        regions.get(session, "XX")


def test_a_region_can_be_deactivated_and_activated(
    session: Session, make_region: MakeRegion
) -> None:
    region = make_region("EU")

    regions.set_active(session, region, False)
    session.commit()
    assert regions.get(session, "EU").active is False
    assert regions.list_active(session) == []

    regions.set_active(session, region, True)
    session.commit()
    assert regions.get(session, "EU").active is True
    assert [r.code for r in regions.list_active(session)] == ["EU"]


# --- region databases ------------------------------------------------------------------------
def test_a_database_is_added_to_a_region_with_a_lower_case_code(session: Session) -> None:
    """SPEC §1: a region has 1..n region databases (`db_code`, e.g. `eu-db-1`)."""
    regions.create(session, "EU", "Europe")
    database = regions.add_database(session, "eu", " EU-DB-1 ")
    session.commit()

    assert (database.db_code, database.active, database.region.code) == ("eu-db-1", True, "EU")
    assert [d.db_code for d in regions.get(session, "EU").databases] == ["eu-db-1"]
    assert regions.get_database(session, "EU-DB-1") is database


def test_a_database_code_is_unique_across_regions(
    session: Session, count_rows: Callable[..., int], make_region: MakeRegion
) -> None:
    """SPEC §1: `db_code` unique (across all regions, not only within one)."""
    make_region("EU", databases=("eu-db-1",))
    make_region("US", databases=())

    for region, db_code in (("EU", "eu-db-1"), ("US", "eu-db-1"), ("US", "EU-DB-1")):
        with refused(RegionDatabaseExists, field="db_code"):
            regions.add_database(session, region, db_code)
        session.rollback()

    assert count_rows(RegionDatabase) == 1
    assert regions.get(session, "US").databases == []


def test_a_database_for_an_unknown_region_or_with_a_bad_code_is_refused(
    session: Session, count_rows: Callable[..., int], make_region: MakeRegion
) -> None:
    make_region("EU", databases=())

    with refused(RegionNotFound, field="region"):
        regions.add_database(session, "XX", "xx-db-1")
    session.rollback()
    with refused(InvalidCode, field="db_code"):
        regions.add_database(session, "EU", "eu db 1")
    session.rollback()

    assert count_rows(RegionDatabase) == 0


def test_an_unknown_database_is_not_found(session: Session) -> None:
    with refused(RegionDatabaseNotFound, field="db_code"):
        regions.get_database(session, "nope-db-1")


def test_a_database_can_be_deactivated_and_activated(
    session: Session, make_region: MakeRegion
) -> None:
    make_region("EU", databases=("eu-db-1",))
    database = regions.get_database(session, "eu-db-1")

    regions.set_database_active(session, database, False)
    session.commit()
    assert regions.get_database(session, "eu-db-1").active is False
    assert regions.list_active(session) == []

    regions.set_database_active(session, database, True)
    session.commit()
    assert regions.get_database(session, "eu-db-1").active is True


# --- placement: SPEC §1 App creation rule 1 ---------------------------------------------------
def test_placement_picks_the_first_active_database_by_code(
    session: Session, make_region: MakeRegion
) -> None:
    """SPEC §1 rule 1: "the first active one by code, unless the caller names one"."""
    make_region("EU", databases=("eu-db-3", "eu-db-1", "eu-db-2"))
    assert regions.placement(session, "EU")[1].db_code == "eu-db-1"

    regions.set_database_active(session, regions.get_database(session, "eu-db-1"), False)
    session.commit()

    region, database = regions.placement(session, "eu")
    assert (region.code, database.db_code) == ("EU", "eu-db-2")


def test_placement_uses_a_named_active_database_of_the_region(
    session: Session, make_region: MakeRegion
) -> None:
    make_region("EU", databases=("eu-db-1", "eu-db-2"))

    region, database = regions.placement(session, "EU", " EU-DB-2 ")

    assert (region.code, database.db_code) == ("EU", "eu-db-2")


def test_placement_in_an_unknown_region_is_refused(session: Session) -> None:
    with refused(RegionNotFound, field="region"):
        regions.placement(session, "XX")


def test_placement_in_an_inactive_region_is_refused(
    session: Session, make_region: MakeRegion
) -> None:
    """SPEC §1 rule 1: the region code must exist and be active."""
    region = make_region("EU")
    regions.set_active(session, region, False)
    session.commit()

    with refused(RegionInactive, field="region"):
        regions.placement(session, "EU")
    with refused(RegionInactive, field="region"):
        regions.placement(session, "EU", "eu-db-1")


def test_placement_in_a_region_without_databases_is_refused(
    session: Session, make_region: MakeRegion
) -> None:
    """SPEC §1 rule 1: ... and must have at least one active region database."""
    make_region("EU", databases=())

    with refused(NoActiveDatabase, field="region"):
        regions.placement(session, "EU")


def test_placement_in_a_region_whose_databases_are_all_inactive_is_refused(
    session: Session, make_region: MakeRegion
) -> None:
    make_region("EU", databases=("eu-db-1", "eu-db-2"))
    for db_code in ("eu-db-1", "eu-db-2"):
        regions.set_database_active(session, regions.get_database(session, db_code), False)
    session.commit()

    with refused(NoActiveDatabase, field="region"):
        regions.placement(session, "EU")


def test_placement_on_a_database_of_another_region_is_refused(
    session: Session, make_region: MakeRegion
) -> None:
    make_region("EU", databases=("eu-db-1",))
    make_region("US", databases=("us-db-1",))

    with refused(RegionDatabaseInactive, field="db_code"):
        regions.placement(session, "EU", "us-db-1")


def test_placement_on_an_inactive_or_unknown_database_is_refused(
    session: Session, make_region: MakeRegion
) -> None:
    make_region("EU", databases=("eu-db-1", "eu-db-2"))
    regions.set_database_active(session, regions.get_database(session, "eu-db-2"), False)
    session.commit()

    with refused(RegionDatabaseInactive, field="db_code"):
        regions.placement(session, "EU", "eu-db-2")
    with refused(RegionDatabaseInactive, field="db_code"):
        regions.placement(session, "EU", "eu-db-9")
