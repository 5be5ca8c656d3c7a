"""What the dashboard tests read from pages and from the database (SPEC §3 Dashboard)."""

from __future__ import annotations

import html
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from controlplane.extensions import db

# Flask-WTF's ``form.hidden_tag()``, as every dashboard form renders it.
_CSRF_INPUT = re.compile(r'<input id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)">')
_CSRF_ANYWHERE = re.compile(r'name="csrf_token"[^>]*value="[^"]*"')

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"


def csrf_token(client: FlaskClient, path: str) -> str:
    """GET the page that holds the form and return its CSRF token (from the session)."""
    res = client.get(path)
    assert res.status_code == 200, (path, res.status_code)
    found = _CSRF_INPUT.search(res.text)
    assert found is not None, f"no CSRF field on {path}"
    return html.unescape(found.group(1))


def submit(
    client: FlaskClient,
    path: str,
    data: dict[str, str],
    *,
    csrf: bool = True,
    page: str | None = None,
    **kwargs: Any,
) -> TestResponse:
    """Fill the form of ``page`` (default ``path``) and POST it, as a browser does.

    ``csrf=False`` still GETs the page first, so the session holds a token: the POST lacks
    only the form field, which is what a cross-site request looks like.
    """
    token = csrf_token(client, page or path)
    form = {**data, "csrf_token": token} if csrf else dict(data)
    return client.post(path, data=form, **kwargs)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    res = submit(client, "/login", {"email": email, "password": password})
    assert res.status_code == 302, res.text
    return res


def errors_beside(res: TestResponse, field: str) -> list[str]:
    """The error messages the page shows beside ``field`` (the ``<id>-help`` block)."""
    block = re.search(rf'<div id="{re.escape(field)}-help">(.*?)</div>', res.text, re.S)
    if block is None:
        return []
    return [html.unescape(m) for m in re.findall(r'<p class="error">(.*?)</p>', block.group(1))]


def all_errors(res: TestResponse) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="error">(.*?)</p>', res.text)]


def flashes(res: TestResponse) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', res.text)]


def without_csrf(text: str) -> str:
    """A page with its (per-request signed) CSRF tokens blanked, to compare two answers."""
    return _CSRF_ANYWHERE.sub('name="csrf_token" value=""', text)


def is_signed_in(client: FlaskClient) -> bool:
    """``/apps`` answers the page to a signed-in person and sends anyone else to sign in."""
    res = client.get("/apps")
    if res.status_code == 200:
        return True
    assert res.status_code == 302, res.status_code
    assert res.headers["Location"].startswith("/login"), res.headers["Location"]
    return False


def count_rows(*tables: str) -> dict[str, int]:
    """Rows per table, read on a connection of its own (not the test's session)."""
    by_name = db.metadata.tables
    with db.engine.connect() as conn:
        return {
            name: conn.scalar(select(func.count()).select_from(by_name[name])) or 0
            for name in tables
        }


def all_rows() -> dict[str, list[str]]:
    """Every row of every table, in a stable order: "nothing changed" beyond the counts."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in db.metadata.sorted_tables
        }


def set_cookie(res: TestResponse, name: str = "session") -> dict[str, str]:
    """The attributes of the ``Set-Cookie`` header for ``name``, lower-cased keys."""
    for header in res.headers.getlist("Set-Cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        if first.partition("=")[0] == name:
            parsed = {"": first}
            for attribute in attributes:
                key, _, value = attribute.partition("=")
                parsed[key.lower()] = value
            return parsed
    raise AssertionError(f"no Set-Cookie for {name}: {res.headers.getlist('Set-Cookie')}")


def add_member(tenant_id: str, email: str, role: str, password: str = PASSWORD) -> None:
    """A second person in an organization with ``role``, through the rules where they exist."""
    from controlplane.models import Membership
    from controlplane.rules import tenants, users

    session = db.session()
    user = users.create(session, email, password)
    tenant = tenants.get(session, tenant_id)
    session.add(Membership(tenant=tenant, user=user, role=role))
    session.commit()


_ANY_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def page_csrf_token(client: FlaskClient, path: str = "/apps") -> str:
    """The session's CSRF token from any form of a page (the sign-out form is on every one)."""
    res = client.get(path)
    assert res.status_code == 200, (path, res.status_code)
    found = _ANY_CSRF.search(res.text)
    assert found is not None, f"no CSRF token on {path}"
    return html.unescape(found.group(1))
