"""Wiring of ``/api/v1``: the flask-smorest Api, authentication and the error handlers."""

from __future__ import annotations

import http
import logging
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from controlplane.api import auth, resources, schemas
from controlplane.api.problems import PROBLEM_JSON, STATUS_FOR_KIND, flatten_messages, problem
from controlplane.extensions import db
from controlplane.rules import audit
from controlplane.rules.errors import RuleError

log = logging.getLogger(__name__)

KEYS_EXTENSION = "controlplane.api_keys"
SECURITY_SCHEME = "bearerAuth"


class ProblemApi(Api):
    """flask-smorest's Api, documenting errors as problem+json and handling none app-wide.

    Its stock handler takes every HTTPException of the whole app (the dashboard's 404 page
    would turn into JSON); ours are registered on the API's blueprints, and routing errors
    under /api/ are answered by the app-level handler in :mod:`controlplane.app`.
    """

    ERROR_SCHEMA = schemas.Problem

    def _register_error_handlers(self) -> None:
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {
            "description": "An error (RFC 9457 problem details)",
            "schema": self.ERROR_SCHEMA,
        }
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def init_app(app: Flask) -> None:
    settings = app.extensions["controlplane"].settings
    app.config.update(
        API_TITLE="controlplane admin API",
        API_VERSION="v1",
        # 3.1: JSON Schema 2020-12 (nullable as type lists), what schemathesis and current
        # generators read best.
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=resources.PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Host administration over the same rules as the CLI and the "
                "dashboard. Authenticate with an access token from /connect/token issued to "
                "an admin client (`controlplane admin-client create NAME`). Errors are RFC "
                "9457 problem details."
            },
            "security": [{SECURITY_SCHEME: []}],
        },
    )
    api = ProblemApi(app)
    api.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for blueprint in resources.BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.extensions[KEYS_EXTENSION] = auth.PublicKeys(
        engine_factory=lambda: db.engine, token_lifetime=settings.token_lifetime
    )
    # Bearer tokens, not cookies, authenticate here: CSRF protects browser forms only.
    from controlplane.admin import csrf

    for blueprint in resources.BLUEPRINTS:
        csrf.exempt(blueprint)


def authenticate() -> Response | None:
    """Before every API view: an admin Bearer token, or a 401/403 problem (RFC 6750 §3)."""
    settings = current_app.extensions["controlplane"].settings
    try:
        token = auth.bearer_token(request.headers.get("Authorization"))
        client_id = auth.verify(
            token,
            current_app.extensions[KEYS_EXTENSION],
            issuer=settings.issuer,
            tenant_audience=settings.token_audience,
        )
    except auth.BearerError as err:
        return problem(
            err.status,
            err.description,
            error=err.error or "invalid_token",
            headers={"WWW-Authenticate": err.challenge()},
        )
    g.api_client_id = client_id
    audit.set_actor(audit.Actor(f"admin-client:{client_id}", request.remote_addr))
    return None


def reset_actor(error: BaseException | None) -> None:
    """The actor lives in a context variable: leave none behind for the thread's next request."""
    audit.set_actor(audit.SYSTEM)


def rule_refused(error: RuleError) -> Response:
    db.session.rollback()
    status = STATUS_FOR_KIND.get(error.kind, 400)
    return problem(status, error.message, error=error.kind, field=error.field)


def http_error(error: HTTPException) -> Response:
    """Errors raised in API views: webargs' 422 (and 400 for bad JSON), aborts, and 500."""
    db.session.rollback()
    code = error.code or 500
    if code >= 500:
        # Flask logged the cause; the client learns nothing of it.
        return problem(500, "unexpected error, retry later")
    data = getattr(error, "data", None) or {}
    messages = flatten_messages(data.get("messages")) if "messages" in data else {}
    if messages:
        first = next(iter(messages))
        detail = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in messages.items())
        field = None if first == "_schema" else first
        return problem(code, detail, error="invalid", field=field, errors=messages)
    return problem(code, error.description or error.name)


def database_error(error: SQLAlchemyError) -> Response:
    db.session.rollback()
    if isinstance(error, IntegrityError):
        # A race lost against a concurrent change that the rule's own check did not see.
        return problem(409, "the change conflicts with a concurrent one; retry", error="conflict")
    log.warning("API request failed: database unavailable (%s)", type(error).__name__)
    return problem(503, "the database is unavailable, retry shortly", headers={"Retry-After": "5"})


# Registered once, at import: blueprints are module objects shared by every app built.
for _blueprint in resources.BLUEPRINTS:
    _blueprint.before_request(authenticate)
    _blueprint.teardown_request(reset_actor)
    _blueprint.register_error_handler(RuleError, rule_refused)
    _blueprint.register_error_handler(HTTPException, http_error)
    _blueprint.register_error_handler(SQLAlchemyError, database_error)
