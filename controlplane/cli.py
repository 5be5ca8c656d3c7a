"""The ``controlplane`` command line (SPEC §3 CLI): parse, call the rule, print the result.

Every verb exits 0 on success and 1 with one ``error: …`` line on stderr otherwise, having
committed nothing; ``--json`` prints exactly one JSON object or array on stdout.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import flask_migrate
import flask_migrate.cli
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import InvalidToken
from flask import Flask, g
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from controlplane import keys, serialize
from controlplane.app import create_app, state
from controlplane.config import ConfigError
from controlplane.extensions import db
from controlplane.rules import admin_clients, audit, outbox, plans, regions, tenants, users
from controlplane.rules import apps as app_rules
from controlplane.rules import usage as usage_rules
from controlplane.rules.errors import RuleError

F = TypeVar("F", bound=Callable[..., Any])


class ControlplaneGroup(FlaskGroup):
    """FlaskGroup whose failures are one stderr line, as SPEC §3 asks of every verb."""

    def __init__(self, **kwargs: Any) -> None:
        # The console script has no --app: build the app from CONTROLPLANE_* itself.
        kwargs.setdefault("create_app", create_app)
        super().__init__(load_dotenv=False, set_debug_flag=False, **kwargs)
        # Our `db` group (with --json) must win over Flask-Migrate's plugin of the same name.
        self._loaded_plugin_commands = True

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as err:
            # `controlplane app` alone: the group's help, as click shows it, not squeezed.
            err.show()
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except click.ClickException as err:
            click.echo(f"error: {_one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except ConfigError as err:
            click.echo(f"error: {_one_line(str(err))}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(message: str) -> str:
    return " ".join(message.split())


class Verbs(AppGroup):
    """A noun's verbs, each run as ``cli:<os user>``: the audit trail's actor (issue #6).

    Set here, around every verb, so ``controlplane …`` and ``flask --app controlplane …``
    both record who ran it.
    """

    def invoke(self, ctx: click.Context) -> Any:
        with audit.acting_as(audit.cli_actor()):
            return super().invoke(ctx)


cli = ControlplaneGroup(
    name="controlplane",
    help="Operate controlplane: regions, plans, tenants, apps, mail and the database.",
)


def main() -> None:
    """Console-script entry point: log lines (mail delivery, warnings) go to stderr."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("controlplane").setLevel(logging.INFO)
    cli.main(prog_name="controlplane")


@contextmanager
def rule_errors_exit() -> Iterator[None]:
    """A refused rule or a database failure: roll back, then one line on stderr, exit 1."""
    try:
        yield
    except RuleError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from None
    except InvalidToken:
        db.session.rollback()
        raise click.ClickException(
            "cannot decrypt stored data with CONTROLPLANE_ENCRYPTION_KEYS (or the key derived "
            "from CONTROLPLANE_SECRET_KEY): keep the old key in the list"
        ) from None
    except SQLAlchemyError as err:
        db.session.rollback()
        reason = getattr(err, "orig", None) or err
        raise click.ClickException(
            f"database error: {_one_line(str(reason)).split(' [SQL:')[0][:300]}"
        ) from None


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON value.")(fn)


def emit(as_json: bool, payload: Any, text: str) -> None:
    if as_json:
        click.echo(json.dumps(payload, sort_keys=False))
    else:
        click.echo(text)


def _default_limit() -> int:
    return state().settings.max_apps_per_tenant


# --- db ------------------------------------------------------------------------------------
@click.group("db", cls=Verbs)
@with_appcontext
def db_cli() -> None:
    """Database migrations (Alembic)."""
    # Flask-Migrate's own commands, reused below, read these from its group's options.
    g.directory = None
    g.x_arg = ()


@db_cli.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply every migration up to the newest."""
    with rule_errors_exit():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
    emit(as_json, {"revision": revision}, f"database at revision {revision}")


for _name in ("current", "history", "heads", "downgrade", "migrate", "revision", "check"):
    db_cli.add_command(flask_migrate.cli.db.commands[_name], _name)


# --- region --------------------------------------------------------------------------------
region_cli = Verbs("region", help="License regions and their databases.")


def _region_out(as_json: bool, code: str, verb: str) -> None:
    region = regions.get(db.session(), code)
    emit(as_json, serialize.region(region), f"region {region.code} {verb}")


@region_cli.command("create")
@click.argument("code")
@click.option("--name", required=True, help="Human name, e.g. 'Europe'.")
@json_option
def region_create(code: str, name: str, as_json: bool) -> None:
    """Create a license region (active, with no database yet)."""
    with rule_errors_exit():
        region = regions.create(db.session(), code, name)
        db.session.commit()
        _region_out(as_json, region.code, "created")


@region_cli.command("add-database")
@click.argument("region_code")
@click.argument("db_code")
@json_option
def region_add_database(region_code: str, db_code: str, as_json: bool) -> None:
    """Add an (active) database to a region."""
    with rule_errors_exit():
        database = regions.add_database(db.session(), region_code, db_code)
        db.session.commit()
        _region_out(as_json, database.region.code, f"has database {database.db_code}")


def _region_set_active(code: str, active: bool, as_json: bool) -> None:
    with rule_errors_exit():
        region = regions.set_active(db.session(), regions.get(db.session(), code), active)
        db.session.commit()
        _region_out(as_json, region.code, "activated" if active else "deactivated")


@region_cli.command("activate")
@click.argument("code")
@json_option
def region_activate(code: str, as_json: bool) -> None:
    """Let new apps be created in a region."""
    _region_set_active(code, True, as_json)


@region_cli.command("deactivate")
@click.argument("code")
@json_option
def region_deactivate(code: str, as_json: bool) -> None:
    """Stop new apps in a region; its existing apps keep getting tokens."""
    _region_set_active(code, False, as_json)


def _database_set_active(db_code: str, active: bool, as_json: bool) -> None:
    with rule_errors_exit():
        database = regions.get_database(db.session(), db_code)
        regions.set_database_active(db.session(), database, active)
        db.session.commit()
        _region_out(
            as_json,
            database.region.code,
            f"database {database.db_code} {'activated' if active else 'deactivated'}",
        )


@region_cli.command("activate-database")
@click.argument("db_code")
@json_option
def region_activate_database(db_code: str, as_json: bool) -> None:
    """Let new apps be placed on a database again."""
    _database_set_active(db_code, True, as_json)


@region_cli.command("deactivate-database")
@click.argument("db_code")
@json_option
def region_deactivate_database(db_code: str, as_json: bool) -> None:
    """Place no new apps on a database; apps already on it keep their db_code."""
    _database_set_active(db_code, False, as_json)


@region_cli.command("list")
@json_option
def region_list(as_json: bool) -> None:
    """List regions with their databases."""
    with rule_errors_exit():
        found = regions.list_all(db.session())
    lines = [
        f"{r.code}\t{'active' if r.active else 'inactive'}\t{r.name}\t"
        + ",".join(d.db_code + ("" if d.active else "(inactive)") for d in r.databases)
        for r in found
    ]
    emit(as_json, [serialize.region(r) for r in found], "\n".join(lines) or "no regions")


# --- plan ----------------------------------------------------------------------------------
plan_cli = Verbs("plan", help="Plans and their limits.")


@plan_cli.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--free", "is_free", is_flag=True, help="At most one app per tenant may hold it.")
@click.option("--document-units-per-month", type=click.IntRange(min=0), default=None)
@click.option("--max-api-requests-per-minute", type=click.IntRange(min=0), default=None)
@json_option
def plan_create(
    code: str,
    name: str,
    is_free: bool,
    document_units_per_month: int | None,
    max_api_requests_per_minute: int | None,
    as_json: bool,
) -> None:
    """Create a plan."""
    with rule_errors_exit():
        plan = plans.create(
            db.session(),
            code,
            name,
            is_free=is_free,
            document_units_per_month=document_units_per_month,
            max_api_requests_per_minute=max_api_requests_per_minute,
        )
        db.session.commit()
    emit(as_json, serialize.plan(plan), f"plan {plan.code} created")


@plan_cli.command("retire")
@click.argument("code")
@json_option
def plan_retire(code: str, as_json: bool) -> None:
    """Retire a plan: no new assignments; apps still on it are refused tokens."""
    with rule_errors_exit():
        plan = plans.retire(db.session(), plans.get(db.session(), code))
        db.session.commit()
    emit(as_json, serialize.plan(plan), f"plan {plan.code} retired")


@plan_cli.command("list")
@json_option
def plan_list(as_json: bool) -> None:
    """List plans."""
    with rule_errors_exit():
        found = plans.list_all(db.session())
    lines = [
        "\t".join(
            [p.code, p.name, "free" if p.is_free else "paid"] + (["retired"] if p.retired else [])
        )
        for p in found
    ]
    emit(as_json, [serialize.plan(p) for p in found], "\n".join(lines) or "no plans")


# --- tenant --------------------------------------------------------------------------------
tenant_cli = Verbs("tenant", help="Tenants (organizations).")


def _tenant_out(as_json: bool, tenant_id: Any, verb: str) -> None:
    tenant = tenants.get(db.session(), tenant_id)
    payload = serialize.tenant(tenant, default_app_limit=_default_limit())
    emit(as_json, payload, f"tenant {tenant.id} {verb} ({tenant.status})")


@tenant_cli.command("create")
@click.argument("name")
@click.option("--owner-email", required=True, help="The first owner; invited if new.")
@json_option
def tenant_create(name: str, owner_email: str, as_json: bool) -> None:
    """Register a tenant: pending activation, its owner, a welcome email."""
    with rule_errors_exit():
        tenant = tenants.register(
            db.session(), name, owner_email, platform_url=state().settings.platform_url
        )
        db.session.commit()
        _tenant_out(as_json, tenant.id, "created")


@tenant_cli.command("activate")
@click.argument("tenant_id")
@json_option
def tenant_activate(tenant_id: str, as_json: bool) -> None:
    """Activate a tenant; its owners get an activation email."""
    with rule_errors_exit():
        tenant = tenants.get(db.session(), tenant_id, for_update=True)
        tenants.activate(db.session(), tenant, platform_url=state().settings.platform_url)
        db.session.commit()
        _tenant_out(as_json, tenant.id, "activated")


@tenant_cli.command("suspend")
@click.argument("tenant_id")
@json_option
def tenant_suspend(tenant_id: str, as_json: bool) -> None:
    """Suspend a tenant: its apps stop getting tokens at once."""
    with rule_errors_exit():
        tenant = tenants.get(db.session(), tenant_id, for_update=True)
        tenants.suspend(db.session(), tenant)
        db.session.commit()
        _tenant_out(as_json, tenant.id, "suspended")


@tenant_cli.command("set-app-limit")
@click.argument("tenant_id")
@click.argument("limit", metavar="N", type=click.IntRange(min=0))
@json_option
def tenant_set_app_limit(tenant_id: str, limit: int, as_json: bool) -> None:
    """Override the tenant's app limit (CONTROLPLANE_MAX_APPS_PER_TENANT otherwise)."""
    with rule_errors_exit():
        tenant = tenants.get(db.session(), tenant_id, for_update=True)
        tenants.set_app_limit(db.session(), tenant, limit)
        db.session.commit()
        _tenant_out(as_json, tenant.id, f"app limit set to {limit}")


@tenant_cli.command("list")
@json_option
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    with rule_errors_exit():
        found = tenants.list_all(db.session())
        limit = _default_limit()
        payload = [serialize.tenant(t, default_app_limit=limit) for t in found]
    lines = [f"{t.id}\t{t.status}\t{t.name}" for t in found]
    emit(as_json, payload, "\n".join(lines) or "no tenants")


# --- app -----------------------------------------------------------------------------------
app_cli = Verbs("app", help="Apps: tenants' confidential clients.")


def _app_out(as_json: bool, client_id: str, text: str, *, secret: str | None = None) -> None:
    db.session.expire_all()
    app = app_rules.get(db.session(), client_id)
    emit(as_json, serialize.app(app, client_secret=secret), text)


@app_cli.command("create")
@click.argument("tenant_id")
@click.argument("name")
@click.option("--region", "region_code", required=True, help="License region code.")
@click.option("--db-code", default=None, help="One of the region's active databases.")
@click.option("--domain", "domains", multiple=True, help="Allowed domain (up to 3).")
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--plan", "plan_code", default=None, help="Plan code.")
@json_option
def app_create(
    tenant_id: str,
    name: str,
    region_code: str,
    db_code: str | None,
    domains: Sequence[str],
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str],
    plan_code: str | None,
    as_json: bool,
) -> None:
    """Create an app; its client secret is printed this once."""
    with rule_errors_exit():
        issued = app_rules.create(
            db.session(),
            tenants.get(db.session(), tenant_id),
            name,
            region_code=region_code,
            db_code=db_code,
            domains=domains,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            plan_code=plan_code,
            default_app_limit=_default_limit(),
        )
        db.session.commit()
        client_id = issued.app.client_id
        _app_out(
            as_json,
            client_id,
            f"client_id:     {client_id}\nclient_secret: {issued.client_secret}\n"
            "Store the secret now: it is not shown again.",
            secret=issued.client_secret,
        )


