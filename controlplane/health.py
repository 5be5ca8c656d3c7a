"""Liveness and readiness probes (SPEC §3 Operations)."""

from __future__ import annotations

import logging

from cryptography.fernet import InvalidToken
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from controlplane.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up; says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to serve (SPEC §3): the database answers and a current signing key exists.

    The key set is created here on a fresh database (keys are created on first use), so a new
    deployment becomes ready without waiting for its first token request.
    """
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        db.session.rollback()
        log.warning("readiness check failed: database unreachable (%s)", type(err).__name__)
        return jsonify(status="unavailable", checks={"database": "unreachable"}), 503
    try:
        signer = current_app.extensions["controlplane.signer"]
        signer.ensure()
        signer.active()  # the current key opens with the configured encryption keys
    except (SQLAlchemyError, RuntimeError, InvalidToken) as err:
        db.session.rollback()
        log.warning("readiness check failed: no signing key (%s)", type(err).__name__)
        return jsonify(
            status="unavailable", checks={"database": "ok", "signing_key": "missing"}
        ), 503
    return jsonify(status="ok", checks={"database": "ok", "signing_key": "ok"})
