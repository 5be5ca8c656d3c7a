"""The application factory: settings, extensions, blueprints and CLI in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from controlplane.config import Settings
from controlplane.crypto import Encryptor
from controlplane.extensions import db, migrate

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


@dataclass(frozen=True)
class State:
    """Per-app objects built once from the settings."""

    settings: Settings
    encryptor: Encryptor


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app from ``CONTROLPLANE_*`` variables, ``overrides`` taking precedence.

    Overrides use the variables' own names so that tests go through the same parsing and
    validation as a deployment.
    """
    environ = dict(os.environ)
    environ.update(overrides or {})
    instance = (environ.get("CONTROLPLANE_INSTANCE_PATH") or "").strip()
    # Flask insists on an absolute instance path; a relative one is taken from the cwd.
    app = Flask("controlplane", instance_path=os.path.abspath(instance) if instance else None)
    settings = Settings.from_env(environ, instance_path=app.instance_path)
    os.makedirs(settings.instance_path, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        JSON_SORT_KEYS=False,
    )
    app.extensions["controlplane"] = State(settings, Encryptor(settings.encryption_keys))

    import controlplane.models  # noqa: F401  registers every table on the metadata

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)

    if settings.proxy_hops:
        # Behind a load balancer: the client address (rate limits, audit) and scheme come
        # from the X-Forwarded-* headers of that many trusted proxies, and from no one else.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)  # type: ignore[method-assign]

    # Operations (#6): the request log's hooks first, so its timer starts before the others;
    # /metrics in every part; failed-authentication counters for the token endpoint.
    from controlplane import health, metrics, ratelimit, requestlog, usage

    usage.init_app(app)  # tokens issued per app per day, counted in memory, flushed in batches

    requestlog.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    ratelimit.init_app(app, on_storage_error=metrics.record_ratelimit_storage_error)

    # CONTROLPLANE_SERVE: each part registers its routes only where it is served; the signer
    # and the token server exist everywhere (/readyz and the dashboard read the keys).
    from controlplane.oauth import views as oauth_views

    oauth_views.init_app(app, serve="token" in settings.serve)

    from controlplane import admin

    admin.init_app(app, serve="dashboard" in settings.serve)
    # The token endpoint authenticates clients itself; CSRF protects browser forms only.
    admin.csrf.exempt(oauth_views.bp)

    from controlplane import api

    api.init_app(app, serve="api" in settings.serve)
    _json_errors_for_machine_paths(app)

    from controlplane.cli import register_commands

    register_commands(app)
    return app


MACHINE_PATHS = ("/connect/", "/.well-known/", "/api/")


def _json_errors_for_machine_paths(app: Flask) -> None:
    """Routing 404/405 under machine paths answer JSON, not Flask's HTML page.

    Blueprint error handlers never see routing errors, so this is app-level (as canaille found).
    """

    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(500)
    def machine_error(error: HTTPException) -> ResponseReturnValue:
        if not request.path.startswith(MACHINE_PATHS):
            return error
        code = error.code or 500
        if request.path.startswith("/api/"):
            return _api_problem(error, code)
        if code == 500:
            # Unexpected: the cause is logged by Flask; the client gets the protocol's shape
            # with no exception text.
            response = jsonify(
                error="server_error", error_description="unexpected error, retry later"
            )
            response.status_code = 500
            response.headers["Cache-Control"] = "no-store"
            return response
        if request.path.startswith("/connect/"):
            # RFC 6749 §5.2 shape on the OAuth endpoints.
            body = {
                "error": "invalid_request",
                "error_description": "use POST" if code == 405 else "no such endpoint",
            }
        else:
            body = {
                "error": "not_found" if code == 404 else "method_not_allowed",
                "error_description": error.name.lower(),
            }
        response = jsonify(body)
        response.status_code = code
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        valid = getattr(error, "valid_methods", None)
        if code == 405 and valid:
            response.headers["Allow"] = ", ".join(m for m in valid if m != "OPTIONS")
        return response


def _api_problem(error: HTTPException, code: int) -> ResponseReturnValue:
    """The admin API's one error shape (RFC 9457) for routing errors too."""
    from controlplane.api.problems import problem

    if code >= 500:
        return problem(500, "unexpected error, retry later")
    valid = getattr(error, "valid_methods", None)
    allow = ", ".join(m for m in valid or () if m != "OPTIONS")
    return problem(
        code,
        "no such endpoint" if code == 404 else (error.description or error.name),
        headers={"Allow": allow} if code == 405 and allow else None,
    )


def _engine_options(url: str) -> dict[str, Any]:
    # hide_parameters: a database error's text (logged with its traceback) never carries a
    # statement's values, which may be credentials or personal data (SPEC §3).
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # pre_ping: a connection broken by a database restart is replaced, not handed out.
    # Timeouts: a hung database answers 503 within seconds instead of holding every worker
    # until gunicorn kills it.
    return {
        "hide_parameters": True,
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 5,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 3, "options": "-c statement_timeout=15000"},
    }


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Foreign keys on, and WAL so readers (the token path) never wait for a writer."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def state() -> State:
    """The running app's settings and encryptor."""
    value: State = current_app.extensions["controlplane"]
    return value


def settings() -> Settings:
    return state().settings