@app_cli.command("show")
@click.argument("client_id")
@json_option
def app_show(client_id: str, as_json: bool) -> None:
    """Show an app (never its secret)."""
    with rule_errors_exit():
        app = app_rules.get(db.session(), client_id)
        payload = serialize.app(app)
    refusal = app_rules.token_refusal(app)
    text = "\n".join(f"{k}: {v}" for k, v in payload.items()) + (
        f"\ntokens: refused ({refusal})" if refusal else "\ntokens: issued"
    )
    emit(as_json, payload, text)


@app_cli.command("list")
@click.argument("tenant_id")
@json_option
def app_list(tenant_id: str, as_json: bool) -> None:
    """List a tenant's apps."""
    with rule_errors_exit():
        found = app_rules.list_for_tenant(db.session(), tenants.get(db.session(), tenant_id))
        payload = [serialize.app(a) for a in found]
    lines = [f"{a.client_id}\t{'enabled' if a.enabled else 'disabled'}\t{a.name}" for a in found]
    emit(as_json, payload, "\n".join(lines) or "no apps")


@app_cli.command("regenerate-secret")
@click.argument("client_id")
@json_option
def app_regenerate_secret(client_id: str, as_json: bool) -> None:
    """Issue a new secret; the old one stops working at once."""
    with rule_errors_exit():
        issued = app_rules.regenerate_secret(db.session(), app_rules.get(db.session(), client_id))
        db.session.commit()
    emit(
        as_json,
        {"client_id": client_id, "client_secret": issued.client_secret},
        f"client_secret: {issued.client_secret}\nStore the secret now: it is not shown again.",
    )


