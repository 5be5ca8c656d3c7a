"""Liveness and readiness probes (SPEC §3 Operations)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
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
    """Ready to serve: the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        db.session.rollback()
        log.warning("readiness check failed: database unreachable (%s)", type(err).__name__)
        return jsonify(status="unavailable", checks={"database": "unreachable"}), 503
    return jsonify(status="ok", checks={"database": "ok"})
