"""The dashboard driven over real HTTP, as a browser sends its forms (CSRF token, nonce).

For tests against a running gunicorn: one :class:`Dashboard` is one signed-in browser session
(a ``requests.Session`` holding the cookie).

    owner = Dashboard(server.issuer)
    owner.sign_up("Acme", "owner@acme.example.com", PASSWORD)
    client_id, secret = owner.create_app("backend", region="EU")
"""

from __future__ import annotations

import html
import re
from typing import Any

import requests

# Forms render ``form.hidden_tag()``; the header's sign-out form writes its token by hand.
_CSRF = re.compile(r'<input [^>]*name="csrf_token"[^>]*value="([^"]+)"')
_ONCE = re.compile(r'<input id="once" name="once" type="hidden" value="([^"]+)">')
TIMEOUT = 15


def _field(pattern: re.Pattern[str], page: str, what: str) -> str:
    found = pattern.search(page)
    assert found is not None, f"no {what} on the page"
    return html.unescape(found.group(1))


def shown(page: str, element_id: str) -> str:
    """The text of ``<code id=…>`` (the secret page's client id and secret)."""
    found = re.search(rf'<code id="{element_id}"[^>]*>(.*?)</code>', page, re.S)
    assert found is not None, f"no #{element_id} on the page"
    return html.unescape(found.group(1))


class Dashboard:
    """One browser session on the dashboard at ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=TIMEOUT, allow_redirects=False)

    def submit(
        self, path: str, data: dict[str, Any], *, page: str | None = None
    ) -> requests.Response:
        """GET the page holding the form (default ``path``), then POST it with its tokens."""
        form_page = self.get(page or path)
        assert form_page.status_code == 200, (page or path, form_page.status_code)
        form = {"csrf_token": _field(_CSRF, form_page.text, "CSRF token"), **data}
        if "once" not in form and _ONCE.search(form_page.text):
            form["once"] = _field(_ONCE, form_page.text, "nonce")
        return self.http.post(
            self.base_url + path, data=form, timeout=TIMEOUT, allow_redirects=False
        )

    # --- what people do -------------------------------------------------------------------
    def sign_up(self, organization: str, email: str, password: str) -> None:
        res = self.submit(
            "/signup",
            {
                "organization": organization,
                "display_name": "Owner",
                "email": email,
                "password": password,
            },
        )
        assert res.status_code == 302, res.text

    def sign_in(self, email: str, password: str) -> None:
        res = self.submit("/login", {"email": email, "password": password})
        assert res.status_code == 302, res.text

    def create_app(self, name: str, *, region: str) -> tuple[str, str]:
        """Create an app; its (client_id, client_secret) from the page that shows it once."""
        res = self.submit(
            "/apps/new",
            {
                "name": name,
                "region": region,
                "domains": ["", "", ""],
                "redirect_uris": "",
                "post_logout_redirect_uris": "",
                "plan": "",
            },
        )
        assert res.status_code == 201, res.text
        return shown(res.text, "client-id"), shown(res.text, "client-secret")

    def regenerate_secret(self, client_id: str) -> str:
        path = f"/apps/{client_id}"
        res = self.submit(path + "/regenerate", {"confirm": "y"}, page=path)
        assert res.status_code == 200, res.text
        return shown(res.text, "client-secret")

    def set_enabled(self, client_id: str, enabled: bool) -> None:
        path = f"/apps/{client_id}"
        res = self.submit(path + ("/enable" if enabled else "/disable"), {}, page=path)
        assert res.status_code == 303, res.text

    def rotate_keys(self) -> None:
        """Host admin: make the next key current now (forced: it may be minutes old)."""
        res = self.submit("/admin/keys/rotate", {"confirm": "y", "force": "y"}, page="/admin/keys")
        assert res.status_code == 302, res.text

    def suspend_tenant(self, tenant_id: str) -> None:
        res = self.submit(f"/admin/tenants/{tenant_id}/suspend", {}, page="/admin/tenants")
        assert res.status_code == 302, res.text