def _set_enabled(client_id: str, enabled: bool, as_json: bool) -> None:
    with rule_errors_exit():
        app_rules.set_enabled(db.session(), app_rules.get(db.session(), client_id), enabled)
        db.session.commit()
        _app_out(as_json, client_id, f"app {client_id} {'enabled' if enabled else 'disabled'}")


@app_cli.command("enable")
@click.argument("client_id")
@json_option
def app_enable(client_id: str, as_json: bool) -> None:
    """Let an app get tokens again."""
    _set_enabled(client_id, True, as_json)


@app_cli.command("disable")
@click.argument("client_id")
@json_option
def app_disable(client_id: str, as_json: bool) -> None:
    """Refuse tokens to an app from its next request on."""
    _set_enabled(client_id, False, as_json)


@app_cli.command("set-domains")
@click.argument("client_id")
@click.option("--domain", "domains", multiple=True, help="Allowed domain (0 to 3); none clears.")
@json_option
def app_set_domains(client_id: str, domains: Sequence[str], as_json: bool) -> None:
    """Replace an app's allowed domains."""
    with rule_errors_exit():
        app = app_rules.set_domains(db.session(), app_rules.get(db.session(), client_id), domains)
        db.session.commit()
        text = ", ".join(app.allowed_domains) or "none"
        _app_out(as_json, client_id, f"app {client_id} allowed domains: {text}")


