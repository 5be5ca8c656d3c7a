"""SPEC §3 CLI, the failure side: a refused verb is one stderr line and changes nothing.

"non-zero with a one-line error on stderr otherwise, and changes nothing when it fails", also
with ``--json`` (stdout then stays empty).

The cases of a noun share one database holding a bit of everything (``world``); after each
refused verb every table must hold exactly the rows it held before (``refused``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from controlplane.extensions import db
from controlplane.models import App, LicenseRegion, Plan, Tenant
from controlplane.rules import plans, regions, tenants

UNKNOWN_TENANT = str(uuid.UUID(int=1))
PASSWORD = "a long enough password\n"


@dataclass(frozen=True)
class World:
    active: str  # an active tenant with two apps: free_app on the free plan, plain_app
    pending: str  # a tenant awaiting activation
    full: str  # an active tenant at its app limit of 1
    free_app: str
    plain_app: str
    owner_email: str


@pytest.fixture
def world(
    make_region: Callable[..., LicenseRegion],
    make_plan: Callable[..., Plan],
    make_tenant: Callable[..., Tenant],
    make_app: Callable[..., tuple[App, str]],
) -> World:
    make_region("EU", databases=("eu-db-1", "eu-db-2"))
    regions.set_active(db.session, make_region("US", databases=("us-db-1",)), False)
    make_region("AP", databases=())
    free = make_plan("free", is_free=True)
    make_plan("pro")
    plans.retire(db.session, make_plan("old"))
    active = make_tenant("Acme", owner_email="owner@example.com")
    pending = make_tenant("Pending", active=False)
    full = make_tenant("Full")
    tenants.set_app_limit(db.session, full, 1)
    db.session.commit()
    make_app(full, name="only")
    free_app, _ = make_app(active, name="free", plan=free)
    plain_app, _ = make_app(active, name="plain")
    return World(
        active=str(active.id),
        pending=str(pending.id),
        full=str(full.id),
        free_app=free_app.client_id,
        plain_app=plain_app.client_id,
        owner_email="owner@example.com",
    )


# (argv built from the world, stdin, a fragment the error line must contain)
Case = tuple[Callable[[World], list[str]], str | None, str]

CASES: dict[str, dict[str, Case]] = {
    "region": {
        "duplicate region": (lambda w: ["region", "create", "eu", "--name", "Again"], None,
                             "license region EU already exists"),
        "bad region code": (lambda w: ["region", "create", "E U!", "--name", "Bad"], None,
                            "region code"),
        "missing --name": (lambda w: ["region", "create", "JP"], None,
                           "Missing option '--name'"),
        "database in unknown region": (lambda w: ["region", "add-database", "XX", "xx-db-1"],
                                       None, "license region XX does not exist"),
        "duplicate database": (lambda w: ["region", "add-database", "AP", "eu-db-1"], None,
                               "database eu-db-1 already exists"),
        "bad database code": (lambda w: ["region", "add-database", "EU", "Bad Code!"], None,
                              "database code"),
        "activate unknown region": (lambda w: ["region", "activate", "XX"], None,
                                    "does not exist"),
        "deactivate unknown region": (lambda w: ["region", "deactivate", "XX"], None,
                                      "does not exist"),
        "activate unknown database": (lambda w: ["region", "activate-database", "nope-db"],
                                      None, "database nope-db does not exist"),
        "unknown verb": (lambda w: ["region", "frobnicate"], None, "No such command"),
        "extra argument": (lambda w: ["region", "list", "extra"], None, "extra"),
    },
    "plan": {
        "duplicate plan": (lambda w: ["plan", "create", "pro", "--name", "Again"], None,
                           "plan pro already exists"),
        "units not a number": (
            lambda w: ["plan", "create", "x", "--name", "X", "--document-units-per-month",
                       "abc"], None, "--document-units-per-month"),
        "negative units": (
            lambda w: ["plan", "create", "x", "--name", "X", "--document-units-per-month",
                       "-5"], None, "--document-units-per-month"),
        "fractional rate": (
            lambda w: ["plan", "create", "x", "--name", "X", "--max-api-requests-per-minute",
                       "1.5"], None, "--max-api-requests-per-minute"),
        "missing --name": (lambda w: ["plan", "create", "x"], None, "Missing option '--name'"),
        "bad plan code": (lambda w: ["plan", "create", "Bad Code", "--name", "X"], None,
                          "plan code"),
        "retire unknown plan": (lambda w: ["plan", "retire", "nope"], None,
                                "plan nope does not exist"),
    },
    "tenant": {
        "missing --owner-email": (lambda w: ["tenant", "create", "Acme"], None,
                                  "Missing option '--owner-email'"),
        "bad owner email": (
            lambda w: ["tenant", "create", "Acme", "--owner-email", "not-an-email"], None,
            "not a valid email address"),
        "blank name": (lambda w: ["tenant", "create", "  ", "--owner-email", "x@example.com"],
                       None, "must not be empty"),
        "bad tenant UUID": (lambda w: ["tenant", "activate", "not-a-uuid"], None,
                            "tenant not-a-uuid does not exist"),
        "unknown tenant": (lambda w: ["tenant", "activate", UNKNOWN_TENANT], None,
                           f"tenant {UNKNOWN_TENANT} does not exist"),
        "activate an active tenant": (lambda w: ["tenant", "activate", w.active], None,
                                      "already active"),
        "suspend a pending tenant": (lambda w: ["tenant", "suspend", w.pending], None,
                                     "only an active tenant can be suspended"),
        "limit not a number": (lambda w: ["tenant", "set-app-limit", w.active, "abc"], None,
                               "Invalid value for 'N'"),
        "negative limit": (lambda w: ["tenant", "set-app-limit", w.active, "-1"], None, "-1"),
        "missing limit": (lambda w: ["tenant", "set-app-limit", w.active], None,
                          "Missing argument 'N'"),
        "limit of unknown tenant": (
            lambda w: ["tenant", "set-app-limit", UNKNOWN_TENANT, "3"], None,
            "does not exist"),
    },
    "app create": {
        "missing --region": (lambda w: ["app", "create", w.active, "web"], None,
                             "Missing option '--region'"),
        "unknown region": (lambda w: ["app", "create", w.active, "web", "--region", "XX"], None,
                           "license region XX does not exist"),
        "unknown tenant": (lambda w: ["app", "create", UNKNOWN_TENANT, "web", "--region", "EU"],
                           None, "does not exist"),
        "bad tenant UUID": (lambda w: ["app", "create", "not-a-uuid", "web", "--region", "EU"],
                            None, "tenant not-a-uuid does not exist"),
        "inactive region": (lambda w: ["app", "create", w.active, "web", "--region", "US"],
                            None, "license region US is not active"),
        "region without database": (
            lambda w: ["app", "create", w.active, "web", "--region", "AP"], None,
            "no active database"),
        "database of another region": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--db-code",
                       "us-db-1"], None, "not an active database of license region EU"),
        "wildcard domain": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--domain",
                       "*.example.com"], None, "wildcards are not allowed"),
        "domain with a path": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--domain",
                       "https://a.example.com/login"], None, "paths are not allowed"),
        "fourth domain": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU",
                       "--domain", "a.example.com", "--domain", "b.example.com",
                       "--domain", "c.example.com", "--domain", "d.example.com"], None,
            "at most 3 allowed domains"),
        "duplicate domain": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU",
                       "--domain", "a.example.com", "--domain", "https://A.example.com/"],
            None, "same domain"),
        "bad redirect URI": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--redirect-uri",
                       "not-a-uri"], None, "absolute URI"),
        "app limit reached": (lambda w: ["app", "create", w.full, "two", "--region", "EU"],
                              None, "limit of 1 apps"),
        "second free plan": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--plan", "free"],
            None, "free plan"),
        "retired plan": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--plan", "old"],
            None, "plan old is retired"),
        "unknown plan": (
            lambda w: ["app", "create", w.active, "web", "--region", "EU", "--plan", "nope"],
            None, "plan nope does not exist"),
        "blank name": (lambda w: ["app", "create", w.active, " ", "--region", "EU"], None,
                       "must not be empty"),
    },
    "app": {
        "show unknown app": (lambda w: ["app", "show", "nope"], None, "app nope does not exist"),
        "regenerate unknown app": (lambda w: ["app", "regenerate-secret", "nope"], None,
                                   "app nope does not exist"),
        "disable unknown app": (lambda w: ["app", "disable", "nope"], None, "does not exist"),
        "enable unknown app": (lambda w: ["app", "enable", "nope"], None, "does not exist"),
        "bad domain": (lambda w: ["app", "set-domains", w.plain_app, "--domain", "bad domain"],
                       None, "spaces"),
        "fourth domain": (
            lambda w: ["app", "set-domains", w.plain_app, "--domain", "a.example.com",
                       "--domain", "b.example.com", "--domain", "c.example.com",
                       "--domain", "d.example.com"], None, "at most 3 allowed domains"),
        "second free plan": (lambda w: ["app", "assign-plan", w.plain_app, "free"], None,
                             "already has a free plan"),
        "retired plan": (lambda w: ["app", "assign-plan", w.plain_app, "old"], None,
                         "plan old is retired"),
        "unknown plan": (lambda w: ["app", "assign-plan", w.plain_app, "nope"], None,
                         "plan nope does not exist"),
        "plan for unknown app": (lambda w: ["app", "assign-plan", "nope", "pro"], None,
                                 "app nope does not exist"),
        "unassign unknown app": (lambda w: ["app", "unassign-plan", "nope"], None,
                                 "does not exist"),
        "unknown storage provider": (
            lambda w: ["app", "set-storage", w.plain_app, "--provider", "dropbox",
                       "--access-key-id", "AK", "--bucket", "b"], "s3cr3t\n",
            "storage provider must be one of"),
        "storage without secret": (
            lambda w: ["app", "set-storage", w.plain_app, "--provider", "minio",
                       "--access-key-id", "AK", "--bucket", "b"], "",
            "secret access key is required"),
        "storage endpoint not http": (
            lambda w: ["app", "set-storage", w.plain_app, "--provider", "minio",
                       "--access-key-id", "AK", "--bucket", "b", "--endpoint-url",
                       "ftp://files.example.com"], "s3cr3t\n", "endpoint URL"),
        "clear storage of unknown app": (lambda w: ["app", "clear-storage", "nope"], None,
                                         "does not exist"),
        "list of unknown tenant": (lambda w: ["app", "list", UNKNOWN_TENANT], None,
                                   "does not exist"),
        "unknown verb": (lambda w: ["app", "frobnicate"], None, "No such command"),
    },
    "user": {
        "bad email": (lambda w: ["user", "create-admin", "not-an-email"], PASSWORD,
                      "not a valid email address"),
        "weak password": (lambda w: ["user", "create-admin", "admin@example.com"], "short\n",
                          "at least 12 characters"),
        "existing account": (lambda w: ["user", "create-admin", w.owner_email], PASSWORD,
                             "already exists"),
        "missing email": (lambda w: ["user", "create-admin"], PASSWORD,
                          "Missing argument 'EMAIL'"),
    },
}  # fmt: skip


@pytest.mark.parametrize("noun", list(CASES))
def test_refused_verbs_print_one_error_line_and_change_nothing(
    noun: str,
    world: World,
    refused: Callable[..., str],
    subtests: pytest.Subtests,
) -> None:
    for name, (argv, stdin, fragment) in CASES[noun].items():
        for json_flag in ([], ["--json"]):
            with subtests.test(msg=f"{noun}: {name} {' '.join(json_flag)}".strip()):
                line = refused(*argv(world), *json_flag, input=stdin)
                assert fragment in line


def test_an_unknown_noun_is_one_error_line(world: World, refused: Callable[..., str]) -> None:
    assert "No such command 'frobnicate'" in refused("frobnicate")


def test_a_failure_after_a_flush_leaves_no_app_behind(
    world: World, refused: Callable[..., str], ok: Callable[..., object]
) -> None:
    """``app create --plan free`` inserts the app before the free-plan rule refuses it."""
    before = ok("app", "list", world.active)

    refused("app", "create", world.active, "late", "--region", "EU", "--plan", "free")

    assert ok("app", "list", world.active) == before
