"""The admin API ``/api/v1`` (SPEC §3 Admin API): JSON over the rules, OpenAPI from the code.

flask-smorest builds the OpenAPI 3.1 document from the marshmallow schemas the views parse and
answer with (``/api/v1/openapi.json``), so the document cannot drift from the code. Every route
but the document needs an admin Bearer token (:mod:`controlplane.api.auth`); every error is an
RFC 9457 problem (:mod:`controlplane.api.problems`).

Framework imports happen in :func:`init_app`: a process that does not serve the API (for
example a token host, ``CONTROLPLANE_SERVE=token``) never loads them.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask, *, serve: bool = True) -> None:
    if not serve:
        return
    from controlplane.api import views

    views.init_app(app)