@app_cli.command("assign-plan")
@click.argument("client_id")
@click.argument("plan_code")
@json_option
def app_assign_plan(client_id: str, plan_code: str, as_json: bool) -> None:
    """Put an app on a plan (one free-plan app per tenant)."""
    with rule_errors_exit():
        app = app_rules.assign_plan(db.session(), app_rules.get(db.session(), client_id), plan_code)
        db.session.commit()
        plan_name = app.plan.code if app.plan else "none"
        _app_out(as_json, client_id, f"app {client_id} is on plan {plan_name}")


@app_cli.command("unassign-plan")
@click.argument("client_id")
@json_option
def app_unassign_plan(client_id: str, as_json: bool) -> None:
    """Take an app off its plan: tokens then carry no limits."""
    with rule_errors_exit():
        app_rules.unassign_plan(db.session(), app_rules.get(db.session(), client_id))
        db.session.commit()
        _app_out(as_json, client_id, f"app {client_id} has no plan")


@app_cli.command("set-storage")
@click.argument("client_id")
@click.option(
    "--provider", required=True, help="aws_s3, tigris, cloudflare_r2, minio, backblaze_b2"
)
@click.option("--access-key-id", required=True)
@click.option(
    "--secret-access-key",
    default=None,
    help="Read from the terminal or standard input when not given.",
)
@click.option("--bucket", required=True)
@click.option("--endpoint-url", default=None)
@click.option("--storage-region", "storage_region", default=None)
@json_option
def app_set_storage(
    client_id: str,
    provider: str,
    access_key_id: str,
    secret_access_key: str | None,
    bucket: str,
    endpoint_url: str | None,
    storage_region: str | None,
    as_json: bool,
) -> None:
    """Give an app its own object storage; the secret access key is stored encrypted."""
    if secret_access_key is None:
        secret_access_key = _secret_from_input("Secret access key")
    with rule_errors_exit():
        app_rules.set_storage(
            db.session(),
            app_rules.get(db.session(), client_id),
            state().encryptor,
            provider=provider,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            bucket=bucket,
            endpoint_url=endpoint_url,
            region=storage_region,
        )
        db.session.commit()
        _app_out(as_json, client_id, f"app {client_id} uses its own {provider} storage")


@app_cli.command("clear-storage")
@click.argument("client_id")
@json_option
def app_clear_storage(client_id: str, as_json: bool) -> None:
    """Back to the platform's managed storage."""
    with rule_errors_exit():
        app_rules.clear_storage(db.session(), app_rules.get(db.session(), client_id))
        db.session.commit()
        _app_out(as_json, client_id, f"app {client_id} uses managed storage")


@app_cli.command("usage")
@click.argument("client_id")
@click.option(
    "--days", type=click.IntRange(min=1, max=usage_rules.MAX_DAYS), default=30, show_default=True
)
@json_option
def app_usage(client_id: str, days: int, as_json: bool) -> None:
    """Tokens issued per UTC day, oldest first (servers add theirs every few seconds)."""
    with rule_errors_exit():
        app = app_rules.get(db.session(), client_id)
        found = usage_rules.daily(db.session(), app.id, days)
    payload = {
        "client_id": client_id,
        "days": [{"day": d.day.isoformat(), "tokens_issued": d.tokens} for d in found],
        "total": sum(d.tokens for d in found),
    }
    lines = [f"{d.day.isoformat()}\t{d.tokens}" for d in found]
    emit(as_json, payload, "\n".join([*lines, f"total\t{payload['total']}"]))


# --- mail ----------------------------------------------------------------------------------
mail_cli = Verbs("mail", help="The email outbox.")


@mail_cli.command("send")
@click.option("--watch", is_flag=True, help="Keep delivering as emails arrive, until stopped.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True)
@json_option
def mail_send(watch: bool, interval: float, as_json: bool) -> None:
    """Deliver pending emails over SMTP (or to the log when no SMTP is configured)."""
    from controlplane import mail

    with rule_errors_exit():
        if watch:
            report = mail.watch(db.session(), state().settings, interval=interval)
        else:
            report = mail.deliver_due(db.session(), state().settings)
        result: dict[str, Any] = {
            "sent": report.sent,
            "retrying": report.retrying,
            "failed": report.failed,
        }
        if watch:
            result["stopped"] = True
    emit(
        as_json,
        result,
        "mail watcher stopped"
        if watch
        else f"sent {result['sent']}, will retry {result['retrying']}, "
        f"gave up on {result['failed']}",
    )


@mail_cli.command("list")
@click.option(
    "--status", type=click.Choice(["pending", "sent", "failed"]), default=None, help="Filter."
)
@json_option
def mail_list(status: str | None, as_json: bool) -> None:
    """List outbox emails, newest first."""
    from controlplane import mail

    with rule_errors_exit():
        found = mail.list_emails(db.session(), status=status)
    lines = [f"{e.id}\t{e.status}\t{e.attempts}\t{e.to_address}\t{e.subject}" for e in found]
    emit(as_json, [serialize.email(e) for e in found], "\n".join(lines) or "no emails")


@mail_cli.command("retry")
@click.argument("email_id", type=int)
@json_option
def mail_retry(email_id: int, as_json: bool) -> None:
    """Queue a failed email again, due now."""
    with rule_errors_exit():
        email = outbox.retry(db.session(), email_id)
        db.session.commit()
    emit(as_json, serialize.email(email), f"email {email_id} is {email.status}")


# --- user ----------------------------------------------------------------------------------
def _secret_from_input(prompt: str, *, confirm: bool = False) -> str:
    """A secret typed at the terminal (hidden), or the first line of piped standard input.

    Piped input is read directly: getpass would read the controlling terminal instead and
    warn; prompts go to stderr so that ``--json`` output stays alone on stdout.
    """
    # sys.stdin, not click.get_text_stream (deprecated in click 8.5: an error under the tests).
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(
        prompt,
        hide_input=True,
        confirmation_prompt=confirm,
        default="",
        show_default=False,
        err=True,
    )
    return value


user_cli = Verbs("user", help="Dashboard accounts.")


@user_cli.command("create-admin")
@click.argument("email")
@json_option
def user_create_admin(email: str, as_json: bool) -> None:
    """Create a host administrator.

    The password is the first line of standard input when it is piped; at a terminal it is
    asked for; with nothing given one is generated and printed once.
    """
    generated = False
    password = _secret_from_input("Password (empty: generate one)", confirm=True)
    if not password:
        password, generated = users.generate_password(), True
    with rule_errors_exit():
        user = users.create_host_admin(db.session(), email, password)
        db.session.commit()
    payload: dict[str, Any] = {"id": str(user.id), "email": user.email, "is_host_admin": True}
    text = f"host admin {user.email} created"
    if generated:
        payload["password"] = password
        text += f"\npassword: {password}\nStore it now: it is not shown again."
    emit(as_json, payload, text)


# --- keys ----------------------------------------------------------------------------------
keys_cli = Verbs("keys", help="Token signing keys.")


@keys_cli.command("rotate")
@click.option(
    "--force",
    is_flag=True,
    help=f"Rotate even if the next key was published less than {keys.MIN_NEXT_KEY_AGE} s ago.",
)
@json_option
def keys_rotate(force: bool, as_json: bool) -> None:
    """Make the next key current on every instance, retire the current, publish a new next."""
    settings = state().settings
    with rule_errors_exit():
        rotation = keys.rotate(db.session(), settings.signing_alg, state().encryptor, force=force)
        db.session.commit()
    payload = {
        "rotated": rotation.rotated,
        "current": serialize.signing_key(rotation.current, published=True),
        "next": serialize.signing_key(rotation.next, published=True),
    }
    if rotation.rotated:
        text = f"current key {rotation.current.kid}, next key {rotation.next.kid}"
    else:
        text = (
            f"published a next key for {settings.signing_alg} ({rotation.next.kid}); "
            f"rotate again in {keys.MIN_NEXT_KEY_AGE} s to sign with it"
        )
    emit(as_json, payload, text)


@keys_cli.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List signing keys, newest first, and whether the JWKS publishes them."""
    settings = state().settings
    with rule_errors_exit():
        published = {
            k.kid for k in keys.published(db.session(), token_lifetime=settings.token_lifetime)
        }
        found = keys.list_all(db.session())
    payload = [serialize.signing_key(k, published=k.kid in published) for k in found]
    lines = [
        f"{k.kid}\t{k.alg}\t{k.state}{'' if k.kid in published else ' (unpublished)'}"
        for k in found
    ]
    emit(as_json, payload, "\n".join(lines) or "no signing keys yet: created on first use")


@click.command("reencrypt")
@with_appcontext
@json_option
def reencrypt(as_json: bool) -> None:
    """Re-encrypt data at rest with the first CONTROLPLANE_ENCRYPTION_KEYS key.

    Run after putting a new key first in the list; afterwards the old keys can be removed.
    """
    encryptor = state().encryptor
    with rule_errors_exit(), audit.acting_as(audit.cli_actor()):
        storage = app_rules.reencrypt_storage_secrets(db.session(), encryptor)
        signing = keys.reencrypt(db.session(), encryptor)
        db.session.commit()
    emit(
        as_json,
        {"storage_secrets": storage, "signing_keys": signing},
        f"re-encrypted {storage} storage secrets and {signing} signing keys",
    )


# --- audit ---------------------------------------------------------------------------------
audit_cli = Verbs("audit", help="The audit trail: who changed what, when, from where.")


@audit_cli.command("list")
@click.option("--tenant", "tenant_id", default=None, help="Only this tenant's events.")
@click.option("--target-type", default=None, help="Only events on this kind of object.")
@click.option("--target-id", default=None, help="Only events on this object (with its type).")
@click.option(
    "--before",
    "before_id",
    type=click.IntRange(min=1),
    default=None,
    help="Events older than this id (the next page).",
)
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=50, show_default=True)
@json_option
def audit_list(
    tenant_id: str | None,
    target_type: str | None,
    target_id: str | None,
    before_id: int | None,
    limit: int,
    as_json: bool,
) -> None:
    """List audit events, newest first."""
    with rule_errors_exit():
        tenant_key = tenants.get(db.session(), tenant_id).id if tenant_id else None
        found = audit.recent(
            db.session(),
            tenant_id=tenant_key,
            target_type=target_type,
            target_id=target_id,
            before_id=before_id,
            limit=limit,
        )
    lines = [
        f"{e.id}\t{serialize.audit_event(e)['at']}\t{e.actor}\t{e.address or '-'}\t{e.action}"
        f"\t{e.target_type}:{e.target_id}\t{json.dumps(e.details, sort_keys=True)}"
        for e in found
    ]
    emit(as_json, [serialize.audit_event(e) for e in found], "\n".join(lines) or "no events")


# --- admin-client --------------------------------------------------------------------------
admin_client_cli = Verbs("admin-client", help="Admin API clients (/api/v1).")


@admin_client_cli.command("create")
@click.argument("name")
@json_option
def admin_client_create(name: str, as_json: bool) -> None:
    """Create an admin API client; its client secret is printed this once."""
    with rule_errors_exit():
        issued = admin_clients.create(db.session(), name)
        db.session.commit()
    client_id = issued.client.client_id
    emit(
        as_json,
        {"client_id": client_id, "client_secret": issued.client_secret},
        f"client_id:     {client_id}\nclient_secret: {issued.client_secret}\n"
        "Store the secret now: it is not shown again.",
    )


@admin_client_cli.command("list")
@json_option
def admin_client_list(as_json: bool) -> None:
    """List admin API clients (never their secrets)."""
    with rule_errors_exit():
        found = admin_clients.list_all(db.session())
        payload = [serialize.admin_client(c) for c in found]
    lines = [f"{c.client_id}\t{'enabled' if c.enabled else 'disabled'}\t{c.name}" for c in found]
    emit(as_json, payload, "\n".join(lines) or "no admin clients")


def _admin_client_set_enabled(client_id: str, enabled: bool, as_json: bool) -> None:
    with rule_errors_exit():
        client = admin_clients.set_enabled(
            db.session(), admin_clients.get(db.session(), client_id), enabled
        )
        db.session.commit()
        payload = serialize.admin_client(client)
    emit(as_json, payload, f"admin client {client_id} {'enabled' if enabled else 'disabled'}")


@admin_client_cli.command("enable")
@click.argument("client_id")
@json_option
def admin_client_enable(client_id: str, as_json: bool) -> None:
    """Let an admin client get tokens again."""
    _admin_client_set_enabled(client_id, True, as_json)


@admin_client_cli.command("disable")
@click.argument("client_id")
@json_option
def admin_client_disable(client_id: str, as_json: bool) -> None:
    """Refuse new tokens to an admin client (tokens already issued expire on their own)."""
    _admin_client_set_enabled(client_id, False, as_json)


@admin_client_cli.command("regenerate-secret")
@click.argument("client_id")
@json_option
def admin_client_regenerate_secret(client_id: str, as_json: bool) -> None:
    """Issue a new secret; the old one stops working at once."""
    with rule_errors_exit():
        issued = admin_clients.regenerate_secret(
            db.session(), admin_clients.get(db.session(), client_id)
        )
        db.session.commit()
    emit(
        as_json,
        {"client_id": client_id, "client_secret": issued.client_secret},
        f"client_secret: {issued.client_secret}\nStore the secret now: it is not shown again.",
    )


# --- bench ---------------------------------------------------------------------------------
bench_cli = Verbs("bench", help="Load-test data (never on a production database).")


@bench_cli.command("seed")
@click.option("--apps", "count", type=click.IntRange(min=1), required=True)
@json_option
def bench_seed(count: int, as_json: bool) -> None:
    """Bulk-create N apps (ten per active tenant, region BENCH); print one's credentials."""
    from controlplane import seed

    with rule_errors_exit():
        seeded = seed.seed_apps(db.session(), count)
        db.session.commit()
    emit(
        as_json,
        {"client_id": seeded.client_id, "client_secret": seeded.client_secret},
        f"seeded {seeded.apps} apps; one of them:\n"
        f"client_id:     {seeded.client_id}\nclient_secret: {seeded.client_secret}",
    )


GROUPS = (
    db_cli,
    region_cli,
    plan_cli,
    tenant_cli,
    app_cli,
    mail_cli,
    user_cli,
    keys_cli,
    audit_cli,
    bench_cli,
    admin_client_cli,
)


def register_commands(app: Flask) -> None:
    for group in GROUPS:
        app.cli.add_command(group)
    app.cli.add_command(reencrypt)
